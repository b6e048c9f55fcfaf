"""Training steps built twice from the same seed: one run eagerly, one under compile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad as tg


def mlp(
    widths: tuple[int, ...],
    activation: str = "relu",
    loss: str = "sum",
    n: int = 20,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[Callable[[], Any], list[Any], dict[str, Any]]:
    """The blog's raw loop: ``(step, params, state)``; ``state`` holds x, y and lr."""
    rng = np.random.default_rng(seed)
    x = tg.from_numpy(rng.standard_normal((n, widths[0])).astype(np.float32))
    y = tg.from_numpy(rng.standard_normal((n, widths[-1])).astype(np.float32))
    params = []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        w = rng.standard_normal((d_in, d_out)).astype(np.float32) / np.float32(np.sqrt(d_in))
        params.append(tg.from_numpy(w).requires_grad_())
        params.append(tg.from_numpy(rng.standard_normal((1, d_out)).astype(np.float32) * 0.1))
        params[-1].requires_grad_()
    state: dict[str, Any] = {"x": x, "y": y, "lr": lr}
    pairs = list(zip(params[::2], params[1::2]))

    def step() -> Any:
        h = state["x"]
        for i, (w, b) in enumerate(pairs):
            h = h.mm(w).add(b)
            if i < len(pairs) - 1:
                h = h.clamp(min=0) if activation == "relu" else h.tanh()
        err = (h - state["y"]).pow(2)
        out = err.sum() if loss == "sum" else err.mean()
        out.backward()
        with tg.no_grad():
            for p in params:
                p.sub_(state["lr"] * p.grad)
        for p in params:
            p.grad.zero_()
        return out

    return step, params, state


def assert_close(a: Any, b: Any, rtol: float = 1e-6) -> None:
    """Equal to ``rtol`` relative (scaled by the larger magnitude of the two)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.abs(a).max(initial=0)), float(np.abs(b).max(initial=0)), 1e-30)
    assert float(np.abs(a - b).max(initial=0)) <= rtol * scale


def assert_same_params(eager: list[Any], compiled: list[Any], rtol: float = 1e-6) -> None:
    """Parameters (and their .grad) of the two runs agree."""
    for p, q in zip(eager, compiled):
        assert_close(p._data, q._data, rtol)
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            assert_close(p.grad._data, q.grad._data, rtol)
        assert p._version == q._version
