"""``ParsedBatches``: an events file read and validated in a child process, batches ahead.

Reading and validating lines is the one step of a replay that needs no engine state, so on a
machine with a second core it runs there while the engine applies the previous batch: the
child reads ``batch_size`` lines, parses them with the engine's own batch validator
(:func:`streams.core.engine.batch_parser`, same parameters) and sends the lines with their
columns and rejections; the parent wraps the lines as
:class:`~streams.core.messages.LineMessages` (what :func:`streams.datasets.files.
read_messages` would yield) and hands both to
:meth:`streams.core.engine.Engine.process`. Results are the same as parsing in line; a
failure in the child is raised in the parent (:class:`ParseAheadError`).
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import traceback
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any

from streams.core.columns import EventColumns
from streams.core.config import params_from_mapping, params_to_mapping
from streams.core.engine import ParsedEvents, batch_parser
from streams.core.messages import LineMessages
from streams.core.params import EngineParams
from streams.datasets.files import read_lines

__all__ = ["ParseAheadError", "ParsedBatches"]


class ParseAheadError(RuntimeError):
    """The child process failed (its traceback is the message) or died."""


def _produce(path: str, params: dict[str, object], batch_size: int, pipes: Any) -> None:
    """The child: read, parse and send every batch, then ``None`` (or the failure).

    ``pipes``: ``(out queue, ready event, go event)``.
    """
    out, ready, go = pipes
    try:
        parse = batch_parser(params_from_mapping(params))
        ready.set()
        go.wait()
        topic = Path(path).name
        batch: list[bytes] = []
        for line in read_lines(Path(path)):
            batch.append(line)
            if len(batch) == batch_size:
                out.put(_wire(batch, parse(LineMessages(batch, topic))))
                batch = []
        if batch:
            out.put(_wire(batch, parse(LineMessages(batch, topic))))
        out.put(None)
    except BaseException:  # the parent raises it
        out.put(traceback.format_exc())


_COLUMNS = [f.name for f in fields(EventColumns)]


def _wire(lines: list[bytes], parsed: ParsedEvents) -> tuple[Any, ...]:
    """A parsed batch as plain containers (a dataclass pickles several times slower)."""
    cols, rejections = parsed
    return lines, [getattr(cols, name) for name in _COLUMNS], rejections


class ParsedBatches:
    """Iterate ``(messages, parsed)`` batches of an events JSONL file parsed in a child.

    ``ahead`` batches may wait parsed (memory: ``ahead × batch_size`` lines). The child
    starts at once (create the reader early: its start-up overlaps the caller's) but reads
    the file only when the iteration starts. Use as a context manager (or call
    :meth:`close`) so the child never outlives the reader. The child is *spawned*, so a
    script that creates one must guard its entry point (``if __name__ == "__main__":``).
    """

    def __init__(self, path: Path, params: EngineParams, batch_size: int, ahead: int = 2) -> None:
        self.path = path
        plain = params_to_mapping(params)
        rebuilt = params_from_mapping(plain)  # what the child parses with
        if rebuilt != params or list(rebuilt.event_types) != list(params.event_types):
            raise ValueError("the engine parameters do not survive the trip to the child")
        ctx = mp.get_context("spawn")  # never fork a process that holds model threads
        self._queue: Any = ctx.Queue(maxsize=ahead)
        self._ready, self._go = ctx.Event(), ctx.Event()
        self._proc = ctx.Process(
            target=_produce,
            args=(
                str(path),
                plain,
                batch_size,
                (self._queue, self._ready, self._go),
            ),
            name="parse-ahead",
            daemon=True,
        )
        self._proc.start()

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Wait until the child has started and built its parser (it reads nothing before
        the iteration starts); ``False`` if it did not within ``timeout_s``."""
        return bool(self._ready.wait(timeout_s))

    def __iter__(self) -> Iterator[tuple[LineMessages, ParsedEvents]]:
        topic = self.path.name
        self._go.set()
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
            lines, columns, rejections = item
            yield LineMessages(lines, topic), (EventColumns(*columns), rejections)
        self._proc.join(timeout=10)

    def close(self) -> None:
        """Stop the child if it still runs."""
        self._go.set()
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
