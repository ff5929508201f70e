"""The security settings of aiokafka's clients (the worker's readers) and faust's (its
consumer group, producer and tables), from the same :class:`~streams.settings.KafkaSettings`
that gives librdkafka's clients theirs (:meth:`~streams.settings.KafkaSettings.client_config`):
every client of a worker reaches the brokers the same way."""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import TLS_PROTOCOLS, KafkaSettings

__all__ = ["aiokafka_security", "ssl_context"]


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """A verifying TLS context (the brokers' certificates and host names, against
    ``ssl_ca_location`` or the system's CAs) for the TLS protocols; ``None`` otherwise."""
    if settings.security_protocol not in TLS_PROTOCOLS:
        return None
    ca = settings.ssl_ca_location
    return ssl.create_default_context(cafile=str(ca) if ca is not None else None)


def aiokafka_security(settings: KafkaSettings) -> dict[str, Any]:
    """The keyword arguments of an aiokafka client for ``settings``' protocol, SASL
    mechanism and credentials, and TLS context."""
    out: dict[str, Any] = {"security_protocol": settings.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        out["ssl_context"] = context
    if settings.sasl_mechanism is not None:
        password = settings.sasl_password
        out["sasl_mechanism"] = settings.sasl_mechanism
        out["sasl_plain_username"] = settings.sasl_username
        out["sasl_plain_password"] = password.get_secret_value() if password else None
    return out
