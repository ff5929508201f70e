"""Start and stop the local single-node broker (``deploy/kafka/kafka.sh``) from Python.

For tests and benchmarks: a broker on a free pair of ports on 127.0.0.1, data in a folder of
the caller's, stopped when the context exits.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["KAFKA_SCRIPT", "LocalKafkaError", "free_port", "free_port_pair", "local_kafka"]

KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka.sh"


class LocalKafkaError(RuntimeError):
    """The local broker did not start; the message carries the script's log tail."""


def free_port() -> int:
    """A port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A port p such that p and p + 1 (the controller) are both free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise LocalKafkaError("no free pair of ports on 127.0.0.1")


@contextmanager
def local_kafka(
    data_dir: Path, port: int | None = None, sasl_port: int | None = None
) -> Iterator[str]:
    """Yield the bootstrap address of a broker started for the duration of the block.

    ``sasl_port``: also serve SASL_PLAINTEXT clients there (``deploy/kafka/kafka.sh``'s
    ``KAFKA_SASL_PORT``: PLAIN and SCRAM, user ``it``, password ``it-secret``)."""
    port = port or free_port_pair()
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_DATA": str(data_dir)}
    if sasl_port is not None:
        env["KAFKA_SASL_PORT"] = str(sasl_port)
    up = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "up"], env=env, capture_output=True, text=True, check=False
    )
    if up.returncode != 0:
        raise LocalKafkaError(f"the local Kafka broker did not start:\n{up.stderr[-4000:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(
            ["bash", str(KAFKA_SCRIPT), "down"], env=env, check=False, capture_output=True
        )
