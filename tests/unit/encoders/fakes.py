"""Fake ``Forward`` steps for the transformer encoder's unit tests (no model, or a wrapped one).

``TableForward`` embeds each token id with a fixed random table (fast, deterministic, and the
pooled vector of a text does not depend on the batch it is in). ``FlakyForward`` wraps a
forward and fails the way a GPU does: out of memory above a batch size, or a CUDA error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from encoders.transformer.forward import Forward
from encoders.transformer.tokens import TokenBatch

__all__ = ["FlakyForward", "TableForward"]


class TableForward:
    """Token embeddings from a fixed ``(vocab, hidden)`` table; records each batch's shape."""

    def __init__(self, hidden: int = 8, vocab: int = 30522, device: str = "cpu") -> None:
        rng = np.random.default_rng(7)
        self._table = torch.from_numpy(rng.standard_normal((vocab, hidden)).astype(np.float32))
        self._device = torch.device(device)
        self.shapes: list[tuple[int, int]] = []

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def hidden_size(self) -> int:
        return int(self._table.shape[1])

    def __call__(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        self.shapes.append((int(batch.input_ids.shape[0]), int(batch.input_ids.shape[1])))
        ids = torch.from_numpy(batch.input_ids)
        return self._table[ids], torch.from_numpy(batch.attention_mask)

    def release_memory(self) -> None:
        return None

    def to_cpu(self) -> Forward:
        return self


@dataclass
class FlakyForward:
    """Pretends to be a CUDA forward around ``inner``.

    ``oom_above``: batches with more texts raise ``torch.OutOfMemoryError``.
    ``broken``: every call raises a CUDA-style ``RuntimeError``.
    ``to_cpu`` returns ``cpu`` (default: ``inner``) and counts the calls.
    """

    inner: Forward
    oom_above: int | None = None
    broken: bool = False
    cpu: Forward | None = None
    sizes: list[int] = field(default_factory=list)
    released: int = 0
    moved_to_cpu: int = 0

    @property
    def device(self) -> torch.device:
        return torch.device("cuda")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16

    @property
    def hidden_size(self) -> int:
        return self.inner.hidden_size

    def __call__(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        n = int(batch.input_ids.shape[0])
        self.sizes.append(n)
        if self.broken:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if self.oom_above is not None and n > self.oom_above:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate ({n} texts)")
        return self.inner(batch)

    def release_memory(self) -> None:
        self.released += 1

    def to_cpu(self) -> Forward:
        self.moved_to_cpu += 1
        return self.cpu if self.cpu is not None else self.inner
