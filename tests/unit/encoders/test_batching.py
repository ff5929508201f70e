"""Batching properties: every text once, chunks within budget, the caller's order restored."""

from __future__ import annotations

import doctest

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import encoders.batching
from encoders.batching import dedupe, plan_chunks, restore_order
from encoders.transformer import EncoderParts, TransformerEncoder
from tests.unit.encoders.fakes import TableForward

lengths_st = st.lists(st.integers(min_value=0, max_value=512), max_size=200)
budget_st = st.integers(min_value=1, max_value=5000)
batch_st = st.integers(min_value=1, max_value=64)
fill_st = st.sampled_from([0.0, 0.25, 0.5, 1.0])
words = st.sampled_from(["red", "shoe", "run", "jacket", "", "東京", "🎉", "rain", "x" * 30])
texts_st = st.lists(st.lists(words, max_size=40).map(" ".join), max_size=60)


def test_doctests() -> None:
    assert doctest.testmod(encoders.batching).failed == 0


@given(lengths_st, budget_st, batch_st, fill_st)
def test_chunks_cover_every_index_once(
    lengths: list[int], budget: int, batch: int, fill: float
) -> None:
    chunks = plan_chunks(lengths, token_budget=budget, max_batch_size=batch, min_fill=fill)
    flat = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.intp)
    assert sorted(flat.tolist()) == list(range(len(lengths)))


@given(lengths_st, budget_st, batch_st, fill_st)
def test_chunks_within_budget_and_batch_cap(
    lengths: list[int], budget: int, batch: int, fill: float
) -> None:
    sizes = np.asarray(lengths, dtype=np.int64)
    for chunk in plan_chunks(lengths, token_budget=budget, max_batch_size=batch, min_fill=fill):
        assert 1 <= len(chunk) <= batch
        longest = max(1, int(sizes[chunk].max()))
        assert len(chunk) == 1 or len(chunk) * longest <= budget
        assert (sizes[chunk] >= fill * sizes[chunk].max()).all()


@given(lengths_st, budget_st, batch_st)
def test_chunks_are_longest_first(lengths: list[int], budget: int, batch: int) -> None:
    sizes = np.asarray(lengths, dtype=np.int64)
    flat = [i for c in plan_chunks(lengths, token_budget=budget, max_batch_size=batch) for i in c]
    assert (np.diff(sizes[flat]) <= 0).all()


@given(st.lists(st.sampled_from(["a", "b", "c", "", "é"]), max_size=50))
def test_dedupe_then_restore_is_identity(texts: list[str]) -> None:
    unique, inverse = dedupe(texts)
    assert len(unique) == len(set(texts))
    assert [unique[i] for i in inverse] == texts
    table = {t: float(i) for i, t in enumerate(sorted(set(texts)))}
    vectors = np.array([[table[t]] for t in unique], dtype=np.float32).reshape(-1, 1)
    restored = restore_order(vectors, inverse)
    assert restored.flags.c_contiguous
    assert restored.reshape(-1).tolist() == [table[t] for t in texts]


@settings(max_examples=40, deadline=None)
@given(texts_st, st.integers(1, 16), st.integers(1, 400), st.booleans())
def test_encoder_restores_order_encodes_duplicates_once_within_budget(
    packaged: EncoderParts, texts: list[str], batch: int, budget: int, prefetch: bool
) -> None:
    forward = TableForward()
    encoder = TransformerEncoder(
        tokenizer=packaged.tokenizer,
        forward=forward,
        pooler=packaged.pooler,
        model_id="table",
        max_batch_size=batch,
        token_budget=budget,
        prefetch=prefetch,
    )
    out = encoder.encode(texts)
    assert out.shape == (len(texts), forward.hidden_size)
    # duplicates encoded once: the forward saw exactly the distinct texts
    assert sum(n for n, _ in forward.shapes) == len(set(texts))
    # every pass within the batch cap and, unless a lone text, the token budget
    for n, longest in forward.shapes:
        assert n <= batch
        assert n == 1 or n * longest <= budget
    # the caller's order: each row is that text encoded alone
    for i, text in enumerate(texts):
        np.testing.assert_allclose(out[i], encoder.encode([text])[0], atol=1e-5)
    encoder.close()
