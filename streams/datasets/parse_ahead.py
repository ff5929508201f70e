"""``ParsedBatches``: an events file read and validated in a child process, batches ahead.

Reading and validating lines is the one step of a replay that needs no engine state, so on a
machine with a second core it runs there while the engine applies the previous batch: the
child reads ``batch_size`` lines, parses them with the engine's own batch validator
(:func:`streams.core.engine.batch_parser`, same parameters) and sends the lines with their
columns and rejections; the parent rebuilds the batch's ``Message`` s (as
:func:`streams.datasets.files.read_messages` makes them) and hands both to
:meth:`streams.core.engine.Engine.process`. Results are the same as parsing in line; a
failure in the child is raised in the parent (:class:`ParseAheadError`).
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from streams.core.config import params_from_mapping, params_to_mapping
from streams.core.engine import ParsedEvents, batch_parser
from streams.core.messages import Message
from streams.core.params import EngineParams
from streams.datasets.files import read_lines

__all__ = ["ParseAheadError", "ParsedBatches"]


class ParseAheadError(RuntimeError):
    """The child process failed (its traceback is the message) or died."""


def _produce(path: str, params: dict[str, object], batch_size: int, out: Any) -> None:
    """The child: read, parse and send every batch, then ``None`` (or the failure)."""
    try:
        parse = batch_parser(params_from_mapping(params))
        topic = Path(path).name
        batch: list[bytes] = []
        for line in read_lines(Path(path)):
            batch.append(line)
            if len(batch) == batch_size:
                out.put((batch, parse([Message(x, None, topic) for x in batch])))
                batch = []
        if batch:
            out.put((batch, parse([Message(x, None, topic) for x in batch])))
        out.put(None)
    except BaseException:  # the parent raises it
        out.put(traceback.format_exc())


class ParsedBatches:
    """Iterate ``(messages, parsed)`` batches of an events JSONL file parsed in a child.

    ``ahead`` batches may wait parsed (memory: ``ahead × batch_size`` lines). Use as a
    context manager (or call :meth:`close`) so the child never outlives the reader.
    """

    def __init__(self, path: Path, params: EngineParams, batch_size: int, ahead: int = 2) -> None:
        self.path = path
        ctx = mp.get_context("spawn")  # never fork a process that holds model threads
        self._queue: Any = ctx.Queue(maxsize=ahead)
        self._proc = ctx.Process(
            target=_produce,
            args=(str(path), params_to_mapping(params), batch_size, self._queue),
            name="parse-ahead",
            daemon=True,
        )
        self._proc.start()

    def __iter__(self) -> Iterator[tuple[list[Message], ParsedEvents]]:
        topic = self.path.name
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue_mod.Empty:
                if not self._proc.is_alive():
                    raise ParseAheadError(
                        f"the parse-ahead process died (exit code {self._proc.exitcode})"
                    ) from None
                continue
            if item is None:
                break
            if isinstance(item, str):
                raise ParseAheadError(item)
            lines, parsed = item
            yield [Message(x, None, topic) for x in lines], parsed
        self._proc.join(timeout=10)

    def close(self) -> None:
        """Stop the child if it still runs."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=10)
        self._queue.close()

    def __enter__(self) -> ParsedBatches:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
