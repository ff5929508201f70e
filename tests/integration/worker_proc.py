"""Run real workers as subprocesses, and read topics back, for the integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.local import free_port
from streams.kafka.topics import apply_topics, load_topic_specs
from streams.settings import DEFAULT_TOPICS_SPEC, KafkaSettings

ROOT = Path(__file__).resolve().parents[2]


def create_topics(settings: KafkaSettings, partitions: int) -> KafkaSettings:
    """Create the spec's topics under ``settings``' prefix, each with ``partitions``."""
    specs = load_topic_specs(
        DEFAULT_TOPICS_SPEC, prefix=settings.topic_prefix, partitions=partitions
    )
    apply_topics(AdminClient(settings.client_config()), specs)
    return settings


def settings_env(settings: KafkaSettings) -> dict[str, str]:
    """The ``IT_`` variables that give a worker or a command ``settings``' connection."""
    env = {
        "IT_BOOTSTRAP": settings.bootstrap,
        "IT_TOPIC_PREFIX": settings.topic_prefix,
        "IT_SECURITY_PROTOCOL": settings.security_protocol,
    }
    if settings.sasl_mechanism is not None:
        env["IT_SASL_MECHANISM"] = settings.sasl_mechanism
    if settings.sasl_username is not None:
        env["IT_SASL_USERNAME"] = settings.sasl_username
    if settings.sasl_password is not None:
        env["IT_SASL_PASSWORD"] = settings.sasl_password.get_secret_value()
    return env


def wait_until(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class WorkerProcess:
    """``python -m streams worker`` with its own state dir and metrics port."""

    def __init__(self, settings: KafkaSettings, state_dir: Path, app_id: str, **env: str) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.port = free_port()
        self.log_path = state_dir.with_suffix(".log")
        self.env = {
            **os.environ,
            **settings_env(settings),
            "IT_APP_ID": app_id,
            "IT_REFRESH_IDLE_S": "1.0",
            "IT_BATCH_MAX_WAIT_S": "0.1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams",
                "worker",
                "--state-dir",
                str(self.state_dir),
                "--metrics-port",
                str(self.port),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                ok: dict[str, Any] = json.loads(r.read())
            return ok
        except urllib.error.HTTPError as exc:  # 503 while starting: the body still says why
            starting: dict[str, Any] = json.loads(exc.read())
            return starting
        except OSError:
            return None

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 180) -> WorkerProcess:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"worker exited early:\n{self.log_tail()}")
            h = self.health()
            return h is not None and h.get("status") == "ok"

        wait_until(ready, timeout, f"worker ready\n{self.log_tail()}")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def read_topic(
    settings: KafkaSettings, topic: str, *, idle_s: float = 3.0, timeout_s: float = 60.0
) -> list[tuple[bytes | None, bytes]]:
    """Every record of a topic from the beginning, until ``idle_s`` without a new one."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"t-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    full = settings.topic(topic)
    meta = consumer.list_topics(full, timeout=30).topics[full]
    consumer.assign([TopicPartition(full, p, OFFSET_BEGINNING) for p in meta.partitions])
    got: list[tuple[bytes | None, bytes]] = []
    start = last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s and time.monotonic() - start < timeout_s:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            got.append((msg.key(), msg.value() or b""))
            last = time.monotonic()
    finally:
        consumer.close()
    return got


def last_by_key(records: list[tuple[bytes | None, bytes]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in records:
        if key is not None:
            out[key.decode()] = json.loads(value)
    return out


def kill_hard(w: WorkerProcess) -> None:
    w.stop(signal.SIGKILL)
