"""Device and dtype choice, batch-size defaults, and how failures on a device are classified."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from encoders.errors import DeviceError, EncoderConfigError

__all__ = [
    "BatchLimits",
    "default_limits",
    "is_out_of_memory",
    "resolve_device",
    "resolve_dtype",
]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Per forward pass: at most ``max_batch_size`` texts and ``token_budget`` padded tokens."""

    max_batch_size: int
    token_budget: int

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.token_budget < 1:
            raise EncoderConfigError(f"batch limits must be >= 1, got {self}")


def resolve_device(setting: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``. ``cuda`` without CUDA: ``DeviceError``."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' was asked for but torch sees no usable CUDA device")
    if setting not in {"cpu", "cuda"}:
        raise EncoderConfigError(f"unknown device {setting!r} (auto, cpu, cuda)")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    """CPU always runs float32; on CUDA ``auto`` is float16 (10-bit mantissa: closest to
    float32 results for small encoders), ``bfloat16`` needs a GPU that supports it."""
    if setting != "auto" and setting not in _DTYPES:
        raise EncoderConfigError(f"unknown dtype {setting!r} (auto, float32, float16, bfloat16)")
    if device.type != "cuda":
        return torch.float32
    if setting == "auto":
        return torch.float16
    dtype = _DTYPES[setting]
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise DeviceError("dtype bfloat16 was asked for but this GPU does not support it")
    return dtype


def default_limits(
    device: torch.device, max_batch_size: int | None = None, token_budget: int | None = None
) -> BatchLimits:
    """The limits to use on ``device``; explicit values win over the device's defaults.

    CPU: 64 texts / 8,192 padded tokens (compute grows linearly with padding, so small,
    length-sorted batches waste least). CUDA: 1,024 texts / 262,144 tokens (large batches fill
    the GPU; the OOM handler halves them if memory runs out).
    """
    if device.type == "cuda":
        batch, budget = 1024, 262_144
    else:
        batch, budget = 64, 8192
    return BatchLimits(max_batch_size or batch, token_budget or budget)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure that a smaller batch may avoid."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text.lower() or "CUBLAS_STATUS_ALLOC_FAILED" in text
    )
