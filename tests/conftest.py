"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tapegrad


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same random state."""
    tapegrad.manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(1234)


def _outcomes(calls: dict[str, Callable[[], object]]) -> dict[str, str]:
    """Run each call: "ok", or the error's type and message (``torch.`` written as
    ``tapegrad.``, the one spelling tapegrad's messages change)."""
    found = {}
    for name, call in calls.items():
        try:
            call()
            found[name] = "ok"
        except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as exc:
            found[name] = f"{type(exc).__name__}: {exc}".replace("torch.", "tapegrad.")
    return found


@pytest.fixture
def call_outcomes() -> Callable[[dict[str, Callable[[], object]]], dict[str, str]]:
    """Compare error behaviour with torch: ``call_outcomes({name: call})`` on each library."""
    return _outcomes
