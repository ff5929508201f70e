"""Item texts separate categories for the real sentence encoder (all-MiniLM-L6-v2)."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.factory import build_encoder
from encoders.item_text import compose_item_text
from encoders.settings import EncoderSettings
from streams.datasets import GeneratorParams, generate


@pytest.mark.slow
def test_the_real_encoder_tells_leaf_categories_apart() -> None:
    ds = generate(GeneratorParams(users=5, items=360, categories=4, seed=3))
    records = ds.catalog.records
    texts = [
        compose_item_text(r["title"], r["description"], r["category"], r["tags"]) for r in records
    ]
    vectors = build_encoder(EncoderSettings(device="cpu", cache_max_items=0)).encode(texts)
    leaf = ds.catalog.leaf
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argmax(sims, axis=1)
    tops = ds.taxonomy.leaf_tops()[leaf]
    assert np.mean(tops[nearest] == tops) > 0.97  # the nearest item: same top-level category
    assert np.mean(leaf[nearest] == leaf) > 0.75  # ... mostly the same leaf (measured 0.84)
    same = leaf[:, None] == leaf[None, :]
    off = ~np.eye(len(leaf), dtype=bool)
    within = sims[same & off].mean()
    other_top = tops[:, None] != tops[None, :]
    assert within > sims[other_top].mean() + 0.2
