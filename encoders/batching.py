"""Batching: dedupe, sort by length, chunk by a token budget, restore order; off the event loop.

The pure planning steps (``dedupe``, ``plan_chunks``, ``restore_order``) are what every encoder
uses around its forward pass::

    unique, inverse = dedupe(texts)                  # each distinct text once
    lengths = [len(ids) for ids in tokenize(unique)]
    out = np.empty((len(unique), dim), np.float32)
    for chunk in plan_chunks(lengths, token_budget=..., max_batch_size=...):
        out[chunk] = forward(chunk)                  # one padded batch per chunk
    return restore_order(out, inverse)               # the caller's order, duplicates filled

``AsyncEncoder`` runs a blocking ``TextEncoder`` in one worker thread behind a bounded
``asyncio.Queue`` so a faust agent keeps heartbeating while a forward pass runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import numpy as np
import numpy.typing as npt

from encoders.errors import EncoderClosedError, EncoderConfigError
from encoders.protocol import TextEncoder, Vectors

__all__ = ["AsyncEncoder", "Chunk", "dedupe", "plan_chunks", "restore_order"]

Chunk = npt.NDArray[np.intp]
"""Indices into the deduplicated texts, longest first; one forward pass."""


def dedupe(texts: Sequence[str]) -> tuple[list[str], npt.NDArray[np.intp]]:
    """Distinct texts in first-seen order, and ``inverse`` with ``texts[i] == unique[inverse[i]]``.

    >>> dedupe(["b", "a", "b"])
    (['b', 'a'], array([0, 1, 0]))
    """
    index: dict[str, int] = {}
    inverse = np.fromiter(
        (index.setdefault(t, len(index)) for t in texts), dtype=np.intp, count=len(texts)
    )
    return list(index), inverse


def plan_chunks(
    lengths: Sequence[int],
    *,
    token_budget: int,
    max_batch_size: int,
    min_fill: float = 0.5,
) -> list[Chunk]:
    """Split ``range(len(lengths))`` into forward passes, longest texts first.

    Each chunk holds at most ``max_batch_size`` indices and, padded to its longest text, at most
    ``token_budget`` tokens (``len(chunk) * max(lengths[chunk]) <= token_budget``); a text longer
    than the whole budget gets a chunk of its own. A text shorter than ``min_fill`` × the
    chunk's longest starts a new chunk, so padding never more than doubles (at the default
    0.5) the cost of a text; ``min_fill=0`` packs purely by budget. Every index appears in
    exactly one chunk. Longest first means the largest activation is met on the first pass
    (an out-of-memory shows up at once) and texts of similar length share a batch.

    >>> [c.tolist() for c in plan_chunks([3, 10, 4, 9], token_budget=20, max_batch_size=8)]
    [[1, 3], [2, 0]]
    >>> [c.tolist() for c in plan_chunks([3, 10, 4], token_budget=99, max_batch_size=8)]
    [[1], [2, 0]]
    """
    if token_budget < 1 or max_batch_size < 1 or not 0.0 <= min_fill <= 1.0:
        raise EncoderConfigError(
            f"need token_budget, max_batch_size >= 1 and 0 <= min_fill <= 1, "
            f"got {token_budget}, {max_batch_size}, {min_fill}"
        )
    sizes = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sizes, kind="stable").astype(np.intp)
    ordered = sizes[order]
    chunks: list[Chunk] = []
    start, n = 0, len(order)
    while start < n:
        longest = max(1, int(ordered[start]))
        size = max(1, min(max_batch_size, token_budget // longest, n - start))
        # ordered is descending: count the leading texts still >= min_fill * longest
        floor = min_fill * int(ordered[start])
        size = max(1, int(np.count_nonzero(ordered[start : start + size] >= floor)))
        chunks.append(order[start : start + size])
        start += size
    return chunks


def restore_order(unique_vectors: Vectors, inverse: npt.NDArray[np.intp]) -> Vectors:
    """Rows of ``unique_vectors`` in the caller's order (a C-contiguous float32 copy)."""
    return np.ascontiguousarray(unique_vectors[inverse], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class _Request:
    texts: tuple[str, ...]
    future: asyncio.Future[Vectors]


def _settle(future: asyncio.Future[Vectors], result: Vectors | BaseException) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class AsyncEncoder:
    """An asyncio face on a blocking ``TextEncoder``.

    * ``await encode(texts)`` returns what ``encoder.encode(texts)`` would, computed in one
      worker thread; the event loop stays free meanwhile.
    * At most ``max_pending`` requests wait in the queue; further callers wait in ``encode``
      (backpressure) instead of piling work up.
    * Requests waiting together are coalesced into one ``encode`` call of up to
      ``max_coalesce`` texts (more dedupe, fuller batches); if that call fails, each request is
      retried alone so an error reaches only the request that causes it.
    * Encoder errors propagate unchanged; a cancelled caller's work is still done but dropped.
    * ``aclose()`` serves what is already queued, then stops; ``encode`` afterwards raises
      ``EncoderClosedError``. Use ``async with AsyncEncoder(...) as enc``.
    """

    def __init__(
        self, encoder: TextEncoder, *, max_pending: int = 64, max_coalesce: int = 1024
    ) -> None:
        if max_pending < 1 or max_coalesce < 1:
            raise EncoderConfigError("max_pending and max_coalesce must be >= 1")
        self._encoder = encoder
        self._max_pending = max_pending
        self._max_coalesce = max_coalesce
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="text-encoder")
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def dim(self) -> int:
        """The wrapped encoder's vector dimension."""
        return self._encoder.dim

    @property
    def model_id(self) -> str:
        """The wrapped encoder's model id."""
        return self._encoder.model_id

    async def encode(self, texts: Sequence[str]) -> Vectors:
        """Vectors for ``texts`` in order, computed off the event loop."""
        if self._closed:
            raise EncoderClosedError("AsyncEncoder is closed")
        if not texts:
            return np.zeros((0, self._encoder.dim), dtype=np.float32)
        queue = self._start()
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        await queue.put(_Request(tuple(texts), future))
        return await future

    async def aclose(self) -> None:
        """Serve the queued requests, stop the dispatcher and release the worker thread."""
        if self._closed:
            return
        self._closed = True
        if self._queue is not None and self._task is not None:
            await self._queue.put(None)
            await self._task
        self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _start(self) -> asyncio.Queue[_Request | None]:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self._max_pending)
            self._task = asyncio.get_running_loop().create_task(
                self._dispatch(self._queue), name="text-encoder-dispatch"
            )
        return self._queue

    async def _dispatch(self, queue: asyncio.Queue[_Request | None]) -> None:
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                return
            batch, total = [first], len(first.texts)
            while total < self._max_coalesce and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                total += len(nxt.texts)
            live = [r for r in batch if not r.future.done()]
            if live:
                await self._serve(live)

    async def _serve(self, requests: list[_Request]) -> None:
        texts = [t for r in requests for t in r.texts]
        loop = asyncio.get_running_loop()
        try:
            vectors = await loop.run_in_executor(self._executor, self._encoder.encode, texts)
        except Exception as exc:
            if len(requests) == 1:
                _settle(requests[0].future, exc)
                return
            for request in requests:
                await self._serve([request])
            return
        offset = 0
        for request in requests:
            n = len(request.texts)
            _settle(request.future, np.ascontiguousarray(vectors[offset : offset + n]))
            offset += n
