"""Parity with sentence-transformers on the real packaged model (CPU): cosine >= 0.9999."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.transformer import EncoderParts, TransformerEncoder, packaged_model_dir

PARITY_TEXTS = [
    "Trail Runner 2. sports > shoes > running. waterproof, lightweight. A grippy trail shoe.",
    "red running shoes",
    "running shoes for flat feet",
    "wireless noise cancelling headphones",
    "cast iron skillet 12 inch",
    "How do I return an item I bought last week?",
    "organic green tea, 100 bags",
    "kids' winter jacket size 8",
    '4K HDR smart TV 55"',
    "USB-C charger 65W GaN",
    "",
    " ",
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé façade café naïve résumé",
    "東京 ラーメン 旨い",
    "emoji test 🎉🔥👟",
    "Numbers 1234567890 and symbols !@#$%^&*()",
    "UPPER CASE TITLE WITH MIXED case words",
    "tabs\tand\nnewlines\r\nin text",
    "home > kitchen > cookware",
    "gift ideas for dad who likes fishing",
    "laptop stand adjustable aluminium ergonomic",
    "yoga mat non slip extra thick",
    "bluetooth speaker waterproof outdoor",
    "vintage leather messenger bag",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 12,
    "shoe " * 300,
    "red running shoes",  # a duplicate
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(packaged_model_dir()), device="cpu", local_files_only=True)
    vectors = model.encode(PARITY_TEXTS, convert_to_numpy=True, batch_size=16)
    return np.asarray(vectors, dtype=np.float32)


def _min_cosine(ours: np.ndarray, ref: np.ndarray) -> float:
    ref_unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    return float((ours * ref_unit).sum(axis=1).min())


def test_matches_sentence_transformers(
    real_encoder: TransformerEncoder, reference: np.ndarray
) -> None:
    ours = real_encoder.encode(PARITY_TEXTS)
    assert ours.shape == reference.shape
    minimum = _min_cosine(ours, reference)
    print(f"parity min cosine vs sentence-transformers: {minimum:.7f}")
    assert minimum >= 0.9999


def test_parity_does_not_depend_on_batching(packaged: EncoderParts, reference: np.ndarray) -> None:
    tiny = TransformerEncoder(
        tokenizer=packaged.tokenizer,
        forward=packaged.forward,
        pooler=packaged.pooler,
        model_id=packaged.model_id,
        max_batch_size=3,
        token_budget=300,
        prefetch=True,
    )
    assert _min_cosine(tiny.encode(PARITY_TEXTS), reference) >= 0.9999
    tiny.close()


def test_max_length_follows_sentence_bert_config(real_encoder: TransformerEncoder) -> None:
    assert real_encoder.max_seq_length == 256  # sentence_bert_config.json, not the 512 of BERT
    assert "max_len=256" in real_encoder.model_id
    assert "pool=mean,norm=1" in real_encoder.model_id
    assert real_encoder.dim == 384
