"""faust's aiokafka transport, with the worker consumer's fetch wait as a setting.

faust-streaming 0.15.3 builds its worker consumer with ``fetch_max_wait_ms=1500``, not a
setting. Measured with ``bench/pipeline.py`` at 4.7k events/s (half the worker's throughput,
100k items): events reached the worker in bursts about every 1.8 s, each already 0.2–1 s old
(the oldest 2–2.6 s); with 100 ms the p50 latency went from 1,661 to 329 ms and the p99 from
3,117 to 971 ms, throughput unchanged (9.5k events/s). An idle worker sends about ten fetch
requests a second instead of one.

The value is set on the ``AIOKafkaConsumer`` before it starts (aiokafka 0.14.0 hands
``_fetch_max_wait_ms`` to its fetcher in ``start()``); both versions are pinned, and a unit
test checks that the consumer faust builds carries it.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver

__all__ = ["App", "Transport"]


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    """The aiokafka transport whose worker consumer waits at most ``app.fetch_max_wait_ms``."""

    Consumer = _Consumer


class App(faust.App):
    """A faust App on :class:`Transport`: ``fetch_max_wait_ms`` is how long the broker may
    hold a fetch of the event topics and changelogs when it has no new records."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 100, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)
