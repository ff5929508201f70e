"""The one exception hierarchy of ``encoders``.

Every error an encoder, the batching bridge, the cache or the factory raises on purpose is an
``EncoderError``; foreign errors (torch, transformers, RocksDB, the file system) are wrapped
``from exc`` with the model path, device or cache directory in the message, so the caller
catches one type and the traceback keeps the cause.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "DeviceError",
    "EncodeError",
    "EncoderClosedError",
    "EncoderConfigError",
    "EncoderError",
    "ModelLoadError",
]


class EncoderError(Exception):
    """Base class: anything the caller cannot fix by retrying the same call."""


class EncoderConfigError(EncoderError):
    """Settings or a model directory ask for something this encoder cannot do."""


class ModelLoadError(EncoderError):
    """The model, its tokenizer or its sentence-transformers config could not be loaded."""


class DeviceError(EncoderError):
    """The requested device cannot be used (e.g. ``cuda`` asked for but absent)."""


class EncodeError(EncoderError):
    """A forward pass failed for a reason other than a recoverable out-of-memory."""


class EncoderClosedError(EncoderError):
    """The encoder (or its asyncio bridge) was closed and cannot take more work."""


class CacheError(EncoderError):
    """The embedding cache could not be opened, read or written."""
