"""Contract-suite fixtures: every implementation of a port, built once per session."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # models load from local directories only
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from encoders.transformer import EncoderParts, TransformerEncoder
from tests.contract.encoder_doubles import packaged_parts


@pytest.fixture(scope="session")
def packaged() -> EncoderParts:
    """The packaged model's tokenizer, CPU forward and pooler (loaded once per process)."""
    return packaged_parts()


@pytest.fixture(scope="session")
def real_encoder(packaged: EncoderParts) -> TransformerEncoder:
    """The real transformers encoder on CPU, shared by the session (do not mutate it)."""
    return TransformerEncoder(
        tokenizer=packaged.tokenizer,
        forward=packaged.forward,
        pooler=packaged.pooler,
        model_id=packaged.model_id,
    )
