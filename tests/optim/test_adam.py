"""Adam follows torch.optim.Adam step for step, and resumes from its own or torch's state."""

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
    "default": {},
    "lr": {"lr": 0.05},
    "weight_decay": {"lr": 0.01, "weight_decay": 0.1},
    "amsgrad": {"lr": 0.02, "amsgrad": True},
    "small_beta1": {"lr": 0.01, "betas": (0.3, 0.99)},
    "decoupled": {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    "maximize": {"lr": 0.01, "maximize": True, "eps": 1e-6},
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=str)
@pytest.mark.parametrize("config", CONFIGS)
def test_adam_follows_torch_for_20_steps(config: str, dtype) -> None:
    torch = pytest.importorskip("torch")
    model = make_model(dtype)
    twin = torch_twin(torch, model)
    x, y = make_data(dtype)
    opt = optim.Adam(model.parameters(), **CONFIGS[config])
    topt = torch.optim.Adam(twin.parameters(), **CONFIGS[config])
    for _ in range(20):
        loss = train_step(model, opt, x, y)
        tloss = torch_step(torch, twin, topt, x, y)
        assert abs(loss - tloss) < tolerance(dtype)
    assert max_param_diff(model, twin) < tolerance(dtype)


def test_first_step_moves_each_weight_by_lr() -> None:
    # With bias correction, step 1 is lr * g / (|g| + eps'): a step of almost exactly lr.
    p = nn.Parameter(tg.tensor([1.0, -2.0, 3.0], dtype=tg.float64))
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.tensor([0.5, -3.0, 1e-3], dtype=tg.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, -1.9, 2.9], atol=1e-6)
    state = opt.state[p]
    assert state["step"] == 1
    assert sorted(state) == ["exp_avg", "exp_avg_sq", "step"]


def test_amsgrad_keeps_the_running_maximum() -> None:
    p = nn.Parameter(tg.ones(1, dtype=tg.float64))
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    for g in (3.0, 0.0):
        p.grad = tg.tensor([g], dtype=tg.float64)
        opt.step()
    state = opt.state[p]
    assert state["max_exp_avg_sq"].item() > state["exp_avg_sq"].item()


def test_training_reduces_the_loss() -> None:
    model = make_model()
    x, y = make_data()
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = [train_step(model, opt, x, y) for _ in range(60)]
    assert losses[-1] < 0.2 * losses[0]


def test_resume_from_state_dict_equals_an_uninterrupted_run() -> None:
    x, y = make_data()
    tg.manual_seed(5)
    straight = make_model()
    tg.manual_seed(5)
    first_half = make_model()
    opt_straight = optim.Adam(straight.parameters(), lr=0.02, amsgrad=True)
    opt_first = optim.Adam(first_half.parameters(), lr=0.02, amsgrad=True)
    for _ in range(5):
        train_step(straight, opt_straight, x, y)
        train_step(first_half, opt_first, x, y)
    saved = opt_first.state_dict()
    saved["state"] = {
        str(i): {k: np.asarray(v.numpy() if isinstance(v, tg.Tensor) else v) for k, v in s.items()}
        for i, s in saved["state"].items()
    }
    resumed = make_model()
    resumed.load_state_dict({k: v.numpy().copy() for k, v in first_half.state_dict().items()})
    opt_resumed = optim.Adam(resumed.parameters())
    opt_resumed.load_state_dict(saved)
    # Buffers were copied, not shared with the checkpoint.
    first_param = next(resumed.parameters())
    assert not np.shares_memory(
        opt_resumed.state[first_param]["exp_avg"].detach().numpy(), saved["state"]["0"]["exp_avg"]
    )
    assert opt_resumed.state[first_param]["step"] == 5
    for _ in range(5):
        train_step(straight, opt_straight, x, y)
        train_step(resumed, opt_resumed, x, y)
    for (_, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_resumes_from_a_torch_optimizer_state() -> None:
    torch = pytest.importorskip("torch")
    model = make_model()
    twin = torch_twin(torch, model)
    x, y = make_data()
    topt = torch.optim.Adam(twin.parameters(), lr=0.02)
    for _ in range(5):
        torch_step(torch, twin, topt, x, y)
    model.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    theirs = topt.state_dict()
    opt = optim.Adam(model.parameters())
    opt.load_state_dict(
        {
            "state": {i: {k: v.numpy() for k, v in s.items()} for i, s in theirs["state"].items()},
            "param_groups": [
                {k: v for k, v in g.items() if k in ("lr", "betas", "eps", "params")}
                for g in theirs["param_groups"]
            ],
        }
    )
    assert opt.param_groups[0]["lr"] == 0.02 and opt.param_groups[0]["amsgrad"] is False
    for _ in range(5):
        train_step(model, opt, x, y)
        torch_step(torch, twin, topt, x, y)
    assert max_param_diff(model, twin) < 1e-5


def test_hyperparameter_validation_messages() -> None:
    p = [nn.Parameter(tg.ones(1))]
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -0.1$"):
        optim.Adam(p, lr=-0.1)
    with pytest.raises(ValueError, match=r"^Invalid epsilon value: -1$"):
        optim.Adam(p, eps=-1)
    with pytest.raises(ValueError, match=r"^Invalid beta parameter at index 0: 1.0$"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match=r"^Invalid beta parameter at index 1: -0.9$"):
        optim.Adam(p, betas=(0.9, -0.9))
    with pytest.raises(ValueError, match=r"^Invalid weight_decay value: -1$"):
        optim.Adam(p, weight_decay=-1)


def test_zero_grad_both_modes() -> None:
    model = make_model()
    x, y = make_data()
    opt = optim.Adam(model.parameters())
    train_step(model, opt, x, y)
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    assert all(
        p.grad is g and not np.any(g.detach().numpy()) for p, g in zip(model.parameters(), grads)
    )
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
