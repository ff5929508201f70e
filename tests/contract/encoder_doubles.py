"""Test-only encoders: the ``HashingEncoder`` twin and the real packaged model, loaded once.

The twin is for contract and unit tests only; the product path always uses the transformers
encoder (``encoders.factory.build_encoder``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence

import numpy as np

from encoders.protocol import Vectors
from encoders.transformer import EncoderParts, load_parts

__all__ = ["HashingEncoder", "packaged_parts"]

_WORD = re.compile(r"\w+")


class HashingEncoder:
    """A deterministic bag-of-words twin: each lower-cased word adds ±1 at a hashed index.

    Texts sharing words get similar vectors, so engine tests can reason about similarity.
    ``calls`` records every ``encode`` argument (for "encoded once" assertions).
    """

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def model_id(self) -> str:
        """Stable id of the twin and its dimension."""
        return f"hashing-twin-v1:dim={self._dim}"

    def _row(self, text: str) -> Vectors:
        row = np.zeros(self._dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            row[value % self._dim] += 1.0 if (value >> 63) else -1.0
        norm = float(np.linalg.norm(row))
        if norm == 0.0:
            row[0] = 1.0
            return row
        return row / np.float32(norm)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit rows, one per text, in order."""
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._row(text)
        return out


@functools.cache
def packaged_parts() -> EncoderParts:
    """The packaged all-MiniLM-L6-v2 on CPU, loaded once per test process."""
    return load_parts(None, device="cpu")
