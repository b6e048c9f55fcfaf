"""AdamW follows torch.optim.AdamW step by step, with its state dict and its messages."""

from __future__ import annotations

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
    "lr": {"lr": 0.02},
    "decay": {"lr": 0.01, "weight_decay": 0.3},
    "amsgrad": {"lr": 0.02, "amsgrad": True, "betas": (0.8, 0.9)},
    "maximize": {"lr": 0.01, "maximize": True, "eps": 1e-6},
    "no_decay": {"lr": 0.01, "weight_decay": 0.0},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS)
def test_follows_torch_step_by_step(config: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    follow(
        torch,
        lambda m: optim.AdamW(m.parameters(), **kwargs),
        lambda m: torch.optim.AdamW(m.parameters(), **kwargs),
        dtype,
    )


def test_defaults_and_state_dict_match_torch() -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.AdamW(model.parameters(), amsgrad=True)
    topt = torch.optim.AdamW(twin.parameters(), amsgrad=True)
    assert opt.defaults == topt.defaults and opt.defaults["weight_decay"] == 1e-2
    for step in range(3):
        step_both(torch, model, twin, opt, topt, step)
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())


def test_resume_from_state_dict_is_exact() -> None:
    torch = pytest.importorskip("torch")
    assert_resume_is_exact(torch, lambda m: optim.AdamW(m.parameters(), lr=0.02, amsgrad=True))


def test_loading_adam_state_keeps_decoupled_decay() -> None:
    p = nn.Parameter(tg.ones(2))
    adam = optim.Adam([p], weight_decay=0.1)
    opt = optim.AdamW([nn.Parameter(tg.ones(2))])
    opt.load_state_dict(adam.state_dict())
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    assert opt.param_groups[0]["weight_decay"] == 0.1


def test_decay_alone_shrinks_the_weights() -> None:
    # A zero gradient leaves only the decoupled decay: p * (1 - lr * weight_decay).
    p = nn.Parameter(tg.tensor([2.0, -4.0], dtype=tg.float64))
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = tg.zeros(2, dtype=tg.float64)
    opt.step()
    assert p.tolist() == [2.0 * 0.95, -4.0 * 0.95]


def test_messages_match_torch() -> None:
    p = [nn.Parameter(tg.ones(1))]
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -1$"):
        optim.AdamW(p, lr=-1)
    with pytest.raises(ValueError, match=r"^Invalid beta parameter at index 1: 1.0$"):
        optim.AdamW(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"^Invalid weight_decay value: -0.1$"):
        optim.AdamW(p, weight_decay=-0.1)
    with pytest.raises(ValueError, match=r"^Invalid epsilon value: -1e-08$"):
        optim.AdamW(p, eps=-1e-8)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        optim.AdamW(p, fused=True, foreach=True)
