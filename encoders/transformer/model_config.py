"""A model directory's sentence-transformers configuration, read as plain data (no torch).

What sentence-transformers would do with the directory is what we do:

* ``modules.json`` lists the modules; supported: one ``Transformer`` (first), one ``Pooling``,
  an optional ``Normalize``. Anything else (``Dense``, ``LayerNorm``, ...) changes the vectors
  in ways we do not reproduce, so it is refused (``ModelLoadError``). No ``modules.json``: a
  plain Hugging Face model, mean pooling (sentence-transformers' own default).
* ``<transformer path>/sentence_bert_config.json``: ``max_seq_length``, ``do_lower_case``.
* ``<pooling path>/config.json``: the pooling mode(s), new (``pooling_mode``) or legacy
  (``pooling_mode_*_tokens`` booleans) format.
* ``config_sentence_transformers.json``: the default prompt (``default_prompt_name`` in
  ``prompts``), prepended to every text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoders.errors import ModelLoadError

__all__ = ["POOLING_MODES", "SentenceModelConfig", "read_sentence_config"]

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_LEGACY = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True, slots=True)
class SentenceModelConfig:
    """How a directory's transformer output becomes a sentence vector."""

    transformer_dir: Path
    pooling: tuple[str, ...] = ("mean",)
    normalize: bool = False
    max_seq_length: int | None = None
    do_lower_case: bool = False
    prompt: str = ""

    def describe(self) -> str:
        """The output-affecting options, for a model id (``pool=mean,norm=1,lower=0,...``)."""
        return (
            f"pool={'+'.join(self.pooling)},norm={int(self.normalize)},"
            f"lower={int(self.do_lower_case)},prompt={len(self.prompt)}"
        )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc


def _module_kind(entry: dict[str, Any]) -> str:
    return str(entry.get("type", "")).rsplit(".", 1)[-1]


def _pooling_modes(config: dict[str, Any], where: Path) -> tuple[str, ...]:
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(m for key, m in _LEGACY.items() if config.get(key, False)) or ("mean",)
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise ModelLoadError(f"{where}: unsupported pooling mode(s) {unknown}")
    if not config.get("include_prompt", True):
        raise ModelLoadError(f"{where}: include_prompt=false is not supported")
    return modes


def _prompt(model_dir: Path) -> str:
    path = model_dir / "config_sentence_transformers.json"
    if not path.is_file():
        return ""
    config = _json(path)
    name = config.get("default_prompt_name")
    if not name:
        return ""
    prompts = config.get("prompts") or {}
    if name not in prompts:
        raise ModelLoadError(f"{path}: default prompt {name!r} is not in prompts")
    return str(prompts[name])


def read_sentence_config(model_dir: Path) -> SentenceModelConfig:
    """The sentence-transformers configuration of ``model_dir`` (see the module docstring)."""
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():
        return SentenceModelConfig(transformer_dir=model_dir)
    modules = sorted(_json(modules_path), key=lambda m: int(m.get("idx", 0)))
    kinds = [_module_kind(m) for m in modules]
    if not kinds or kinds[0] != "Transformer":
        raise ModelLoadError(f"{modules_path}: the first module must be a Transformer")
    unsupported = sorted(set(kinds) - {"Transformer", "Pooling", "Normalize"})
    if unsupported or kinds.count("Pooling") != 1 or kinds.count("Transformer") != 1:
        raise ModelLoadError(
            f"{modules_path}: modules {kinds} are not supported "
            "(one Transformer, one Pooling, an optional Normalize)"
        )
    transformer_dir = model_dir / str(modules[0].get("path", ""))
    pooling_entry = modules[kinds.index("Pooling")]
    pooling_dir = model_dir / str(pooling_entry.get("path", ""))
    pooling = (
        _pooling_modes(_json(pooling_dir / "config.json"), pooling_dir)
        if (pooling_dir / "config.json").is_file()
        else ("mean",)
    )
    sbert_path = transformer_dir / "sentence_bert_config.json"
    sbert = _json(sbert_path) if sbert_path.is_file() else {}
    max_len = sbert.get("max_seq_length")
    return SentenceModelConfig(
        transformer_dir=transformer_dir,
        pooling=pooling,
        normalize="Normalize" in kinds,
        max_seq_length=int(max_len) if max_len is not None else None,
        do_lower_case=bool(sbert.get("do_lower_case", False)),
        prompt=_prompt(model_dir),
    )
