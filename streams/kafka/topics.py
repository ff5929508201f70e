"""The declarative topic spec (``deploy/topics.json``) and its idempotent application."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

__all__ = ["TopicSpec", "TopicSpecError", "apply_topics", "list_topics", "load_topic_specs"]


class TopicSpecError(ValueError):
    """The topic spec file is malformed."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the spec declares it."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


def load_topic_specs(
    path: Path, *, prefix: str = "", partitions: int | None = None
) -> list[TopicSpec]:
    """Read the spec; ``prefix`` is put before every name, ``partitions`` overrides counts."""
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TopicSpecError(f"cannot read topic spec {path}: {exc}") from exc
    defaults = raw.get("defaults", {})
    specs = []
    for entry in raw.get("topics", []):
        if "name" not in entry:
            raise TopicSpecError(f"{path}: a topic without a name: {entry}")
        config = {**defaults.get("config", {}), **entry.get("config", {})}
        specs.append(
            TopicSpec(
                name=prefix + entry["name"],
                partitions=int(
                    partitions or entry.get("partitions", defaults.get("partitions", 1))
                ),
                replication_factor=int(
                    entry.get("replication_factor", defaults.get("replication_factor", 1))
                ),
                config={str(k): str(v) for k, v in config.items()},
            )
        )
    return specs


def apply_topics(
    admin: AdminClient, specs: list[TopicSpec], *, timeout: float = 30.0
) -> dict[str, str]:
    """Create the topics that do not exist yet; returns ``{name: "created" | "exists"}``.

    Idempotent: existing topics are left as they are (their partition count is not changed).
    Raises ``KafkaException`` for any other failure.
    """
    existing = set(admin.list_topics(timeout=timeout).topics)
    result = {s.name: "exists" for s in specs if s.name in existing}
    todo = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=s.replication_factor,
            config=dict(s.config),
        )
        for s in specs
        if s.name not in existing
    ]
    if not todo:
        return result
    for name, future in admin.create_topics(todo, operation_timeout=timeout).items():
        try:
            future.result()
            result[name] = "created"
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won
                raise
            result[name] = "exists"
    return result


def list_topics(admin: AdminClient, *, timeout: float = 30.0) -> dict[str, int]:
    """``{topic: partition count}`` of the non-internal topics on the cluster."""
    md = admin.list_topics(timeout=timeout)
    return {
        name: len(t.partitions)
        for name, t in sorted(md.topics.items())
        if not name.startswith("__")
    }
