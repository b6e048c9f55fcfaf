"""Adagrad follows torch.optim.Adagrad step by step, with its state dict and its messages."""

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
    "lr": {"lr": 0.1},
    "lr_decay": {"lr": 0.1, "lr_decay": 0.05},
    "weight_decay": {"lr": 0.05, "weight_decay": 0.2},
    "accumulator": {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-4},
    "maximize": {"lr": 0.05, "maximize": True},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS)
def test_follows_torch_step_by_step(config: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    follow(
        torch,
        lambda m: optim.Adagrad(m.parameters(), **kwargs),
        lambda m: torch.optim.Adagrad(m.parameters(), **kwargs),
        dtype,
    )


def test_state_exists_from_construction_as_torch() -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.Adagrad(model.parameters(), initial_accumulator_value=0.25)
    topt = torch.optim.Adagrad(twin.parameters(), initial_accumulator_value=0.25)
    assert opt.defaults == topt.defaults
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())
    for step in range(3):
        step_both(torch, model, twin, opt, topt, step)
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())


def test_resume_from_state_dict_is_exact() -> None:
    torch = pytest.importorskip("torch")
    assert_resume_is_exact(
        torch, lambda m: optim.Adagrad(m.parameters(), lr=0.1, lr_decay=0.01, weight_decay=0.1)
    )


def test_lr_decay_by_hand() -> None:
    # step t uses lr / (1 + (t - 1) * lr_decay); with a unit gradient sum = t.
    p = nn.Parameter(tg.zeros(1, dtype=tg.float64))
    opt = optim.Adagrad([p], lr=1.0, lr_decay=0.5, eps=0.0)
    expected = 0.0
    for t in (1, 2, 3):
        p.grad = tg.ones(1, dtype=tg.float64)
        opt.step()
        expected -= 1.0 / (1 + (t - 1) * 0.5) / np.sqrt(t)
        np.testing.assert_allclose(p.item(), expected, rtol=1e-14)


def test_messages_match_torch() -> None:
    p = [nn.Parameter(tg.ones(1))]
    for kwargs, message in [
        ({"lr": -1}, "Invalid learning rate: -1"),
        ({"lr_decay": -1}, "Invalid lr_decay value: -1"),
        ({"weight_decay": -1}, "Invalid weight_decay value: -1"),
        ({"initial_accumulator_value": -1}, "Invalid initial_accumulator_value value: -1"),
        ({"eps": -1}, "Invalid epsilon value: -1"),
    ]:
        with pytest.raises(ValueError, match=f"^{message}$"):
            optim.Adagrad(p, **kwargs)
