"""Settings from the environment and the factory that turns them into the product encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from encoders.cache import CachedEncoder, MemoryEmbeddingCache
from encoders.disk_cache import DiskEmbeddingCache
from encoders.errors import DeviceError
from encoders.factory import build_cache, build_encoder
from encoders.protocol import TextEncoder
from encoders.settings import EncoderSettings
from encoders.transformer import TransformerEncoder


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IT_ENCODER_DEVICE", "cpu")
    monkeypatch.setenv("IT_ENCODER_DTYPE", "bfloat16")
    monkeypatch.setenv("IT_ENCODER_CPU_THREADS", "2")
    monkeypatch.setenv("IT_ENCODER_MAX_BATCH_SIZE", "32")
    monkeypatch.setenv("IT_ENCODER_CACHE_DIR", "/tmp/x")
    monkeypatch.setenv("IT_ENCODER_ITEM_TEXT_PARTS", '["{title}", "{tags}"]')
    settings = EncoderSettings()
    assert settings.device == "cpu"
    assert settings.dtype == "bfloat16"
    assert settings.cpu_threads == 2
    assert settings.max_batch_size == 32
    assert settings.cache_dir == Path("/tmp/x")
    assert settings.model_path is None
    assert settings.item_text_template().parts == ("{title}", "{tags}")


def test_build_encoder_cpu_with_disk_cache_and_metrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    settings = EncoderSettings(device="cpu", cache_dir=tmp_path / "cache", cache_max_items=10)
    encoder = build_encoder(settings, registry=registry)
    assert isinstance(encoder, CachedEncoder)
    assert isinstance(encoder, TextEncoder)
    inner = encoder.inner
    assert isinstance(inner, TransformerEncoder)
    assert inner.device.type == "cpu"
    out = encoder.encode(["red shoes", "red shoes", "blue hat"])
    again = encoder.encode(["blue hat"])
    np.testing.assert_array_equal(out[2], again[0])
    value = registry.get_sample_value
    assert value("interest_tracker_encoder_cache_hits_total") == 1
    assert value("interest_tracker_encoder_cache_misses_total") == 2
    assert value("interest_tracker_encoder_texts_total") == 2
    encoder.close()


def test_build_cache_variants(tmp_path: Path) -> None:
    assert build_cache(EncoderSettings(cache_max_items=0)) is None
    assert isinstance(build_cache(EncoderSettings()), MemoryEmbeddingCache)
    disk = build_cache(EncoderSettings(cache_dir=tmp_path))
    assert isinstance(disk, DiskEmbeddingCache)
    disk.close()


def test_cuda_without_a_gpu_is_a_device_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError):
        build_encoder(EncoderSettings(device="cuda", cache_max_items=0))
