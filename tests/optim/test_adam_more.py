"""Adam's full torch surface: every option step by step, torch's state dict, its flags."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim

from ._compare import (
    as_arrays,
    assert_resume_is_exact,
    assert_same_params,
    assert_state_dict_like_torch,
    follow,
    make_pair,
    step_both,
)

CONFIGS = {
    "amsgrad_decay": {"lr": 0.02, "amsgrad": True, "weight_decay": 0.1},
    "maximize_amsgrad": {"lr": 0.01, "maximize": True, "amsgrad": True},
    "betas": {"lr": 0.01, "betas": (0.5, 0.6), "eps": 1e-3},
    "decoupled": {"lr": 0.01, "weight_decay": 0.2, "decoupled_weight_decay": True},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS)
def test_follows_torch_step_by_step(config: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    follow(
        torch,
        lambda m: optim.Adam(m.parameters(), **kwargs),
        lambda m: torch.optim.Adam(m.parameters(), **kwargs),
        dtype,
    )


def test_param_groups_follow_torch() -> None:
    torch = pytest.importorskip("torch")

    def groups(m):
        return [
            {"params": m[0].parameters(), "amsgrad": True, "lr": 0.02},
            {"params": m[2].parameters(), "weight_decay": 0.1, "betas": (0.8, 0.99)},
        ]

    opt, topt = follow(
        torch, lambda m: optim.Adam(groups(m)), lambda m: torch.optim.Adam(groups(m))
    )
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())


def test_loads_torch_state_dict_and_continues_with_it() -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.Adam(model.parameters(), lr=0.5)
    topt = torch.optim.Adam(twin.parameters(), lr=0.02, amsgrad=True)
    for step in range(4):
        step_both(torch, model, twin, opt, topt, step)
    model.load_state_dict({k: v.numpy().copy() for k, v in twin.state_dict().items()})
    opt.load_state_dict(as_arrays(topt.state_dict()))
    assert opt.param_groups[0]["lr"] == 0.02 and opt.param_groups[0]["amsgrad"] is True
    assert opt.state[next(model.parameters())]["step"] == 4
    for step in range(4, 10):
        step_both(torch, model, twin, opt, topt, step)
        assert_same_params(model, twin, "float32")


def test_resume_from_state_dict_is_exact() -> None:
    torch = pytest.importorskip("torch")
    assert_resume_is_exact(
        torch, lambda m: optim.Adam(m.parameters(), lr=0.02, amsgrad=True, weight_decay=0.1)
    )


def test_capturable_needs_an_accelerator_as_in_torch() -> None:
    p = nn.Parameter(tg.ones(1))
    opt = optim.Adam([p], capturable=True)
    p.grad = tg.ones(1)
    with pytest.raises(AssertionError, match="If capturable=True, params and state_steps"):
        opt.step()


def test_flag_errors_match_torch() -> None:
    p = [nn.Parameter(tg.ones(1))]
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        optim.Adam(p, fused=True, differentiable=True)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        optim.Adam(p, fused=True, foreach=True)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "SGD"])
def test_float16_parameters_follow_torch(name: str) -> None:
    # torch computes float16 updates in float32 and rounds each result to half.
    torch = pytest.importorskip("torch")
    gen = np.random.default_rng(0)
    start = gen.standard_normal(40).astype(np.float16)
    p, q = nn.Parameter(tg.tensor(start)), torch.nn.Parameter(torch.from_numpy(start.copy()))
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    opt = getattr(optim, name)([p], lr=0.01, **kwargs)
    topt = getattr(torch.optim, name)([q], lr=0.01, **kwargs)
    for _ in range(8):
        grad = gen.standard_normal(40).astype(np.float16)
        p.grad, q.grad = tg.tensor(grad), torch.from_numpy(grad.copy())
        opt.step()
        topt.step()
    assert p.dtype == tg.float16
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=2e-3, atol=1e-3)
