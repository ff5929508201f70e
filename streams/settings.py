"""The one typed settings object, read at the edge (environment prefix ``IT_``).

The core never reads settings: the shell turns them into the plain parameter
dataclasses the core takes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_TOPICS_SPEC",
    "RENAMED",
    "TLS_PROTOCOLS",
    "KafkaSettings",
    "SaslMechanism",
    "SecurityProtocol",
    "Settings",
]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TOPICS_SPEC = Path(__file__).resolve().parents[1] / "deploy" / "topics.json"


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


class KafkaSettings(BaseSettings):
    """How to reach Kafka. Credentials are secrets and never logged.

    Every client gets the same connection: librdkafka's (producers, admin, ``tail``) through
    :meth:`client_config`, aiokafka's and faust's (the worker's consumer group, tables and
    readers) through :mod:`streams.kafka.security`."""

    # errors name the variable, never the values given (a password among them)
    model_config = SettingsConfigDict(env_prefix="IT_", extra="ignore", hide_input_in_errors=True)

    bootstrap: str = Field(DEFAULT_BOOTSTRAP, description="host:port[,host:port] of the brokers")
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)"
    )
    sasl_username: str | None = Field(None, description="the SASL user")
    sasl_password: SecretStr | None = Field(None, description="its password (never logged)")
    ssl_ca_location: Path | None = Field(
        None,
        description="CA certificates (PEM) that sign the brokers' certificates (SSL, SASL_SSL); "
        "default: the system's",
    )
    topic_prefix: str = Field("", description="prefix for every topic name (isolation, tenancy)")
    topics_spec: Path = Field(DEFAULT_TOPICS_SPEC, description="declarative topic spec (JSON)")

    def topic(self, name: str) -> str:
        """The full name of a logical topic (``events.click`` → ``<prefix>events.click``)."""
        return f"{self.topic_prefix}{name}"

    def client_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka configuration shared by every confluent-kafka client."""
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        return conf

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        """Any case, as librdkafka takes them (``sasl_ssl``, ``scram-sha-256``)."""
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _complete_security(self) -> KafkaSettings:
        """SASL needs a mechanism and credentials; credentials without SASL are a mistake
        (they would be ignored), and so is a CA file without TLS."""
        sasl = self.security_protocol.startswith("SASL_")
        given = [
            name
            for name in ("sasl_mechanism", "sasl_username", "sasl_password")
            if getattr(self, name) is not None
        ]
        if sasl and len(given) < 3:
            missing = sorted({"sasl_mechanism", "sasl_username", "sasl_password"} - set(given))
            raise ValueError(
                f"IT_SECURITY_PROTOCOL={self.security_protocol} needs "
                + ", ".join(f"IT_{m.upper()}" for m in missing)
            )
        if given and not sasl:
            raise ValueError(
                f"IT_{given[0].upper()} is set but IT_SECURITY_PROTOCOL={self.security_protocol} "
                "uses no SASL (SASL_PLAINTEXT or SASL_SSL)"
            )
        if self.ssl_ca_location is not None and self.security_protocol not in TLS_PROTOCOLS:
            raise ValueError(
                "IT_SSL_CA_LOCATION is set but IT_SECURITY_PROTOCOL="
                f"{self.security_protocol} uses no TLS (SSL or SASL_SSL)"
            )
        return self


RENAMED = {
    "IT_STATE_CACHE_USERS": "IT_STATE_CACHE_MB (a memory budget in MiB; 0 turns the cache off)"
}
"""Variables that no longer exist, and what replaced them: set, they stop the start instead
of being ignored (the environment is otherwise free to hold other ``IT_`` variables)."""


class Settings(KafkaSettings):
    """Everything the worker and the commands can be configured with (``IT_*``)."""

    app_id: str = Field("interest-tracker", description="consumer group and table namespace")
    state_dir: Path = Field(Path("data/state"), description="RocksDB tables and caches")
    engine_config: Path | None = Field(None, description="EngineParams file (JSON or TOML)")
    metrics_host: str = Field("127.0.0.1", description="address of the metrics and health server")
    metrics_port: int = Field(9464, ge=0, le=65535, description="0 = any free port")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    replication_factor: int = Field(1, ge=1, description="of the topics faust creates")
    standby_replicas: int = Field(0, ge=0, description="faust table standby replicas")
    batch_max_events: int = Field(2000, ge=1, description="a batch closes at this size ...")
    batch_max_wait_s: float = Field(
        0.02,
        gt=0,
        description="... or after this long (batches that arrive while the engine computes "
        "reach it together anyway, so a short window costs no throughput)",
    )
    refresh_idle_s: float = Field(
        2.0, gt=0, description="idle time after which recommendations are refreshed"
    )
    refresh_max_users: int = Field(
        100_000, ge=0, description="recently published users re-checked when signals move"
    )
    blas_threads: int = Field(1, ge=1, description="numpy BLAS threads in the worker")
    consumer_fetch_max_wait_ms: int = Field(
        20, ge=0, description="how long the broker may hold the worker's fetches (faust: 1500)"
    )
    consumer_fetch_min_bytes: int = Field(
        65536, ge=1, description="bytes a fetch of the worker waits for, up to the wait above"
    )
    consumer_max_poll_interval_s: float = Field(
        1000.0,
        gt=0,
        description="longest gap between the worker consumer's polls before it leaves the "
        "group, its partitions going to the others (faust's broker_max_poll_interval); also "
        "how long the worker may hold events without completing a batch before its health "
        "says stalled",
    )
    engine_process: bool = Field(
        True, description="run the engine in a child process (false: in a thread of the worker)"
    )
    engine_start_timeout_s: float = Field(
        600.0, gt=0, description="how long the engine (model, caches) may take to load"
    )
    signals_checkpoint_s: float = Field(
        600.0,
        ge=0,
        description="how often a checkpoint of the global signals is written (0: never)",
    )
    index_background_build: bool = Field(
        True, description="rebuild the item index in a thread while the old one serves"
    )
    gc_full_every_s: float = Field(
        600.0,
        ge=0,
        description="seconds between the worker's and the engine's full garbage collections, "
        "taken when idle (0: CPython's own schedule, which pauses the engine for 0.1-0.4 s "
        "every few seconds under load)",
    )
    state_cache_mb: float = Field(
        512.0,
        ge=0,
        description="memory for the decoded user states kept between batches, in MiB "
        "(estimated per state; 0: decode always)",
    )
    max_batch_attempts: int = Field(
        8, ge=1, description="publishing attempts before the worker stops without committing"
    )

    @model_validator(mode="after")
    def _no_renamed_variables(self) -> Settings:
        for name, now in RENAMED.items():
            if name in os.environ:
                raise ValueError(f"{name} was replaced by {now}")
        return self
