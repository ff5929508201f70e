"""The examples in the docstrings run, and say what they do (one had gone stale unseen)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "encoders", "state")


def _modules_with_examples() -> list[str]:
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    return [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in paths
        if ">>> " in p.read_text(encoding="utf-8")
    ]


MODULES = _modules_with_examples()


def test_the_examples_are_found() -> None:
    assert "streams.evaluation.drift" in MODULES
    assert len(MODULES) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example that doctest runs"
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed (see above)"
