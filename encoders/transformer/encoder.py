"""``TransformerEncoder``: tokenize → plan → forward → pool, with OOM and device-failure handling.

Per ``encode`` call: distinct texts are tokenized once (with ``prefetch``, in *spans*, the
next tokenized in a background thread while the current one runs), each span is split by
``plan_chunks`` (longest first, token budget, batch cap), every chunk is padded to its own
longest text, run and pooled; vectors go back to the caller's order.

``prefetch`` is off by default, also on CUDA: on an H200 with 16 cores (``bench/encoder.py``,
2026-12-04, 65k texts of ~128 tokens, in steady state) one call tokenized whole gave 21.3k-23.0k
texts/s, prefetch 17.6k-20.3k in six pairs. The Rust tokenizer already uses every core, and
the ids it hands back are Python lists built under the GIL, which the GPU loop needs too.

Failures, per chunk:

* out of memory with more than one text → the batch limits are halved for good (logged,
  ``oom_retries`` counted) and the rest of the span is re-planned under them;
* anything else on CUDA, or out of memory with a single text → the GPU is deemed unusable:
  with ``fallback_to_cpu`` the model is reloaded on CPU (float32), the span is redone there,
  an error is logged once and ``device_fallbacks`` counted; without it, ``EncodeError``;
* anything else on CPU → ``EncodeError`` (wrapping the cause).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NoReturn

import numpy as np
import torch

from encoders.batching import Chunk, dedupe, plan_chunks, restore_order
from encoders.errors import EncodeError, EncoderClosedError
from encoders.metrics import EncoderMetrics
from encoders.protocol import Vectors
from encoders.transformer.device import BatchLimits, default_limits, is_out_of_memory
from encoders.transformer.forward import Forward
from encoders.transformer.pooling import Pooler
from encoders.transformer.tokens import Tokenizer

__all__ = ["TransformerEncoder"]

logger = logging.getLogger(__name__)

_SPAN_BATCHES = 4  # with prefetch, a span is this many full batches of texts


class _DeviceUnusableError(Exception):
    """Internal: the current (CUDA) device failed; fall back or give up."""


class TransformerEncoder:
    """A ``TextEncoder`` over a Hugging Face transformer. Thread-safe (calls are serialised)."""

    def __init__(
        self,
        *,
        tokenizer: Tokenizer,
        forward: Forward,
        pooler: Pooler,
        model_id: str,
        max_batch_size: int | None = None,
        token_budget: int | None = None,
        fallback_to_cpu: bool = True,
        prefetch: bool = False,
        metrics: EncoderMetrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._tokenizer = tokenizer
        self._forward = forward
        self._pooler = pooler
        self._model_id = model_id
        self._dim = pooler.output_dim(forward.hidden_size)
        self._explicit = (max_batch_size, token_budget)
        self._limits = default_limits(forward.device, max_batch_size, token_budget)
        self._fallback_to_cpu = fallback_to_cpu
        self._prefetch = prefetch
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def dim(self) -> int:
        """Vector dimension (hidden size × pooling modes)."""
        return self._dim

    @property
    def model_id(self) -> str:
        """Model name, weights digest and output-affecting options."""
        return self._model_id

    @property
    def device(self) -> torch.device:
        """The device encoding runs on now (changes once, on a CPU fallback)."""
        return self._forward.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype encoding runs in now."""
        return self._forward.dtype

    @property
    def max_seq_length(self) -> int:
        """Tokens per text the model sees (longer texts are truncated)."""
        return self._tokenizer.max_length

    @property
    def limits(self) -> BatchLimits:
        """The batch limits in force (halved after out-of-memory errors)."""
        return self._limits

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit float32 vectors for ``texts``, in order (the ``TextEncoder`` contract)."""
        with self._lock:
            if self._closed:
                raise EncoderClosedError(f"encoder {self._model_id!r} is closed")
            unique, inverse = dedupe(texts)
            out = np.empty((len(unique), self._dim), dtype=np.float32)
            for start, ids in self._spans(unique):
                out[start : start + len(ids)] = self._encode_ids(ids)
            return restore_order(out, inverse)

    def close(self) -> None:
        """Stop the tokenizer thread (idempotent); ``encode`` afterwards raises."""
        with self._lock:
            self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _spans(self, unique: list[str]) -> Iterator[tuple[int, list[list[int]]]]:
        """Token ids of consecutive slices of ``unique``; the next is tokenized ahead."""
        size = self._limits.max_batch_size * _SPAN_BATCHES if self._prefetch else len(unique)
        starts = list(range(0, len(unique), max(1, size)))
        if not self._prefetch or len(starts) < 2:
            for start in starts:
                yield start, self._tokenizer.encode(unique[start : start + size])
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize")
        executor = self._executor
        ahead: Future[list[list[int]]] = executor.submit(self._tokenizer.encode, unique[:size])
        for k, start in enumerate(starts):
            ids = ahead.result()
            if k + 1 < len(starts):
                nxt = starts[k + 1]
                ahead = executor.submit(self._tokenizer.encode, unique[nxt : nxt + size])
            yield start, ids

    def _encode_ids(self, ids: list[list[int]]) -> Vectors:
        try:
            return self._run(self._forward, ids)
        except _DeviceUnusableError as failure:
            cause = failure.__cause__ or failure
            self._fall_back(cause)
        return self._run(self._forward, ids)

    def _run(self, forward: Forward, ids: list[list[int]]) -> Vectors:
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        pending = deque(self._plan(lengths, np.arange(len(ids), dtype=np.intp)))
        done: list[tuple[Chunk, torch.Tensor, int, float]] = []
        started = self._clock()
        while pending:
            chunk = pending.popleft()
            t0 = self._clock()
            batch = self._tokenizer.pad([ids[i] for i in chunk])
            try:
                tokens, mask = forward(batch)
                vectors = self._pooler(tokens, mask)
            except Exception as exc:
                if not (is_out_of_memory(exc) and len(chunk) > 1):
                    self._fail(forward, exc)
                oom = f"{type(exc).__name__}: {exc}"
            else:
                del tokens, mask
                done.append((chunk, vectors, batch.padded_tokens, self._clock() - t0))
                continue
            # Out of memory, handled outside ``except``: the traceback, and the activations its
            # frames hold, are released before the allocator's cache is emptied.
            self._shrink(len(chunk), batch.padded_tokens, batch.input_ids.shape[1], oom)
            forward.release_memory()
            rest = np.concatenate([chunk, *pending])
            pending = deque(self._plan(lengths[rest], rest))
        return self._gather(forward, done, len(ids), started)

    def _plan(
        self, lengths: np.ndarray[tuple[int], np.dtype[np.int64]], index: Chunk
    ) -> list[Chunk]:
        limits = self._limits
        chunks = plan_chunks(
            lengths.tolist(),
            token_budget=limits.token_budget,
            max_batch_size=limits.max_batch_size,
        )
        return [index[c] for c in chunks]

    def _gather(
        self,
        forward: Forward,
        done: list[tuple[Chunk, torch.Tensor, int, float]],
        n: int,
        started: float,
    ) -> Vectors:
        out = np.empty((n, self._dim), dtype=np.float32)
        if not done:
            return out
        try:
            host = torch.cat([v for _, v, _, _ in done]).cpu().numpy()
        except Exception as exc:  # CUDA reports asynchronous failures at the copy
            self._fail(forward, exc)
        out[np.concatenate([c for c, _, _, _ in done])] = host
        if self._metrics is not None:
            # On CUDA passes are queued without waiting, so each gets an equal share of the wall.
            share = (self._clock() - started) / len(done)
            for chunk, _, tokens, seconds in done:
                latency = seconds if forward.device.type == "cpu" else share
                self._metrics.observe_batch(len(chunk), tokens, latency)
        return out

    def _shrink(self, texts: int, padded: int, longest: int, reason: str) -> None:
        old = self._limits
        self._limits = BatchLimits(
            max_batch_size=max(1, min(old.max_batch_size, texts // 2)),
            token_budget=max(longest, min(old.token_budget, padded // 2)),
        )
        if self._metrics is not None:
            self._metrics.oom_retries.inc()
        logger.warning(
            "out of memory on %s with %d texts x %d tokens; batch limits now %s (%s)",
            self._forward.device,
            texts,
            longest,
            self._limits,
            reason,
        )

    def _fail(self, forward: Forward, exc: Exception) -> NoReturn:
        if forward.device.type == "cuda":
            raise _DeviceUnusableError from exc
        raise EncodeError(
            f"forward pass of {self._model_id!r} failed on {forward.device}: {exc}"
        ) from exc

    def _fall_back(self, cause: BaseException) -> None:
        device = self._forward.device
        if not self._fallback_to_cpu:
            raise EncodeError(
                f"forward pass of {self._model_id!r} failed on {device} "
                f"and CPU fallback is off: {cause}"
            ) from cause
        logger.error(
            "%s is unusable (%s: %s); encoding with %r moves to CPU for this process",
            device,
            type(cause).__name__,
            cause,
            self._model_id,
        )
        if self._metrics is not None:
            self._metrics.device_fallbacks.inc()
        try:
            self._forward = self._forward.to_cpu()
        except Exception as exc:
            raise EncodeError(f"CPU fallback of {self._model_id!r} failed: {exc}") from exc
        self._limits = default_limits(self._forward.device, *self._explicit)
        self._prefetch = False
