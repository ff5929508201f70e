"""Pool step: token embeddings → one L2-normalised float32 vector per text.

Mirrors sentence-transformers' ``Pooling`` (padded inputs, right padding, no prompt
exclusion) for the modes in ``model_config.POOLING_MODES``; several modes concatenate in the
given order. Sums accumulate in float32 whatever the model's dtype. The result is always
L2-normalised (the ``TextEncoder`` contract), which equals sentence-transformers' output for
models with a ``Normalize`` module and differs only by scale for the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from encoders.errors import EncoderConfigError
from encoders.transformer.model_config import POOLING_MODES

__all__ = ["Pooler"]


class Pooler:
    """Pools ``(texts, tokens, hidden)`` embeddings with an ``attention_mask`` of 0/1."""

    def __init__(self, modes: Sequence[str]) -> None:
        unknown = [m for m in modes if m not in POOLING_MODES]
        if not modes or unknown:
            raise EncoderConfigError(f"pooling modes {list(modes)} (known: {POOLING_MODES})")
        self._modes = tuple(modes)

    @property
    def modes(self) -> tuple[str, ...]:
        """The pooling modes, in concatenation order."""
        return self._modes

    def output_dim(self, hidden_size: int) -> int:
        """Vector dimension for a model of ``hidden_size``."""
        return hidden_size * len(self._modes)

    def __call__(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(texts, hidden * len(modes))`` float32, each row of norm 1, on ``tokens.device``."""
        mask = attention_mask.to(device=tokens.device, dtype=torch.float32).unsqueeze(-1)
        parts = [self._pool(mode, tokens, mask) for mode in self._modes]
        pooled = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)

    @staticmethod
    def _pool(mode: str, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if mode == "cls":
            return tokens[:, 0].float()
        if mode == "max":
            return tokens.float().masked_fill(mask == 0, float("-inf")).amax(dim=1)
        if mode == "lasttoken":
            last = (mask.squeeze(-1).sum(dim=1).long() - 1).clamp(min=0)
            return tokens[torch.arange(tokens.shape[0], device=tokens.device), last].float()
        if mode == "weightedmean":
            positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device)
            weights = mask * positions.to(torch.float32).view(1, -1, 1)
            total = (tokens * weights).sum(dim=1, dtype=torch.float32)
            return total / weights.sum(dim=1).clamp(min=1e-9)
        total = (tokens * mask.to(tokens.dtype)).sum(dim=1, dtype=torch.float32)
        count = mask.sum(dim=1).clamp(min=1e-9)
        return total / (count if mode == "mean" else count.sqrt())
