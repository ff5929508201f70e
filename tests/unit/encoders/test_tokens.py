"""``Tokenizer``: the Rust fast path gives exactly the ids of the Hugging Face call."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers.pre_tokenizers import PreTokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from encoders.transformer import packaged_model_dir
from encoders.transformer.tokens import Tokenizer


@functools.cache
def hf_tokenizer() -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(packaged_model_dir()), local_files_only=True)


def hf_ids(texts: list[str], max_length: int, prompt: str = "") -> list[list[int]]:
    """The reference: the Hugging Face tokenizer's own call, as sentence-transformers makes it."""
    encoded = hf_tokenizer()(
        [prompt + t for t in texts],
        add_special_tokens=True,
        truncation=True,
        max_length=max_length,
        padding=False,
    )
    ids: list[list[int]] = encoded["input_ids"]
    return ids


TEXTS = [
    "",
    " ",
    "Trail running shoes, waterproof — size 42",
    "ÜBER straße naïve café 東京 😀 emoji \t tabs\nnewlines",
    "word " * 400,
    "a" * 3000,
    "[CLS] [SEP] [PAD] [MASK] special tokens in text",
]


@pytest.mark.parametrize("max_length", [2, 8, 128, 256])
@pytest.mark.parametrize("prompt", ["", "query: "])
def test_ids_match_the_hugging_face_call(max_length: int, prompt: str) -> None:
    tokenizer = Tokenizer(hf_tokenizer(), max_length=max_length, prompt=prompt)
    ours = tokenizer.encode(TEXTS)
    assert ours == hf_ids(TEXTS, max_length, prompt)
    through_hf = Tokenizer(hf_tokenizer(), max_length=max_length, prompt=prompt, direct=False)
    assert through_hf.encode(TEXTS) == ours
    assert max(len(x) for x in ours) <= max_length


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=8), st.integers(2, 64))
def test_ids_match_on_any_text(texts: list[str], max_length: int) -> None:
    tokenizer = Tokenizer(hf_tokenizer(), max_length=max_length)
    assert tokenizer.encode(texts) == hf_ids(texts, max_length)


def test_split_special_tokens_is_followed() -> None:
    texts = ["[SEP] red shoes [MASK]", "[CLS] hi [SEP] there"]
    split = AutoTokenizer.from_pretrained(
        str(packaged_model_dir()), local_files_only=True, split_special_tokens=True
    )
    ours = Tokenizer(split, max_length=32).encode(texts)
    reference = split(texts, truncation=True, max_length=32)["input_ids"]
    assert ours == reference
    assert ours != Tokenizer(hf_tokenizer(), max_length=32).encode(texts)  # the flag matters


def test_a_tokenizer_that_cannot_be_copied_uses_the_hugging_face_call() -> None:
    class Whole:
        def pre_tokenize(self, pretok: Any) -> None:
            pretok.split(lambda _i, s: [s])

    custom = AutoTokenizer.from_pretrained(str(packaged_model_dir()), local_files_only=True)
    custom.backend_tokenizer.pre_tokenizer = PreTokenizer.custom(Whole())
    with pytest.raises(Exception, match="cannot be serialized"):
        custom.backend_tokenizer.to_str()
    texts = ["hello world", "x" * 50, ""]
    reference = custom(texts, truncation=True, max_length=8)["input_ids"]
    assert Tokenizer(custom, max_length=8).encode(texts) == reference


def test_no_texts_gives_no_ids() -> None:
    assert Tokenizer(hf_tokenizer(), max_length=16).encode([]) == []


def test_pad_right_pads_to_the_longest() -> None:
    tokenizer = Tokenizer(hf_tokenizer(), max_length=16)
    batch = tokenizer.pad([[101, 7, 102], [101, 102], [101, 5, 6, 7, 102]])
    pad = hf_tokenizer().pad_token_id
    np.testing.assert_array_equal(
        batch.input_ids,
        [[101, 7, 102, pad, pad], [101, 102, pad, pad, pad], [101, 5, 6, 7, 102]],
    )
    np.testing.assert_array_equal(batch.attention_mask, [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1] * 5])
    assert batch.token_type_ids is not None
    assert not batch.token_type_ids.any()
    assert batch.padded_tokens == 15
