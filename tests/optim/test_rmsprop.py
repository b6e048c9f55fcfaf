"""RMSprop follows torch.optim.RMSprop step by step, with its state dict and its messages."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim

from ._compare import (
    assert_resume_is_exact,
    assert_state_dict_like_torch,
    follow,
    make_pair,
    step_both,
)

CONFIGS = {
    "default": {},
    "alpha": {"lr": 0.005, "alpha": 0.9, "eps": 1e-6},
    "weight_decay": {"lr": 0.01, "weight_decay": 0.1},
    "momentum": {"lr": 0.01, "momentum": 0.9},
    "centered": {"lr": 0.01, "centered": True},
    "everything": {"lr": 0.005, "momentum": 0.5, "centered": True, "weight_decay": 0.05},
    "maximize": {"lr": 0.01, "maximize": True, "momentum": 0.3},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS)
def test_follows_torch_step_by_step(config: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    follow(
        torch,
        lambda m: optim.RMSprop(m.parameters(), **kwargs),
        lambda m: torch.optim.RMSprop(m.parameters(), **kwargs),
        dtype,
    )


@pytest.mark.parametrize("config", ["default", "everything"])
def test_state_dict_matches_torch(config: str) -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.RMSprop(model.parameters(), **CONFIGS[config])
    topt = torch.optim.RMSprop(twin.parameters(), **CONFIGS[config])
    assert opt.defaults == topt.defaults
    for step in range(3):
        step_both(torch, model, twin, opt, topt, step)
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())


def test_resume_from_state_dict_is_exact() -> None:
    torch = pytest.importorskip("torch")
    assert_resume_is_exact(torch, lambda m: optim.RMSprop(m.parameters(), **CONFIGS["everything"]))


def test_first_step_by_hand() -> None:
    # v = (1 - alpha) g^2, so p -= lr * g / (sqrt(1 - alpha) |g| + eps).
    p = nn.Parameter(tg.tensor([1.0, 2.0], dtype=tg.float64))
    opt = optim.RMSprop([p], lr=0.1, alpha=0.75, eps=0.0)
    p.grad = tg.tensor([2.0, -1.0], dtype=tg.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [1.0 - 0.2, 2.0 + 0.2], rtol=1e-15)
    assert opt.state[p]["step"] == 1


def test_messages_match_torch() -> None:
    p = [nn.Parameter(tg.ones(1))]
    for kwargs, message in [
        ({"lr": -1}, "Invalid learning rate: -1"),
        ({"eps": -1}, "Invalid epsilon value: -1"),
        ({"momentum": -0.5}, "Invalid momentum value: -0.5"),
        ({"weight_decay": -1}, "Invalid weight_decay value: -1"),
        ({"alpha": -0.1}, "Invalid alpha value: -0.1"),
    ]:
        with pytest.raises(ValueError, match=f"^{message}$"):
            optim.RMSprop(p, **kwargs)
