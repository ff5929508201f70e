"""The settings object: a renamed variable stops the start instead of being ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings


def test_the_state_cache_budget_is_read_in_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IT_STATE_CACHE_MB", "64")
    assert Settings().state_cache_mb == 64.0


def test_the_old_state_cache_variable_names_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IT_STATE_CACHE_USERS", "0")
    with pytest.raises(ValidationError, match="IT_STATE_CACHE_MB"):
        Settings()


def test_every_setting_is_documented_with_its_variable() -> None:
    ops = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [n for n in Settings.model_fields if f"`IT_{n.upper()}`" not in ops]
    assert not missing, f"not in docs/operations.md's settings table: {missing}"
