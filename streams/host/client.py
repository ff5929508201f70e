"""The faust process's handle on the engine: async calls, served one at a time, in order.

Two hosts implement it: :class:`ThreadEngine` runs :class:`~streams.host.calls.EngineCalls`
in one thread of the worker's process (it shares the interpreter lock with faust's event
loop), :class:`~streams.host.process.ProcessEngine` in a child process of its own.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streams.core.messages import Message
from streams.host.calls import BatchOut, EngineCalls, ItemsOut, RecOut, SignalsOut

__all__ = ["EngineClient", "ThreadEngine"]


class EngineClient(ABC):
    """Every engine call the worker makes. Calls are queued in order and never overlap."""

    def __init__(self) -> None:
        self.catalog_items = 0

    async def process(
        self, messages: list[Message], prefetched: dict[str, bytes], now_ms: int
    ) -> BatchOut:
        """One batch of events over the stored states of its users (see ``EngineCalls``)."""
        out: BatchOut = await self._call("process", messages, prefetched, now_ms)
        return out

    async def apply_items(self, messages: list[Message]) -> ItemsOut:
        """Catalog upserts and deletions."""
        out: ItemsOut = await self._call("apply_items", messages)
        self.catalog_items = out.catalog_items
        return out

    async def apply_signals(self, records: list[bytes]) -> SignalsOut:
        """Encoded signal-delta records (each batch applied once, whole)."""
        out: SignalsOut = await self._call("apply_signals", records)
        return out

    async def checkpoint_signals(self, positions: dict[int, int]) -> bytes:
        """The signals and their ledger as a checkpoint blob (at ``positions``)."""
        blob: bytes = await self._call("checkpoint_signals", positions)
        return blob

    async def restore_signals(self, blob: bytes) -> dict[int, int] | None:
        """Load a checkpoint blob; the ``signals`` positions to read on from (``None``:
        unusable, nothing loaded)."""
        positions: dict[int, int] | None = await self._call("restore_signals", blob)
        return positions

    async def prepare(self) -> None:
        """Build the item index now (before the first batch needs it)."""
        self.catalog_items = await self._call("prepare")

    async def recommend(self, prefetched: dict[str, bytes], users: list[str]) -> list[RecOut]:
        """Recommendations for ``users`` from their stored states."""
        recs: list[RecOut] = await self._call("recommend", prefetched, users)
        return recs

    async def refresh_metrics(self, older_than_s: float) -> None:
        """Bring the engine's metric values up to date when those the worker serves are older
        than ``older_than_s`` (an engine in this process shares the worker's registry: always
        current)."""
        return

    def alive(self) -> bool:
        """Whether the engine can still serve calls."""
        return True

    @abstractmethod
    async def _call(self, name: str, *args: Any) -> Any:
        """Run ``EngineCalls.<name>(*args)`` after every call queued before it."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine (after the last call)."""


class ThreadEngine(EngineClient):
    """The engine in one thread of this process: the encoder's forward pass and numpy's
    kernels release the interpreter lock, the engine's Python does not."""

    def __init__(self, calls: EngineCalls) -> None:
        super().__init__()
        self.calls = calls
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")

    async def _call(self, name: str, *args: Any) -> Any:
        fn = getattr(self.calls, name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
