"""CUDA checks of the real encoder; skipped where torch sees no GPU (CI runs them on GPU hosts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoders.transformer import TransformerEncoder, load_transformer_encoder
from tests.unit.encoders.test_parity import PARITY_TEXTS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_on_cuda_matches_cpu(real_encoder: TransformerEncoder, dtype: str) -> None:
    encoder = load_transformer_encoder(device="cuda", dtype=dtype)
    assert encoder.device.type == "cuda"
    texts = [f"{i} {t}" for i in range(100) for t in PARITY_TEXTS]  # several full batches
    ours = encoder.encode(texts)
    sample = slice(0, 3 * len(PARITY_TEXTS))
    cosine = (ours[sample] * real_encoder.encode(texts[sample])).sum(axis=1)
    assert float(cosine.min()) >= 0.999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    encoder.close()
