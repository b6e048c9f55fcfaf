"""Shared helpers for the torch comparisons (torch is passed in, never imported here)."""

from __future__ import annotations

from typing import Any

import numpy as np

import tapegrad as tg


def to_torch(torch: Any, t: tg.Tensor, requires_grad: bool = False) -> Any:
    """A torch tensor with a copy of ``t``'s values."""
    out = torch.from_numpy(t.detach().numpy().copy())
    return out.requires_grad_(requires_grad)


def copy_weights(torch: Any, source: Any, dest: Any) -> None:
    """Load a tapegrad model's state_dict into a torch model with the same architecture."""
    dest.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in source.state_dict().items()}
    )


def assert_close(actual: Any, expected: Any, atol: float) -> None:
    """Max abs difference below ``atol`` (accepts tapegrad and torch tensors)."""
    a = actual.detach().numpy() if isinstance(actual, tg.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert a.shape == e.shape
    assert a.dtype == e.dtype
    np.testing.assert_allclose(a, e, rtol=0, atol=atol)


def tolerance(dtype: tg.dtype) -> float:
    """What "equal to torch" means: 1e-5 in float32, 1e-10 in float64."""
    return 1e-10 if dtype is tg.float64 else 1e-5
