"""Shared test fixtures."""

from __future__ import annotations

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
