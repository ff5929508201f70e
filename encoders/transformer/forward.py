"""Forward step: one padded ``TokenBatch`` → token embeddings, on the model's device.

``Forward`` is the seam the encoder's OOM and fallback handling is tested through: tests inject
a forward that fails the way a GPU does. ``TorchForward`` is the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from transformers import PreTrainedModel

from encoders.transformer.tokens import TokenBatch

__all__ = ["Forward", "ModelLoader", "TorchForward"]

ModelLoader = Callable[[], PreTrainedModel]
"""Loads the model's weights afresh (float32, on CPU) from its directory."""


class Forward(Protocol):
    """Runs the transformer. Blocking; not thread-safe (one caller at a time)."""

    @property
    def device(self) -> torch.device:
        """Where the returned tensors live."""
        ...

    @property
    def dtype(self) -> torch.dtype:
        """Weights and activations dtype."""
        ...

    @property
    def hidden_size(self) -> int:
        """Last dimension of the token embeddings."""
        ...

    def __call__(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(token_embeddings (texts, tokens, hidden), attention_mask)``, both on ``device``.

        Raises whatever torch raises (``torch.OutOfMemoryError`` included): the encoder
        classifies it.
        """
        ...

    def release_memory(self) -> None:
        """Return cached device memory after an out-of-memory error (no-op on CPU)."""
        ...

    def to_cpu(self) -> Forward:
        """The same model on CPU in float32 (the GPU-unusable fallback)."""
        ...


class TorchForward:
    """A Hugging Face ``PreTrainedModel`` in eval mode under ``torch.inference_mode``.

    ``load_model`` is kept so that ``to_cpu`` reloads the float32 weights from disk: a model
    cast to half precision cannot be cast back losslessly, and a failed GPU may not hand its
    tensors back at all.
    """

    def __init__(
        self,
        load_model: ModelLoader,
        device: torch.device,
        dtype: torch.dtype,
        *,
        cpu_threads: int | None = None,
    ) -> None:
        if device.type == "cpu" and cpu_threads is not None:
            torch.set_num_threads(cpu_threads)
        model = load_model()
        self._load_model = load_model
        self._model = torch.nn.Module.to(model, device=device, dtype=dtype)
        self._model.train(False)  # eval mode: no dropout
        self._device = device
        self._dtype = dtype
        self._cpu_threads = cpu_threads
        self._hidden = int(model.config.hidden_size)
        self._pin = device.type == "cuda"

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """Weights and activations dtype."""
        return self._dtype

    @property
    def hidden_size(self) -> int:
        """The model's hidden size."""
        return self._hidden

    def _tensor(self, array: np.ndarray[tuple[int, int], np.dtype[np.int64]]) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self._pin:
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor

    def __call__(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings and the attention mask, on the model's device."""
        mask = self._tensor(batch.attention_mask)
        inputs = {"input_ids": self._tensor(batch.input_ids), "attention_mask": mask}
        if batch.token_type_ids is not None:
            inputs["token_type_ids"] = self._tensor(batch.token_type_ids)
        with torch.inference_mode():
            output = self._model(**inputs)
        hidden: torch.Tensor = output.last_hidden_state
        return hidden, mask

    def release_memory(self) -> None:
        """Empty the CUDA caching allocator (no-op on CPU)."""
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    def to_cpu(self) -> TorchForward:
        """This model reloaded on CPU in float32."""
        return TorchForward(
            self._load_model, torch.device("cpu"), torch.float32, cpu_threads=self._cpu_threads
        )
