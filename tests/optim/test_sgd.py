"""SGD follows torch.optim.SGD step for step; the Optimizer base behaves as torch's."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim

from ._helpers import (
    make_data,
    make_model,
    max_param_diff,
    tolerance,
    torch_step,
    torch_twin,
    train_step,
)

CONFIGS = {
    "plain": {"lr": 0.1},
    "momentum": {"lr": 0.05, "momentum": 0.9},
    "dampening": {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    "weight_decay": {"lr": 0.1, "weight_decay": 0.01},
    "nesterov": {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    "everything": {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True},
    "maximize": {"lr": 0.01, "momentum": 0.5, "maximize": True},
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=str)
@pytest.mark.parametrize("config", CONFIGS)
def test_sgd_follows_torch_for_20_steps(config: str, dtype) -> None:
    torch = pytest.importorskip("torch")
    model = make_model(dtype)
    twin = torch_twin(torch, model)
    x, y = make_data(dtype)
    opt = optim.SGD(model.parameters(), **CONFIGS[config])
    topt = torch.optim.SGD(twin.parameters(), **CONFIGS[config])
    for _ in range(20):
        loss = train_step(model, opt, x, y)
        tloss = torch_step(torch, twin, topt, x, y)
        assert abs(loss - tloss) < tolerance(dtype)
    assert max_param_diff(model, twin) < tolerance(dtype)


def test_param_groups_follow_torch() -> None:
    torch = pytest.importorskip("torch")
    model = make_model()
    twin = torch_twin(torch, model)
    x, y = make_data()

    def groups(m):
        return [{"params": m[0].parameters(), "lr": 0.2}, {"params": m[2].parameters()}]

    opt = optim.SGD(groups(model), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(groups(twin), lr=0.05, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.05]
    for _ in range(10):
        train_step(model, opt, x, y)
        torch_step(torch, twin, topt, x, y)
    assert max_param_diff(model, twin) < 1e-5


def test_the_update_formula() -> None:
    p = nn.Parameter(tg.tensor([1.0, 2.0], dtype=tg.float64))
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    for expected in ([0.8, 1.6], [0.5, 1.0]):
        p.grad = tg.tensor([2.0, 4.0], dtype=tg.float64)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), expected)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].detach().numpy(), [3.0, 6.0])


def test_step_is_in_place_and_unrecorded() -> None:
    model = make_model()
    params = list(model.parameters())
    versions = [p._version for p in params]
    x, y = make_data()
    opt = optim.SGD(model.parameters(), lr=0.1)
    train_step(model, opt, x, y)
    assert all(a is b for a, b in zip(model.parameters(), params))
    assert all(p._version > v for p, v in zip(params, versions))
    assert all(p.is_leaf and p.grad_fn is None and p.requires_grad for p in params)


def test_parameters_without_grad_are_skipped() -> None:
    a = nn.Parameter(tg.ones(2))
    b = nn.Parameter(tg.ones(2))
    opt = optim.SGD([a, b], lr=1.0, momentum=0.9)
    a.grad = tg.ones(2)
    opt.step()
    assert a.tolist() == [0.0, 0.0] and b.tolist() == [1.0, 1.0]
    assert b not in opt.state


def test_zero_grad_both_modes() -> None:
    model = make_model()
    x, y = make_data()
    opt = optim.SGD(model.parameters(), lr=0.1)
    train_step(model, opt, x, y)
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    assert all(
        p.grad is g and not np.any(g.detach().numpy()) for p, g in zip(model.parameters(), grads)
    )
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_closure_is_called_with_grad_enabled() -> None:
    model = make_model()
    x, y = make_data()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def closure() -> tg.Tensor:
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    with tg.no_grad():
        first = opt.step(closure)
    assert first.item() > opt.step(closure).item()


def test_training_reduces_the_loss() -> None:
    model = make_model()
    x, y = make_data()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = [train_step(model, opt, x, y) for _ in range(50)]
    assert losses[-1] < 0.2 * losses[0]


def test_resume_from_state_dict_equals_an_uninterrupted_run() -> None:
    x, y = make_data()
    tg.manual_seed(3)
    straight = make_model()
    tg.manual_seed(3)
    first_half = make_model()
    kwargs = {"lr": 0.05, "momentum": 0.9, "nesterov": True}
    opt_straight = optim.SGD(straight.parameters(), **kwargs)
    opt_first = optim.SGD(first_half.parameters(), **kwargs)
    for _ in range(5):
        train_step(straight, opt_straight, x, y)
        train_step(first_half, opt_first, x, y)
    # As a checkpoint would store it: plain arrays.
    saved = opt_first.state_dict()
    saved["state"] = {
        i: {k: v.numpy().copy() for k, v in s.items()} for i, s in saved["state"].items()
    }
    weights = {k: v.numpy().copy() for k, v in first_half.state_dict().items()}
    resumed = make_model()
    resumed.load_state_dict(weights)
    opt_resumed = optim.SGD(resumed.parameters(), lr=1.0)
    opt_resumed.load_state_dict(saved)
    assert opt_resumed.param_groups[0]["lr"] == 0.05
    for _ in range(5):
        train_step(straight, opt_straight, x, y)
        train_step(resumed, opt_resumed, x, y)
    for (_, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_layout_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    model = make_model()
    twin = torch_twin(torch, model)
    x, y = make_data()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    train_step(model, opt, x, y)
    torch_step(torch, twin, topt, x, y)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])
    assert {k: list(v) for k, v in ours["state"].items()} == {
        k: list(v) for k, v in theirs["state"].items()
    }


def test_load_state_dict_errors() -> None:
    a, b = nn.Parameter(tg.ones(2)), nn.Parameter(tg.ones(3))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    small = optim.SGD([a], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(small)
    bad = {
        "state": {0: {"momentum_buffer": np.zeros(5)}},
        "param_groups": opt.state_dict()["param_groups"],
    }
    with pytest.raises(
        ValueError, match=r"'momentum_buffer' of shape \(5,\), but the parameter has shape \(2,\)"
    ):
        opt.load_state_dict(bad)


def test_hyperparameter_validation_messages() -> None:
    p = [nn.Parameter(tg.ones(1))]
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -0.1$"):
        optim.SGD(p, lr=-0.1)
    with pytest.raises(ValueError, match=r"^Invalid momentum value: -1$"):
        optim.SGD(p, lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match=r"^Invalid weight_decay value: -1$"):
        optim.SGD(p, lr=0.1, weight_decay=-1)
    with pytest.raises(
        ValueError, match="Nesterov momentum requires a momentum and zero dampening"
    ):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(
        ValueError, match="Nesterov momentum requires a momentum and zero dampening"
    ):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_param_validation_messages() -> None:
    p = nn.Parameter(tg.ones(1))
    with pytest.raises(
        TypeError, match="should be an iterable of Tensors or dicts, but got tapegrad.Tensor"
    ):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(
        TypeError, match="optimizer can only optimize Tensors, but one of the params is float"
    ):
        optim.SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)


def test_repr_lists_each_group_like_torch() -> None:
    opt = optim.SGD([nn.Parameter(tg.ones(1))], lr=0.1, momentum=0.9)
    assert repr(opt) == (
        "SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n"
        "    foreach: None\n    fused: None\n    lr: 0.1\n    maximize: False\n"
        "    momentum: 0.9\n    nesterov: False\n    weight_decay: 0\n)"
    )
    torch = pytest.importorskip("torch")
    twin = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9)
    assert repr(opt) == repr(twin)
