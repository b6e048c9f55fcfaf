"""SGD's full torch surface: every option step by step, param groups, ``add_param_group``,
named parameters, the state dict, ``zero_grad`` and closures."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim

from ._compare import (
    assert_resume_is_exact,
    assert_same_params,
    assert_state_dict_like_torch,
    follow,
    make_pair,
    step_both,
)

CONFIGS = {
    "dampening_decay": {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
    "nesterov_decay": {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    "maximize_nesterov": {"lr": 0.02, "momentum": 0.5, "nesterov": True, "maximize": True},
    "foreach": {"lr": 0.1, "momentum": 0.9, "foreach": True},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS)
def test_follows_torch_step_by_step(config: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    follow(
        torch,
        lambda m: optim.SGD(m.parameters(), **kwargs),
        lambda m: torch.optim.SGD(m.parameters(), **kwargs),
        dtype,
    )


def _groups(model):
    first, second = model[0], model[2]
    return [
        {"params": first.parameters(), "momentum": 0.9, "nesterov": True},
        {"params": [second.weight], "lr": 0.01, "weight_decay": 0.1, "maximize": True},
        {"params": second.bias, "dampening": 0.5, "momentum": 0.5},
    ]


def test_param_groups_with_their_own_options_follow_torch() -> None:
    torch = pytest.importorskip("torch")
    opt, topt = follow(
        torch,
        lambda m: optim.SGD(_groups(m), lr=0.05),
        lambda m: torch.optim.SGD(_groups(m), lr=0.05),
    )
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())
    assert [g["params"] for g in opt.state_dict()["param_groups"]] == [[0, 1], [2], [3]]


def test_add_param_group_follows_torch() -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.SGD(model[0].parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(twin[0].parameters(), lr=0.05, momentum=0.9)
    step_both(torch, model, twin, opt, topt, 0)
    group = {"params": model[2].parameters(), "lr": 0.2}
    opt.add_param_group(group)
    topt.add_param_group({"params": twin[2].parameters(), "lr": 0.2})
    assert opt.param_groups[-1] is group  # the dict itself, completed with the defaults
    assert group["momentum"] == 0.9 and group["lr"] == 0.2
    for step in range(1, 5):
        step_both(torch, model, twin, opt, topt, step)
        assert_same_params(model, twin, "float32")
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        opt.add_param_group({"params": [model[0].weight]})
    with pytest.raises(TypeError, match="param_group must be a dict, but got <class 'list'>"):
        opt.add_param_group([model[0].weight])


def test_named_parameters_give_param_names_as_torch() -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    topt = torch.optim.SGD(twin.named_parameters(), lr=0.1)
    assert opt.state_dict() == topt.state_dict()
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(ValueError, match="cannot add param group without names"):
        opt.add_param_group({"params": [nn.Parameter(tg.ones(1))]})


def test_state_dict_matches_torch_and_resumes_exactly() -> None:
    torch = pytest.importorskip("torch")
    model, twin = make_pair(torch)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, dampening=0.1)
    topt = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9, dampening=0.1)
    for step in range(3):
        step_both(torch, model, twin, opt, topt, step)
    assert_state_dict_like_torch(opt.state_dict(), topt.state_dict())
    assert_resume_is_exact(
        torch, lambda m: optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=0.1)
    )


def test_zero_grad_to_zeros_keeps_the_tensors() -> None:
    p = nn.Parameter(tg.ones(3))
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and not np.any(grad.numpy())
    opt.zero_grad(set_to_none=True)
    assert p.grad is None


def test_step_with_closure_returns_its_loss() -> None:
    p = nn.Parameter(tg.tensor([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.item() == 1.5


def test_step_changes_the_version_and_records_nothing() -> None:
    p = nn.Parameter(tg.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = tg.ones(2)
    before = p._version
    opt.step()
    assert p._version > before and p.grad_fn is None and p.is_leaf


def test_flag_errors_match_torch() -> None:
    p = [nn.Parameter(tg.ones(1))]
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        optim.SGD(p, lr=0.1, fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        optim.SGD(p, lr=0.1, fused=True, differentiable=True)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.SGD(p, lr=0.1, differentiable=True)
