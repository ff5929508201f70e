"""The ``TextEncoder`` port: text in, unit vectors out.

Contract (every implementation, and the contract tests in ``tests/contract``):

* ``encode(texts)`` returns a C-contiguous ``float32`` array of shape ``(len(texts), dim)``,
  row ``i`` for ``texts[i]`` (the caller's order), each row L2-normalised (norm 1 ± 1e-5; an
  empty string still gets a unit vector). ``encode([])`` returns shape ``(0, dim)``.
* It is deterministic for a given model, device and dtype, and blocking: call it from a worker
  thread (``encoders.batching.AsyncEncoder``) when an event loop must keep running.
* ``model_id`` names the model and everything that changes its vectors (pooling, normalisation,
  max length); caches key vectors by it.
* Errors: ``EncoderError`` (``encoders.errors``) for anything the caller cannot fix by retrying.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["TextEncoder", "Vectors"]

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class TextEncoder(Protocol):
    """Turns texts into L2-normalised ``float32`` vectors of a fixed dimension."""

    @property
    def dim(self) -> int:
        """The vector dimension."""
        ...

    @property
    def model_id(self) -> str:
        """A stable name of the model and its output-affecting options."""
        ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Vectors for ``texts``, shape ``(len(texts), dim)``, in the caller's order."""
        ...
