"""The exceptions of :mod:`streams.core`: one hierarchy, foreign errors wrapped with context.

Bad *input* is never an exception here: it comes back as a :class:`~streams.core.outputs.Rejection`.
These are for bad *configuration* and broken invariants.
"""

from __future__ import annotations

__all__ = ["ConfigError", "CoreError", "EngineError", "SchemaError"]


class CoreError(Exception):
    """Base class of every error raised by :mod:`streams.core`."""


class ConfigError(CoreError):
    """An engine parameter file or value is invalid (unknown key, wrong type, out of range)."""


class SchemaError(CoreError):
    """A bundled JSON Schema uses a construct the validator does not support."""


class EngineError(CoreError):
    """The engine failed on a batch; the message names the user or item involved."""
