"""Every client of a worker gets the same connection: librdkafka's configuration, aiokafka's
keyword arguments and faust's credentials from one settings object; incomplete or
contradictory security settings stop the start instead of being ignored."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types.auth import AuthProtocol, SASLMechanism
from pydantic import ValidationError

from streams.faust_app.app import build_faust, credentials
from streams.kafka.security import aiokafka_security, ssl_context
from streams.settings import KafkaSettings, Settings

SCRAM = {
    "security_protocol": "SASL_PLAINTEXT",
    "sasl_mechanism": "SCRAM-SHA-256",
    "sasl_username": "svc",
    "sasl_password": "s3cret",
}


def test_plaintext_needs_nothing() -> None:
    s = KafkaSettings()
    assert aiokafka_security(s) == {"security_protocol": "PLAINTEXT"}
    assert credentials(s) is None
    assert s.client_config()["security.protocol"] == "PLAINTEXT"


def test_sasl_reaches_librdkafka_aiokafka_and_faust_alike() -> None:
    s = KafkaSettings(**SCRAM)  # type: ignore[arg-type]
    assert s.client_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "svc",
        "sasl.password": "s3cret",
    }
    assert aiokafka_security(s) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "s3cret",
    }
    creds = credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol is AuthProtocol.SASL_PLAINTEXT
    assert creds.mechanism is SASLMechanism.SCRAM_SHA_256
    assert (creds.username, creds.password, creds.ssl_context) == ("svc", "s3cret", None)
    assert "s3cret" not in repr(s)  # a secret


def test_tls_verifies_the_brokers_against_the_given_or_the_systems_cas(tmp_path: Path) -> None:
    sasl_ssl = KafkaSettings(**{**SCRAM, "security_protocol": "SASL_SSL"})  # type: ignore[arg-type]
    context = ssl_context(sasl_ssl)
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert isinstance(aiokafka_security(sasl_ssl)["ssl_context"], ssl.SSLContext)
    creds = credentials(sasl_ssl)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol is AuthProtocol.SASL_SSL

    tls = KafkaSettings(security_protocol="SSL")
    assert isinstance(credentials(tls), faust.SSLCredentials)
    assert set(aiokafka_security(tls)) == {"security_protocol", "ssl_context"}

    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    with_ca = KafkaSettings(security_protocol="SSL", ssl_ca_location=ca)
    assert with_ca.client_config()["ssl.ca.location"] == str(ca)
    with pytest.raises(ssl.SSLError):  # the file is read: a bad one fails at the start
        ssl_context(with_ca)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "IT_SASL_MECHANISM, IT_SASL_PASSWORD"),
        ({**SCRAM, "sasl_password": None}, "needs IT_SASL_PASSWORD"),
        ({"sasl_username": "svc"}, "IT_SASL_USERNAME is set but"),
        ({"ssl_ca_location": "ca.pem"}, "IT_SSL_CA_LOCATION is set but"),
        ({"security_protocol": "SASL"}, "security_protocol"),
        ({**SCRAM, "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
    ],
)
def test_incomplete_or_contradictory_security_stops_the_start(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings(**given)


def test_a_settings_error_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IT_SASL_PASSWORD", "hunter2-secret")
    for protocol in ("PLAINTEXT", "SASL_SSL"):  # credentials without SASL; SASL half given
        monkeypatch.setenv("IT_SECURITY_PROTOCOL", protocol)
        with pytest.raises(ValidationError) as exc:
            Settings()
        assert "hunter2" not in str(exc.value)
        assert "IT_S" in str(exc.value)  # it names the variable


def test_the_security_values_take_any_case() -> None:
    given = {**SCRAM, "security_protocol": "sasl_ssl", "sasl_mechanism": "scram-sha-256"}
    s = KafkaSettings(**given)  # type: ignore[arg-type]
    assert (s.security_protocol, s.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")


def test_the_environment_sets_the_security(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SCRAM.items():
        monkeypatch.setenv(f"IT_{name.upper()}", value)
    assert aiokafka_security(KafkaSettings())["sasl_mechanism"] == "SCRAM-SHA-256"


def test_fausts_worker_consumer_carries_the_sasl_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, **SCRAM)  # type: ignore[arg-type]

    async def build() -> tuple[Any, ...]:
        app: Any = build_faust(settings, partitions=4).app
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        c = consumer._client
        got = (
            c._security_protocol,
            c._sasl_mechanism,
            c._sasl_plain_username,
            c._sasl_plain_password,
        )
        await consumer.stop()  # never started: releases the client it made
        return got

    assert asyncio.run(build()) == ("SASL_PLAINTEXT", "SCRAM-SHA-256", "svc", "s3cret")
