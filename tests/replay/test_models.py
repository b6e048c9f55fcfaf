"""Common model shapes under compile: the same losses and parameters as eager, bit for bit,
and every step after the second replayed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim

F = nn.functional


class _Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding, self.out = nn.Embedding(10, 6), nn.Linear(6, 3)

    def forward(self, x: Any) -> Any:
        return self.out(self.embedding(x).mean(1))


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x: Any) -> Any:
        return self.out(self.attention(x, x, x)[0].mean(1))


MODELS: dict[str, tuple[Callable[[], Any], tuple[int, ...] | None]] = {
    "cnn": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64, 3),
        ),
        (5, 3, 8, 8),
    ),
    "conv1d, avg pool": (
        lambda: nn.Sequential(
            nn.Conv1d(2, 3, 3), nn.Tanh(), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(9, 3)
        ),
        (4, 2, 8),
    ),
    "gelu, layer norm": (
        lambda: nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3)),
        (7, 6),
    ),
    "silu, dropout": (
        lambda: nn.Sequential(nn.Linear(6, 16), nn.SiLU(), nn.Dropout(0.3), nn.Linear(16, 3)),
        (7, 6),
    ),
    "softmax, sigmoid": (
        lambda: nn.Sequential(nn.Linear(6, 8), nn.Softmax(dim=-1), nn.Linear(8, 3), nn.Sigmoid()),
        (7, 6),
    ),
    "embedding": (_Embed, None),
    "multi-head attention": (_Attention, (4, 5, 8)),
}


def _run(name: str, compiled: bool) -> tuple[list[float], Any, Any]:
    build, shape = MODELS[name]
    tg.manual_seed(0)
    model = build()
    opt = optim.Adam(model.parameters(), 1e-2)
    if shape is None:
        x = tg.tensor(np.random.default_rng(0).integers(0, 10, (4, 5)))
    else:
        x = tg.randn(*shape)
    y = tg.tensor(np.arange(x.shape[0]) % 3)

    def step() -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = tg.compile(step) if compiled else step
    return [run().item() for _ in range(6)], model, run


@pytest.mark.parametrize("name", MODELS)
def test_model_replays_bit_for_bit(name: str) -> None:
    eager, model_e, _ = _run(name, compiled=False)
    compiled, model_c, run = _run(name, compiled=True)
    assert compiled == eager
    assert run.replays == 4, run.eager_reason
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(p._data, q._data)
