"""``AsyncEncoder``: the event loop keeps running, the queue is bounded, errors stay local."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from encoders.batching import AsyncEncoder
from encoders.errors import EncodeError, EncoderClosedError, EncoderConfigError
from encoders.protocol import Vectors
from tests.contract.encoder_doubles import HashingEncoder


class SlowEncoder(HashingEncoder):
    """Blocks its thread for ``delay`` seconds per call; fails on texts containing "boom"."""

    def __init__(self, delay: float) -> None:
        super().__init__(dim=8)
        self.delay = delay
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.threads.add(threading.current_thread().name)
        self.gate.wait(5)
        time.sleep(self.delay)
        if any("boom" in t for t in texts):
            raise EncodeError("boom")
        return super().encode(texts)


def test_event_loop_keeps_ticking_while_encoding() -> None:
    encoder = SlowEncoder(delay=0.3)
    spans: list[tuple[float, float]] = []
    original = encoder.encode

    def timed_encode(texts: Sequence[str]) -> Vectors:
        start = time.monotonic()
        try:
            return original(texts)
        finally:
            spans.append((start, time.monotonic()))

    encoder.encode = timed_encode  # type: ignore[method-assign]

    async def run() -> tuple[list[float], Vectors]:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def heartbeat() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        async with AsyncEncoder(encoder) as bridge:
            out = await bridge.encode(["a", "b"])
        stop.set()
        await beat
        return ticks, out

    ticks, out = asyncio.run(run())
    ((start, end),) = spans
    during = [t for t in ticks if start < t < end]
    assert len(during) >= 3  # a loop blocked by the forward pass would tick 0 times meanwhile
    assert out.shape == (2, 8)
    assert encoder.threads
    assert all(name.startswith("text-encoder") for name in encoder.threads)


def test_queue_is_bounded_and_requests_coalesce() -> None:
    encoder = SlowEncoder(delay=0.0)
    encoder.gate.clear()  # hold the worker so requests pile up

    async def run() -> list[Vectors]:
        async with AsyncEncoder(encoder, max_pending=2, max_coalesce=100) as bridge:
            tasks = [asyncio.create_task(bridge.encode([f"t{i}", "shared"])) for i in range(6)]
            await asyncio.sleep(0.05)
            queued = bridge._queue.qsize() if bridge._queue is not None else -1
            assert queued <= 2  # the rest wait in encode(): backpressure
            encoder.gate.set()
            return list(await asyncio.gather(*tasks))

    results = asyncio.run(run())
    assert len(encoder.calls) < 6  # waiting requests were served together
    expected = HashingEncoder(dim=8)
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out, expected.encode([f"t{i}", "shared"]))


def test_a_failing_request_does_not_fail_its_neighbours() -> None:
    encoder = SlowEncoder(delay=0.0)
    encoder.gate.clear()

    async def run() -> list[Vectors | BaseException]:
        async with AsyncEncoder(encoder) as bridge:
            tasks = [
                asyncio.create_task(bridge.encode(texts))
                for texts in (["hold"], ["ok 1"], ["boom"], ["ok 2"])
            ]
            await asyncio.sleep(0.05)
            encoder.gate.set()
            return list(await asyncio.gather(*tasks, return_exceptions=True))

    results = asyncio.run(run())
    assert isinstance(results[2], EncodeError)
    for i in (0, 1, 3):
        assert isinstance(results[i], np.ndarray)


def test_empty_input_needs_no_thread() -> None:
    encoder = SlowEncoder(delay=0.0)

    async def run() -> Vectors:
        async with AsyncEncoder(encoder) as bridge:
            return await bridge.encode([])

    assert asyncio.run(run()).shape == (0, 8)
    assert encoder.calls == []


def test_cancelled_caller_does_not_break_the_bridge() -> None:
    encoder = SlowEncoder(delay=0.1)

    async def run() -> Vectors:
        async with AsyncEncoder(encoder) as bridge:
            doomed = asyncio.create_task(bridge.encode(["x"]))
            await asyncio.sleep(0.01)
            doomed.cancel()
            with pytest.raises(asyncio.CancelledError):
                await doomed
            return await bridge.encode(["y"])

    assert asyncio.run(run()).shape == (1, 8)


def test_close_serves_queued_work_then_refuses() -> None:
    encoder = SlowEncoder(delay=0.05)

    async def run() -> None:
        bridge = AsyncEncoder(encoder)
        tasks = [asyncio.create_task(bridge.encode([str(i)])) for i in range(3)]
        await asyncio.sleep(0)
        await bridge.aclose()
        assert all(t.done() and t.exception() is None for t in tasks)
        with pytest.raises(EncoderClosedError):
            await bridge.encode(["late"])
        await bridge.aclose()  # idempotent

    asyncio.run(run())


def test_rejects_bad_limits() -> None:
    with pytest.raises(EncoderConfigError):
        AsyncEncoder(HashingEncoder(), max_pending=0)
