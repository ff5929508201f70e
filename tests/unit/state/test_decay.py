"""Decay helpers: growth/decay are inverse, references only move forward."""

from __future__ import annotations

import doctest

import numpy as np

import state.decay
from state.decay import decay, growth, new_reference, rebase_factor


def test_doctests() -> None:
    assert doctest.testmod(state.decay).failed == 0


def test_growth_and_decay_are_inverse() -> None:
    assert float(growth(5000, 1000, 1000.0) * decay(4000, 1000.0)) == 1.0
    assert float(growth(1000, 1000, 7.0)) == 1.0
    assert float(decay(1000, 1000.0)) == 0.5


def test_rebase_keeps_values() -> None:
    h = 3600.0
    stored = 2.0 * growth(7200, 0, h)  # one event at t=7200, stored at t_ref=0
    moved = stored * rebase_factor(0, 7200, h)
    assert np.isclose(float(moved), 2.0)  # at the new reference it is the raw weight


def test_new_reference_moves_forward_only_past_the_bound() -> None:
    refs = new_reference(np.array([0, 0, 500]), np.array([10, 10_000, 100]), 100.0, 20.0)
    assert refs.tolist() == [0, 10_000, 500]
