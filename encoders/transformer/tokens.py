"""Tokenize step: texts → token ids (truncated), and ids → one padded batch (numpy, no torch).

Tokenizing once per call (not per batch) gives the lengths that batching sorts and chunks by;
padding happens per chunk, to the chunk's longest text only.

Texts go straight to the Rust tokenizer behind the Hugging Face one (a copy, truncating the
same way; ``encode_batch_fast``: no character offsets), in parallel on every core and without
``transformers``' per-text Python dicts: the same ids, 1.6x the texts/s on 2 cores, and what
bounds encoding on a GPU (``bench/encoder.py``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import normalizers
from transformers import PreTrainedTokenizerBase

from encoders.errors import ModelLoadError

__all__ = ["TokenBatch", "Tokenizer"]

logger = logging.getLogger(__name__)

Ids = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TokenBatch:
    """One padded batch (right padding): ``input_ids``, ``attention_mask`` and, for models that
    take them, all-zero ``token_type_ids``; all ``int64`` of shape ``(texts, longest)``."""

    input_ids: Ids
    attention_mask: Ids
    token_type_ids: Ids | None

    @property
    def padded_tokens(self) -> int:
        """Texts × longest: the tokens the forward pass computes."""
        return int(self.input_ids.size)


class Tokenizer:
    """A fast Hugging Face tokenizer configured the way sentence-transformers would.

    ``max_length`` counts special tokens; ``prompt`` is prepended to every text;
    ``lowercase`` adds a ``Lowercase`` normalizer if the tokenizer lacks one. ``direct``
    (default) encodes through a copy of the Rust tokenizer; ``False`` through the Hugging Face
    call, the path a tokenizer that cannot be copied takes anyway (same ids, slower).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        prompt: str = "",
        lowercase: bool = False,
        direct: bool = True,
    ) -> None:
        if not tokenizer.is_fast:
            raise ModelLoadError(f"{type(tokenizer).__name__} is not a fast tokenizer")
        if max_length < 2:
            raise ModelLoadError(f"max_length must be >= 2, got {max_length}")
        if tokenizer.pad_token_id is None:
            raise ModelLoadError(f"{type(tokenizer).__name__} has no padding token")
        if lowercase:
            _add_lowercase(tokenizer)
        self._tokenizer = tokenizer
        self._backend = _truncating_copy(tokenizer, max_length) if direct else None
        self._max_length = max_length
        self._prompt = prompt
        self._pad_id = int(tokenizer.pad_token_id)
        self._with_types = "token_type_ids" in tokenizer.model_input_names

    @property
    def max_length(self) -> int:
        """Longest token sequence fed to the model (texts are truncated to it)."""
        return self._max_length

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, special tokens included, truncated to ``max_length``."""
        if not texts:
            return []
        batch = [self._prompt + t for t in texts] if self._prompt else list(texts)
        if self._backend is not None:
            encoded = self._backend.encode_batch_fast(batch, add_special_tokens=True)
            return [e.ids for e in encoded]
        ids: list[list[int]] = self._tokenizer(
            batch,
            add_special_tokens=True,
            truncation=True,
            max_length=self._max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return ids

    def pad(self, ids: Sequence[Sequence[int]]) -> TokenBatch:
        """One right-padded batch of ``ids`` (at least one sequence)."""
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        longest = int(lengths.max())
        mask = (np.arange(longest)[None, :] < lengths[:, None]).astype(np.int64)
        input_ids = np.full((len(ids), longest), self._pad_id, dtype=np.int64)
        input_ids[mask.astype(bool)] = np.fromiter(
            itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum())
        )
        types = np.zeros_like(input_ids) if self._with_types else None
        return TokenBatch(input_ids=input_ids, attention_mask=mask, token_type_ids=types)


def _truncating_copy(tokenizer: PreTrainedTokenizerBase, max_length: int) -> RustTokenizer | None:
    """A copy of the Rust tokenizer that encodes as ``tokenizer(..., truncation=True,
    max_length=...)`` does: it truncates the same way (special tokens counted), never pads,
    and splits special-token text when ``tokenizer.split_special_tokens`` is set (as read now:
    the Hugging Face call applies it at each call). ``None`` when the tokenizer cannot be
    copied (a component written in Python, such as RoFormer's Jieba pre-tokenizer, is not
    serialisable): the Hugging Face call is used then."""
    try:
        backend = RustTokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    except Exception as exc:  # tokenizers raises a bare Exception for custom components
        logger.info("tokenizing through the Hugging Face call: cannot copy the tokenizer (%s)", exc)
        return None
    backend.enable_truncation(
        max_length, strategy="longest_first", direction=tokenizer.truncation_side
    )
    backend.no_padding()
    backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
    return backend


def _add_lowercase(tokenizer: PreTrainedTokenizerBase) -> None:
    backend = tokenizer.backend_tokenizer
    current = backend.normalizer
    members: list[Any] = (
        list(cast("Iterable[Any]", current))
        if isinstance(current, normalizers.Sequence)
        else [current]
    )
    if any(isinstance(n, normalizers.Lowercase) for n in members):
        return
    chain = [normalizers.Lowercase(), *(n for n in members if n is not None)]
    backend.normalizer = normalizers.Sequence(chain)
