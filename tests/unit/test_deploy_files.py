"""docker-compose.yml and the deploy files stay consistent (no Docker engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams.kafka.topics import load_topic_specs
from streams.settings import DEFAULT_TOPICS_SPEC

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _compose() -> dict[str, object]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_the_stack() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert {"kafka", "topics", "worker", "prometheus", "grafana"} <= services.keys()
    assert str(services["kafka"]["image"]).startswith("apache/kafka:")


def test_compose_mounts_and_build_files_exist() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
        build = svc.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_compose_keeps_kafka_and_the_worker_state_alike_and_restarts_the_worker() -> None:
    """A worker state kept across a cluster thrown away stops the worker (faust's changelog
    consistency check) or drops the new cluster's events as already applied: Kafka's log
    lives in a named volume, as the worker's state does."""
    data = _compose()
    services = data["services"]
    assert isinstance(services, dict)
    named = set(data["volumes"])  # type: ignore[call-overload]
    kafka, worker = services["kafka"], services["worker"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert f"kafka-data:{log_dir}" in kafka["volumes"]
    state_dir = worker["environment"]["IT_STATE_DIR"]  # from x-app's anchor
    assert f"worker-state:{state_dir}" in worker["volumes"]
    assert {"kafka-data", "worker-state"} <= named
    assert worker["restart"] == "unless-stopped"  # it exits (70) to be restarted
    assert kafka["restart"] == "unless-stopped"


def test_compose_kafka_matches_the_local_broker_version() -> None:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert services["kafka"]["image"] == f"apache/kafka:{version}"


def test_topic_spec_event_topics_are_copartitioned() -> None:
    specs = {s.name: s for s in load_topic_specs(DEFAULT_TOPICS_SPEC)}
    events = [specs[n] for n in ("events.click", "events.view", "events.purchase", "events")]
    assert len({s.partitions for s in events}) == 1
    assert specs["items"].config["cleanup.policy"] == "compact"
    assert specs["recommendations"].config["cleanup.policy"] == "compact"


def _compose_cli() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_cli(), reason="no docker compose client on this machine")
def test_docker_compose_config_parses() -> None:
    out = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def _exported() -> set[str]:
    """Every sample name the worker exports (its metrics, the encoder's, both processes'
    garbage-collection pauses, the decoded-state cache's counters)."""
    from prometheus_client import CollectorRegistry

    from encoders.metrics import EncoderMetrics
    from state.store import CodecUserStore
    from streams.faust_app.worker import WORKER_GC_PAUSES
    from streams.gc_schedule import GcPauses
    from streams.host.process import ENGINE_GC_PAUSES
    from streams.host.state_cache import StateCacheMetrics
    from streams.metrics import WorkerMetrics

    registry = CollectorRegistry()
    WorkerMetrics(registry)
    EncoderMetrics(registry)
    GcPauses(registry, WORKER_GC_PAUSES, "worker process")
    GcPauses(registry, ENGINE_GC_PAUSES, "engine process")
    StateCacheMetrics(CodecUserStore(), registry)
    names = set()
    for family in registry.collect():
        names.add(family.name)
        for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
            names.add(family.name + suffix)
    return names


def test_the_dashboard_and_the_alert_rules_name_only_exported_metrics() -> None:
    import json
    import re

    dashboard = json.loads(
        (ROOT / "deploy" / "grafana" / "dashboards" / "interest-tracker.json").read_text()
    )
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    named = {m for e in exprs for m in re.findall(r"interest_tracker_\w+", e)}
    assert named
    assert named - _exported() == set()
    assert "interest_tracker_signal_checkpoints_total" in named


def test_the_signals_checkpoints_topic_is_compacted() -> None:
    specs = {s.name: s for s in load_topic_specs(DEFAULT_TOPICS_SPEC)}
    assert specs["signals.checkpoints"].config["cleanup.policy"] == "compact"
