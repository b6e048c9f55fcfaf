"""The benchmark's workloads for ``scripts/bench.py``: shapes, schedules, data and initial weights.

Every implementation trains on the same deterministic float32 data from the same initial
weights (fixed seed), so their losses can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

SEED = 20200929  # the blog post's publication date


@dataclass(frozen=True)
class Workload:
    """One training benchmark: data, model shape, loss, schedule and its target ratio."""

    key: str
    title: str
    n: int
    widths: tuple[int, ...]
    activation: str
    loss: str
    lr: float
    epochs: int
    quick_epochs: int
    reps: int
    quick_reps: int
    init: str  # "blog": randn W, b=0 | "torch": nn.Linear's U(-k, k) | "lecun": W4's, b=0
    data: str  # "blog" | "regression" | "classification"
    target: float  # tapegrad / numpy ms-per-epoch ratio to meet

    def tiny(self) -> Workload:
        """The same workload shrunk to test size (used by ``--check`` and the smoke test)."""
        n, widths = min(self.n, 16), tuple(min(w, 8) for w in self.widths)
        # A summed loss's gradient grows with n: scale lr back up so 3 epochs move the loss.
        lr = self.lr * self.n / n if self.loss == "sum" else self.lr
        return replace(self, n=n, widths=widths, lr=lr, epochs=3, quick_epochs=3)


def _deep_widths(depth: int, width: int) -> tuple[int, ...]:
    return (width,) * (depth + 1) + (1,)


_W = Workload
WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        _W("W1", "blog", n=100, widths=(3, 32, 1), activation="relu", loss="sum", lr=1e-4,
           epochs=200, quick_epochs=200, reps=9, quick_reps=5, init="blog", data="blog",
           target=2.0),
        _W("W2", "medium", n=10_000, widths=(64, 256, 1), activation="relu", loss="sum",
           lr=3e-6, epochs=50, quick_epochs=10, reps=5, quick_reps=3, init="torch",
           data="regression", target=1.10),
        _W("W3", "large", n=60_000, widths=(784, 512, 10), activation="relu", loss="mse",
           lr=0.1, epochs=10, quick_epochs=2, reps=3, quick_reps=1, init="torch",
           data="classification", target=1.10),
        _W("W4", "deep", n=64, widths=_deep_widths(50, 16), activation="tanh", loss="mse",
           lr=2e-3, epochs=100, quick_epochs=100, reps=7, quick_reps=3, init="lecun",
           data="regression", target=2.0),
    )
}  # fmt: skip


@dataclass
class Data:
    """Inputs, targets and initial parameters, all float32 numpy arrays."""

    x: np.ndarray
    y: np.ndarray
    weights: list[np.ndarray]  # (out, in), as nn.Linear
    biases: list[np.ndarray]  # (out,)


def make_data(w: Workload, seed: int = SEED) -> Data:
    """Deterministic data and initial weights for one workload."""
    rng = np.random.default_rng([seed, int(w.key[1:])])
    x, y = _make_xy(w, rng)
    weights, biases = _init_params(w, rng)
    return Data(x, y, weights, biases)


def _make_xy(w: Workload, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d_in, d_out = w.widths[0], w.widths[-1]
    if w.data == "blog":
        x = rng.standard_normal((w.n, d_in), dtype=np.float32)
        coef = np.array([0.2, -1.3, -0.5], dtype=np.float32)[:d_in]
        noise = rng.standard_normal((w.n, 1), dtype=np.float32)
        return x, (x[:, : coef.size] @ coef)[:, None] + noise
    if w.data == "classification":
        x = rng.random((w.n, d_in), dtype=np.float32)
        teacher = rng.standard_normal((d_in, d_out), dtype=np.float32)
        labels = np.argmax((x - np.float32(0.5)) @ teacher, axis=1)
        return x, np.eye(d_out, dtype=np.float32)[labels]
    x = rng.standard_normal((w.n, d_in), dtype=np.float32)
    teacher = rng.standard_normal((d_in, d_out), dtype=np.float32) / np.float32(np.sqrt(d_in))
    y = np.tanh(x @ teacher) + np.float32(0.1) * rng.standard_normal((w.n, d_out), np.float32)
    return x, y


def _init_params(w: Workload, rng: np.random.Generator) -> tuple[list[np.ndarray], ...]:
    weights, biases = [], []
    for d_in, d_out in zip(w.widths[:-1], w.widths[1:]):
        if w.init == "blog":
            weights.append(rng.standard_normal((d_in, d_out), np.float32).T.copy())
            biases.append(np.zeros(d_out, np.float32))
        elif w.init == "lecun":
            # NOTE: W4 uses unit-variance weights and zero biases so signal and gradient reach
            # all 50 layers (the loss check sees every layer) while training stays far from
            # the chaotic regime where float32 rounding differences between BLAS libraries
            # would grow (lr 5e-3 already diverges between numpy and torch; we use 2e-3).
            k = np.float32(np.sqrt(3.0 / d_in))
            weights.append(rng.uniform(-k, k, (d_out, d_in)).astype(np.float32))
            biases.append(np.zeros(d_out, np.float32))
        else:
            k = np.float32(1.0 / np.sqrt(d_in))
            weights.append(rng.uniform(-k, k, (d_out, d_in)).astype(np.float32))
            biases.append(rng.uniform(-k, k, d_out).astype(np.float32))
    return weights, biases
