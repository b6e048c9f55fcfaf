"""Every learning-rate schedule gives torch's rates for 60 steps, and resumes exactly."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.optim import lr_scheduler

STEPS = 60


def _scale(epoch: int) -> float:
    return 0.97**epoch + 0.1 * (epoch % 7)


def _seq(ns: Any, opt: Any) -> Any:
    s = ns.optim.lr_scheduler
    first = s.LinearLR(opt, start_factor=0.1, total_iters=10)
    second = s.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4)
    third = s.ExponentialLR(opt, gamma=0.9)
    return s.SequentialLR(opt, [first, second, third], milestones=[10, 35])


def _chain(ns: Any, opt: Any) -> Any:
    s = ns.optim.lr_scheduler
    return s.ChainedScheduler([s.ExponentialLR(opt, 0.95), s.StepLR(opt, 9, 0.5)])


# name -> (optimizer kind, scheduler factory on the namespace ``ns`` (tapegrad or torch))
SCHEDULES = {
    "StepLR": ("sgd", lambda ns, o: ns.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.MultiStepLR(o, [5, 12, 12, 40], gamma=0.3),
    ),
    "ExponentialLR": ("sgd", lambda ns, o: ns.optim.lr_scheduler.ExponentialLR(o, 0.93)),
    "CosineAnnealingLR": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.CosineAnnealingLR(o, T_max=17, eta_min=0.001),
    ),
    "LambdaLR": ("sgd", lambda ns, o: ns.optim.lr_scheduler.LambdaLR(o, _scale)),
    "LambdaLR_per_group": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.LambdaLR(o, [_scale, lambda e: 1 / (1 + e)]),
    ),
    "LinearLR": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.LinearLR(o, 0.2, 0.9, total_iters=25),
    ),
    "ConstantLR": ("sgd", lambda ns, o: ns.optim.lr_scheduler.ConstantLR(o, 0.5, 9)),
    "PolynomialLR": ("sgd", lambda ns, o: ns.optim.lr_scheduler.PolynomialLR(o, 40, 2.0)),
    "MultiplicativeLR": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.MultiplicativeLR(o, lambda e: 0.95),
    ),
    "OneCycleLR_cos_sgd": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS),
    ),
    "OneCycleLR_linear_adam_three_phase": (
        "adam",
        lambda ns, o: ns.optim.lr_scheduler.OneCycleLR(
            o,
            max_lr=0.05,
            epochs=6,
            steps_per_epoch=10,
            pct_start=0.25,
            anneal_strategy="linear",
            three_phase=True,
            div_factor=10.0,
        ),
    ),
    "OneCycleLR_no_momentum": (
        "adam",
        lambda ns, o: ns.optim.lr_scheduler.OneCycleLR(
            o, 0.01, total_steps=STEPS + 5, cycle_momentum=False
        ),
    ),
    "SequentialLR": ("sgd", _seq),
    "CosineAnnealingWarmRestarts": (
        "sgd",
        lambda ns, o: ns.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 7, 2, eta_min=1e-3),
    ),
    "ChainedScheduler": ("adam", _chain),
}


def _optimizer(ns: Any, kind: str, params: list[Any]) -> Any:
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.03}]
    if kind == "adam":
        return ns.optim.Adam(groups, lr=0.01)
    return ns.optim.SGD(groups, lr=0.1, momentum=0.9)


def _pair(torch: Any, kind: str) -> tuple[Any, Any]:
    ours = _optimizer(tg, kind, [nn.Parameter(tg.ones(2)), nn.Parameter(tg.ones(3))])
    theirs = _optimizer(
        torch, kind, [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))]
    )
    return ours, theirs


def _groups(opt: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


@pytest.mark.parametrize("name", SCHEDULES)
def test_same_rates_as_torch_for_60_steps(name: str) -> None:
    torch = pytest.importorskip("torch")
    kind, make = SCHEDULES[name]
    opt, topt = _pair(torch, kind)
    sched, tsched = make(tg, opt), make(torch, topt)
    assert _groups(opt) == _groups(topt)  # initial_lr and OneCycle's keys included
    assert sched.get_last_lr() == tsched.get_last_lr()
    for step in range(STEPS):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {step + 1}"
        assert _groups(opt) == _groups(topt), f"step {step + 1}"
        assert getattr(sched, "last_epoch", None) == getattr(tsched, "last_epoch", None)


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (_plain(v) if isinstance(v, dict) else [_plain(s) for s in v])
        if k == "_schedulers"
        else v
        for k, v in state.items()
        if k != "lr_lambdas"
    }


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    kind, make = SCHEDULES[name]
    opt, topt = _pair(torch, kind)
    sched, tsched = make(tg, opt), make(torch, topt)
    for _ in range(5):
        opt.step(), topt.step(), sched.step(), tsched.step()
    ours, theirs = sched.state_dict(), tsched.state_dict()
    assert list(ours) == list(theirs)
    assert _plain(ours) == _plain(theirs)


@pytest.mark.parametrize("name", SCHEDULES)
def test_resuming_from_state_dicts_continues_exactly(name: str) -> None:
    kind, make = SCHEDULES[name]
    opt = _optimizer(tg, kind, [nn.Parameter(tg.ones(2)), nn.Parameter(tg.ones(3))])
    sched = make(tg, opt)
    for _ in range(25):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    expected = []
    for _ in range(25, STEPS):
        opt.step()
        sched.step()
        expected.append((sched.get_last_lr(), _groups(opt)))
    fresh = _optimizer(tg, kind, [nn.Parameter(tg.ones(2)), nn.Parameter(tg.ones(3))])
    resumed = make(tg, fresh)  # as torch advises: the scheduler first, then load both
    fresh.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    got = []
    for _ in range(25, STEPS):
        fresh.step()
        resumed.step()
        got.append((resumed.get_last_lr(), _groups(fresh)))
    assert got == expected


PLATEAU = {
    "min_rel": {"factor": 0.5, "patience": 2},
    "max_abs": {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1},
    "cooldown_min_lr": {"factor": 0.3, "patience": 0, "cooldown": 3, "min_lr": [0.01, 0.004]},
    "eps": {"factor": 0.9, "patience": 0, "eps": 0.005},
}


def _metric(step: int) -> float:
    return 1.0 / (1 + step) + 0.3 * math.sin(step * 0.7) ** 2


@pytest.mark.parametrize("config", PLATEAU)
def test_reduce_on_plateau_follows_torch(config: str) -> None:
    torch = pytest.importorskip("torch")
    opt, topt = _pair(torch, "sgd")
    sched = lr_scheduler.ReduceLROnPlateau(opt, **PLATEAU[config])
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **PLATEAU[config])
    for step in range(STEPS):
        metric = _metric(step)
        sched.step(tg.tensor(metric, dtype=tg.float64) if step % 2 else metric)
        tsched.step(metric)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {step + 1}"
        if step == 30:
            saved = sched.state_dict()
            assert saved == tsched.state_dict()
    resumed = lr_scheduler.ReduceLROnPlateau(_pair(torch, "sgd")[0])
    resumed.load_state_dict(saved)
    assert resumed.num_bad_epochs == saved["num_bad_epochs"] and resumed.mode == sched.mode


def test_warns_when_the_scheduler_steps_before_the_optimizer() -> None:
    opt = optim.SGD([nn.Parameter(tg.ones(1))], lr=0.1)
    sched = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before"):
        sched.step()
    opt2 = optim.SGD([nn.Parameter(tg.ones(1))], lr=0.1)
    sched2 = lr_scheduler.StepLR(opt2, 2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_get_lr_by_hand_warns_and_epoch_argument_uses_the_closed_form() -> None:
    opt = optim.SGD([nn.Parameter(tg.ones(1))], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    opt.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
        sched.step(7)
    assert sched.get_last_lr() == [0.25] and sched.last_epoch == 7


def test_errors_match_torch() -> None:
    opt = optim.SGD([nn.Parameter(tg.ones(1))], lr=0.1)
    with pytest.raises(TypeError, match="^list is not an Optimizer$"):
        lr_scheduler.StepLR([], 3)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups"):
        lr_scheduler.StepLR(opt, 3, last_epoch=4)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        lr_scheduler.LambdaLR(opt, [_scale, _scale])
    with pytest.raises(ValueError, match="Starting multiplicative factor expected to be"):
        lr_scheduler.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode maximum is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="maximum")
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, 0.1)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        lr_scheduler.OneCycleLR(opt, 0.1, total_steps=5, anneal_strategy="exp")
    one = lr_scheduler.OneCycleLR(opt, 0.1, total_steps=2)
    opt.step()
    one.step(), one.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total"):
        one.step()
    step = lr_scheduler.StepLR(opt, 3)
    with pytest.raises(ValueError, match="expects number of schedulers provided to be one more"):
        lr_scheduler.SequentialLR(opt, [step], milestones=[3])
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        lr_scheduler.SequentialLR(opt, [step, plateau], milestones=[3])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad([nn.Parameter(tg.ones(1))]), 0.1, total_steps=5)


def test_a_schedule_drives_training() -> None:
    # The rates torch would use, applied by a real optimizer: the loss still goes down.
    gen = np.random.default_rng(0)
    x = tg.tensor(gen.standard_normal((32, 3)), dtype=tg.float32)
    y = x.sum(1, keepdim=True)
    model = nn.Linear(3, 1)
    opt = optim.AdamW(model.parameters(), lr=0.1)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=40)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
