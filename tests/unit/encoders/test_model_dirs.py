"""Any local model directory works by configuration, following its sentence-transformers files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoders.errors import ModelLoadError
from encoders.transformer import load_transformer_encoder, packaged_model_dir
from encoders.transformer.model_config import read_sentence_config

TEXTS = ["red running shoes", "", "How do I return an item?", "shoe " * 100]
_WEIGHTS_AND_TOKENIZER = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def _link_model(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in _WEIGHTS_AND_TOKENIZER:
        (target / name).symlink_to(packaged_model_dir() / name)
    return target


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def custom_dir(tmp_path: Path) -> Path:
    """The packaged weights with a different sentence-transformers configuration."""
    model = _link_model(tmp_path / "custom-minilm")
    _write(
        model / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pool",
                "type": "sentence_transformers.models.Pooling",
            },
        ],
    )
    _write(model / "1_Pool" / "config.json", {"embedding_dimension": 384, "pooling_mode": "cls"})
    _write(model / "sentence_bert_config.json", {"max_seq_length": 16, "do_lower_case": True})
    _write(
        model / "config_sentence_transformers.json",
        {"prompts": {"query": "query: "}, "default_prompt_name": "query"},
    )
    return model


def test_custom_directory_follows_its_config_like_sentence_transformers(custom_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    encoder = load_transformer_encoder(custom_dir, device="cpu")
    assert encoder.max_seq_length == 16
    assert encoder.model_id.startswith("custom-minilm@")
    assert "pool=cls,norm=0,lower=1,prompt=7" in encoder.model_id
    ours = encoder.encode(TEXTS)
    ref = SentenceTransformer(str(custom_dir), device="cpu", local_files_only=True).encode(TEXTS)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    assert float((ours * ref).sum(axis=1).min()) >= 0.9999


def test_plain_hugging_face_directory_gets_mean_pooling(tmp_path: Path) -> None:
    model = _link_model(tmp_path / "plain")
    config = read_sentence_config(model)
    assert config.pooling == ("mean",)
    assert not config.normalize
    encoder = load_transformer_encoder(model, device="cpu", name="plain-bert")
    assert encoder.max_seq_length == 512  # tokenizer limit capped by position embeddings
    assert encoder.model_id.startswith("plain-bert@")
    out = encoder.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_changed_weights_change_the_model_id(tmp_path: Path, custom_dir: Path) -> None:
    plain = _link_model(tmp_path / "custom-minilm-2")
    (plain / "config.json").unlink()
    config = json.loads((packaged_model_dir() / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    _write(plain / "config.json", config)
    a = load_transformer_encoder(custom_dir, device="cpu", name="x")
    b = load_transformer_encoder(plain, device="cpu", name="x")
    assert a.model_id.split(":")[0] != b.model_id.split(":")[0]


def test_missing_directory_is_never_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no hub downloads"):
        load_transformer_encoder(Path("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_transformer_encoder(tmp_path, device="cpu")


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        ([{"type": "sentence_transformers.models.Pooling", "path": "p"}], "first module"),
        (
            [
                {"idx": 0, "type": "sentence_transformers.models.Transformer", "path": ""},
                {"idx": 1, "type": "sentence_transformers.models.Pooling", "path": "p"},
                {"idx": 2, "type": "sentence_transformers.models.Dense", "path": "d"},
            ],
            "not supported",
        ),
        (
            [{"idx": 0, "type": "sentence_transformers.models.Transformer", "path": ""}],
            "not supported",
        ),
    ],
)
def test_unsupported_module_lists_are_refused(
    tmp_path: Path, modules: list[dict[str, object]], message: str
) -> None:
    _write(tmp_path / "modules.json", modules)
    with pytest.raises(ModelLoadError, match=message):
        read_sentence_config(tmp_path)


def test_legacy_pooling_flags_and_prompt_checks(tmp_path: Path) -> None:
    _write(
        tmp_path / "modules.json",
        [
            {"idx": 0, "type": "sentence_transformers.models.Transformer", "path": ""},
            {"idx": 1, "type": "sentence_transformers.models.Pooling", "path": "1_Pooling"},
            {"idx": 2, "type": "sentence_transformers.models.Normalize", "path": "2_Normalize"},
        ],
    )
    _write(
        tmp_path / "1_Pooling" / "config.json",
        {"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True},
    )
    config = read_sentence_config(tmp_path)
    assert config.pooling == ("cls", "max")
    assert config.normalize
    assert config.max_seq_length is None
    _write(tmp_path / "config_sentence_transformers.json", {"default_prompt_name": "nope"})
    with pytest.raises(ModelLoadError, match="default prompt"):
        read_sentence_config(tmp_path)
    _write(tmp_path / "1_Pooling" / "config.json", {"pooling_mode": "median"})
    with pytest.raises(ModelLoadError, match="unsupported pooling"):
        read_sentence_config(tmp_path)


def test_packaged_config_is_read_as_sentence_transformers_does() -> None:
    config = read_sentence_config(packaged_model_dir())
    assert config.pooling == ("mean",)
    assert config.normalize  # modules.json lists a Normalize (its folder need not exist)
    assert config.max_seq_length == 256
    assert not config.do_lower_case
    assert config.prompt == ""
