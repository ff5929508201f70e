"""The transformer encoder's failure handling, with injected failing forwards (no GPU needed)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from prometheus_client import CollectorRegistry

from encoders.errors import EncodeError, EncoderClosedError
from encoders.metrics import EncoderMetrics
from encoders.transformer import EncoderParts, TransformerEncoder
from encoders.transformer.forward import Forward
from encoders.transformer.tokens import TokenBatch
from tests.unit.encoders.fakes import FlakyForward, TableForward

TEXTS = [f"item number {i} " + "word " * (i % 7) for i in range(40)]


def _encoder(
    packaged: EncoderParts,
    forward: Forward,
    *,
    metrics: EncoderMetrics | None = None,
    fallback: bool = True,
    batch: int = 16,
) -> TransformerEncoder:
    return TransformerEncoder(
        tokenizer=packaged.tokenizer,
        forward=forward,
        pooler=packaged.pooler,
        model_id="test-model",
        max_batch_size=batch,
        token_budget=100_000,
        fallback_to_cpu=fallback,
        prefetch=False,
        metrics=metrics,
    )


def _value(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    return 0.0 if value is None else value


def test_oom_halves_the_batch_and_retries(packaged: EncoderParts) -> None:
    registry = CollectorRegistry()
    flaky = FlakyForward(TableForward(), oom_above=4)
    encoder = _encoder(packaged, flaky, metrics=EncoderMetrics(registry))
    out = encoder.encode(TEXTS)
    expected = _encoder(packaged, TableForward()).encode(TEXTS)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert encoder.limits.max_batch_size <= 4  # halved for good: 16 -> 8 -> 4
    assert _value(registry, "interest_tracker_encoder_oom_retries_total") == 2
    assert flaky.released == 2
    assert flaky.moved_to_cpu == 0
    assert encoder.device.type == "cuda"
    flaky.sizes.clear()
    encoder.encode([f"again {i}" for i in range(10)])
    assert max(flaky.sizes) <= 4  # no new OOM: the smaller limits stick


def test_unusable_gpu_falls_back_to_cpu_once(
    packaged: EncoderParts, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    cpu = TableForward()
    flaky = FlakyForward(TableForward(), broken=True, cpu=cpu)
    encoder = _encoder(packaged, flaky, metrics=EncoderMetrics(registry))
    with caplog.at_level(logging.ERROR, logger="encoders.transformer.encoder"):
        first = encoder.encode(TEXTS)
        second = encoder.encode(TEXTS[::-1])
    expected = _encoder(packaged, TableForward()).encode(TEXTS)
    np.testing.assert_allclose(first, expected, atol=1e-6)
    np.testing.assert_allclose(second, expected[::-1], atol=1e-6)
    assert encoder.device.type == "cpu"
    assert flaky.moved_to_cpu == 1
    assert len([r for r in caplog.records if "moves to CPU" in r.getMessage()]) == 1
    assert _value(registry, "interest_tracker_encoder_device_fallbacks_total") == 1
    assert encoder.limits.max_batch_size == 16  # explicit limits survive the move


def test_oom_on_a_single_text_means_the_gpu_is_unusable(packaged: EncoderParts) -> None:
    registry = CollectorRegistry()
    flaky = FlakyForward(TableForward(), oom_above=0)
    encoder = _encoder(packaged, flaky, metrics=EncoderMetrics(registry))
    out = encoder.encode(TEXTS[:5])
    assert out.shape == (5, 8)
    assert encoder.device.type == "cpu"
    assert _value(registry, "interest_tracker_encoder_device_fallbacks_total") == 1
    assert _value(registry, "interest_tracker_encoder_oom_retries_total") >= 1


def test_without_fallback_a_broken_gpu_raises_encode_error(packaged: EncoderParts) -> None:
    encoder = _encoder(packaged, FlakyForward(TableForward(), broken=True), fallback=False)
    with pytest.raises(EncodeError, match="fallback is off") as info:
        encoder.encode(["x"])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_failure_on_cpu_is_wrapped(packaged: EncoderParts) -> None:
    class Broken(TableForward):
        def __call__(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
            raise ValueError("bad input")

    encoder = _encoder(packaged, Broken())
    with pytest.raises(EncodeError, match="bad input") as info:
        encoder.encode(["x"])
    assert isinstance(info.value.__cause__, ValueError)


def test_batch_metrics_are_recorded(
    real_encoder: TransformerEncoder, packaged: EncoderParts
) -> None:
    registry = CollectorRegistry()
    encoder = _encoder(packaged, packaged.forward, metrics=EncoderMetrics(registry), batch=8)
    encoder.encode(TEXTS + TEXTS[:3])
    assert _value(registry, "interest_tracker_encoder_texts_total") == len(TEXTS)
    assert _value(registry, "interest_tracker_encoder_batch_size_count") >= len(TEXTS) / 8
    assert _value(registry, "interest_tracker_encoder_batch_latency_seconds_sum") > 0
    assert _value(registry, "interest_tracker_encoder_batch_tokens_sum") >= len(TEXTS) * 3


def test_closed_encoder_refuses(packaged: EncoderParts) -> None:
    encoder = _encoder(packaged, TableForward())
    encoder.close()
    encoder.close()
    with pytest.raises(EncoderClosedError):
        encoder.encode(["x"])


def test_real_model_empty_and_long_inputs(real_encoder: TransformerEncoder) -> None:
    out = real_encoder.encode(["", "word " * 5000])
    assert out.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert real_encoder.encode([]).shape == (0, 384)
