"""Every pooling mode matches sentence-transformers' ``Pooling`` on padded batches."""

from __future__ import annotations

import pytest
import torch

from encoders.errors import EncoderConfigError
from encoders.transformer.model_config import POOLING_MODES
from encoders.transformer.pooling import Pooler


def _batch(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randn(3, 5, 4, generator=generator).to(dtype)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    return tokens, mask


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_mode_matches_sentence_transformers(mode: str) -> None:
    from sentence_transformers.sentence_transformer.modules import Pooling

    tokens, mask = _batch(torch.float32)
    reference = Pooling(4, pooling_mode=mode)(
        {"token_embeddings": tokens.clone(), "attention_mask": mask}
    )["sentence_embedding"]
    ours = Pooler([mode])(tokens, mask)
    expected = torch.nn.functional.normalize(reference.float(), dim=-1)
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-5)


def test_modes_concatenate_in_order_and_rows_are_unit() -> None:
    tokens, mask = _batch(torch.float32)
    pooler = Pooler(["cls", "mean"])
    out = pooler(tokens, mask)
    assert out.shape == (3, pooler.output_dim(4)) == (3, 8)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))


def test_half_precision_pools_in_float32() -> None:
    tokens, mask = _batch(torch.bfloat16)
    out = Pooler(["mean"])(tokens, mask)
    assert out.dtype == torch.float32
    reference = Pooler(["mean"])(tokens.float(), mask)
    torch.testing.assert_close(out, reference, atol=1e-6, rtol=1e-5)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(EncoderConfigError):
        Pooler(["median"])
    with pytest.raises(EncoderConfigError):
        Pooler([])
