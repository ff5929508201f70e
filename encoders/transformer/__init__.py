"""The transformers-backed ``TextEncoder``: the only place torch and transformers are imported.

Steps kept apart: ``tokens`` (tokenize, pad), ``forward`` (the model), ``pooling`` (pool and
normalise), orchestrated by ``encoder``; ``model_config`` reads the sentence-transformers
files, ``device`` picks device and dtype, ``loader`` builds it all offline.
"""

from encoders.transformer.encoder import TransformerEncoder
from encoders.transformer.loader import (
    PACKAGED_MODEL_NAME,
    EncoderParts,
    load_parts,
    load_transformer_encoder,
    packaged_model_dir,
)

__all__ = [
    "PACKAGED_MODEL_NAME",
    "EncoderParts",
    "TransformerEncoder",
    "load_parts",
    "load_transformer_encoder",
    "packaged_model_dir",
]
