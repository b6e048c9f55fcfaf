"""Methods a replay calls again (``optimizer.step``, the flat SGD step) and ``callback``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.replay import CompiledStep, callback

OPTIMIZERS: dict[str, Callable[[Any], optim.Optimizer]] = {
    "sgd": lambda p: optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True),
    "adam": lambda p: optim.Adam(p, lr=1e-2, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.5),
    "adagrad": lambda p: optim.Adagrad(p, lr=1e-2),
}


def _setup(name: str, zero_first: bool = True) -> tuple[Callable[..., Any], Any, Any, Any]:
    tg.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = OPTIMIZERS[name](model.parameters())
    rng = np.random.default_rng(4)
    x = tg.from_numpy(rng.standard_normal((12, 3)).astype(np.float32))
    y = tg.from_numpy(rng.standard_normal((12, 2)).astype(np.float32))

    def step(xb: Any, yb: Any) -> Any:
        if zero_first:
            opt.zero_grad()
        loss = nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        if not zero_first:
            opt.zero_grad()
        return loss

    return step, model, opt, (x, y)


def _sgd_step(model: Any, loss_of: Callable[..., Any]) -> Callable[..., Any]:
    """A step: zero_grad, ``loss_of(*batch)``, backward, an SGD update."""
    opt = optim.SGD(model.parameters(), lr=0.05)

    def step(*batch: Any) -> Any:
        opt.zero_grad()
        loss = loss_of(*batch)
        loss.backward()
        opt.step()
        return loss

    return step


def _state(opt: optim.Optimizer) -> list[Any]:
    return [
        {k: (v._data.copy() if isinstance(v, tg.Tensor) else v) for k, v in s.items()}
        for s in opt.state.values()
    ]


def _assert_same(model_a: Any, model_b: Any, opt_a: Any, opt_b: Any) -> None:
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_array_equal(p._data, q._data)
        assert p._version == q._version
        assert (p.grad is None) == (q.grad is None)
    for a, b in zip(_state(opt_a), _state(opt_b)):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("zero_first", [True, False])
def test_optimizers_replay_bit_for_bit(name: str, zero_first: bool) -> None:
    step, model, opt, batch = _setup(name, zero_first)
    step_c, model_c, opt_c, batch_c = _setup(name, zero_first)
    compiled = tg.compile(step_c)
    for _ in range(10):
        assert step(*batch).item() == compiled(*batch_c).item()
    assert compiled.replays == 8, compiled.eager_reason
    _assert_same(model, model_c, opt, opt_c)


def test_learning_rate_change_records_again() -> None:
    step, model, opt, batch = _setup("adam")
    step_c, model_c, opt_c, batch_c = _setup("adam")
    compiled = tg.compile(step_c)
    for i in range(12):
        if i == 6:
            for o in (opt, opt_c):
                o.param_groups[0]["lr"] = 0.05
        assert step(*batch).item() == compiled(*batch_c).item()
    assert compiled.recordings == 2 and compiled.replays == 9
    _assert_same(model, model_c, opt, opt_c)


def test_optimizer_state_loaded_between_steps_is_read() -> None:
    step, model, opt, batch = _setup("sgd")
    step_c, model_c, opt_c, batch_c = _setup("sgd")
    compiled = tg.compile(step_c)
    for _ in range(4):
        assert step(*batch).item() == compiled(*batch_c).item()
    saved = opt.state_dict()
    for group in saved["param_groups"]:
        group["momentum"] = 0.9  # unchanged: only the buffers are new objects
    for buffers in saved["state"].values():
        buffers["momentum_buffer"] = buffers["momentum_buffer"] * 2
    opt.load_state_dict(saved)
    opt_c.load_state_dict(saved)
    for _ in range(4):
        assert step(*batch).item() == compiled(*batch_c).item()
    _assert_same(model, model_c, opt, opt_c)
    assert compiled.replays >= 4


def test_gradient_replaced_between_steps_is_read_when_the_step_accumulates() -> None:
    def make() -> tuple[Callable[[], Any], Any]:
        w = tg.ones(3, 2, requires_grad=True)
        x = tg.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)

        def step() -> Any:
            loss = x.mm(w).tanh().sum()
            loss.backward()  # adds into w.grad, whatever tensor it is now
            with tg.no_grad():
                w.sub_(0.1 * w.grad)
            return loss

        return step, w

    eager, w_e = make()
    step, w_c = make()
    compiled = tg.compile(step)
    for i in range(11):
        if i in (4, 6):
            w_e.grad = tg.full((3, 2), 0.5)
            w_c.grad = tg.full((3, 2), 0.5)
        if i == 7:  # a read-only .grad is not plain: guarded, the step records again
            for t in (w_e, w_c):
                t.grad = tg.from_numpy(np.full((3, 2), 0.25, np.float32))
                t.grad._data.flags.writeable = False
        if i == 9:  # the same .grad tensor and array as recorded, made read-only
            for t in (w_e, w_c):
                t.grad._data.flags.writeable = False
        assert eager().item() == compiled().item()
        np.testing.assert_array_equal(w_e.grad._data, w_c.grad._data)
        assert w_e.grad._version == w_c.grad._version
    np.testing.assert_array_equal(w_e._data, w_c._data)
    assert compiled.replays >= 5 and compiled.recordings == 2  # i == 9 matches i == 7


def test_optimizer_made_inside_the_step_runs_eagerly() -> None:
    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = tg.randn(5, 3), tg.randn(5, 1)

    def step() -> Any:
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = tg.compile(step)
    for _ in range(4):
        compiled()
    assert compiled.replays == 0
    assert "made inside the step" in compiled.eager_reason


class Diverged(Exception):
    pass


def _finite(loss: np.ndarray) -> None:
    if not np.isfinite(loss).all():
        raise Diverged(float(loss))


def test_callback_runs_in_every_replay_and_stops_before_the_update() -> None:
    def make() -> tuple[Callable[[], Any], Any, np.ndarray]:
        data = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
        w = tg.full((3, 1), 0.5, requires_grad=True)
        x = tg.from_numpy(data)

        def step() -> Any:
            loss = x.mm(w).pow(2).sum()
            callback(_finite, loss)
            loss.backward()
            with tg.no_grad():
                w.sub_(0.1 * w.grad)
                w.grad.zero_()
            return loss

        return step, w, data

    eager, w_e, data_e = make()
    step, w_c, data_c = make()
    compiled = tg.compile(step)
    seen: list[float] = []
    for _ in range(4):
        seen.append(eager().item())
        assert compiled().item() == seen[-1]
    assert compiled.replays == 2
    data_e[0, 0] = data_c[0, 0] = np.nan
    for run in (eager, compiled):
        with pytest.raises(Diverged):
            run()
    np.testing.assert_array_equal(w_e._data, w_c._data)
    assert not np.isnan(w_c._data).any()
    np.testing.assert_array_equal(w_e.grad._data, w_c.grad._data)
    assert w_e._version == w_c._version


def test_class_labels_are_read_and_checked_in_every_replay() -> None:
    def make() -> tuple[Callable[..., Any], Any]:
        tg.manual_seed(2)
        model = nn.Linear(4, 3)
        return _sgd_step(
            model, lambda x, labels: nn.functional.cross_entropy(model(x), labels)
        ), model

    eager, model_e = make()
    step, model_c = make()
    compiled = tg.compile(step)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = tg.from_numpy(rng.standard_normal((6, 4)).astype(np.float32))
        labels = tg.from_numpy(rng.integers(0, 3, 6))
        assert eager(x, labels).item() == compiled(x, labels).item()
    assert compiled.replays == 3, compiled.eager_reason
    bad = tg.tensor([0, 1, 3, 2, 1, 0])
    for run in (eager, compiled):
        with pytest.raises(IndexError, match="Target 3 is out of bounds"):
            run(x, bad)
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(p._data, q._data)


def test_an_optimizer_wrapped_by_a_scheduler_replays_and_follows_its_rate() -> None:
    step, model, opt, batch = _setup("adam")
    step_c, model_c, opt_c, batch_c = _setup("adam")
    schedulers = [optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5) for o in (opt, opt_c)]
    compiled = tg.compile(step_c)
    for _ in range(12):
        assert step(*batch).item() == compiled(*batch_c).item()
        for scheduler in schedulers:
            scheduler.step()
    _assert_same(model, model_c, opt, opt_c)
    # the rate is guarded (the step could read it): one recording per rate
    assert compiled.recordings == 3 and compiled.replays == 8, compiled.eager_reason

    # a caller vouching that only optimizer.step reads the rate: no recording for a new one
    step, model, opt, batch = _setup("sgd")
    step_c, model_c, opt_c, batch_c = _setup("sgd")
    schedulers = [optim.lr_scheduler.ExponentialLR(o, gamma=0.9) for o in (opt, opt_c)]
    compiled = CompiledStep(step_c, read_when_run=[opt_c])
    for _ in range(8):
        assert step(*batch).item() == compiled(*batch_c).item()
        for scheduler in schedulers:
            scheduler.step()
    _assert_same(model, model_c, opt, opt_c)
    assert compiled.recordings == 1 and compiled.replays == 6


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_statistics_are_updated_by_every_replay(momentum: float | None) -> None:
    def make() -> tuple[Any, Any]:
        tg.manual_seed(4)
        model = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6, momentum=momentum), nn.ReLU())
        opt = optim.SGD(model.parameters(), lr=0.05)

        def step(x: Any) -> Any:  # (through _sgd_step, the buffers are past the guards' depth)
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, model

    eager, model_e = make()
    step, model_c = make()
    compiled = tg.compile(step)
    rng = np.random.default_rng(5)
    for _ in range(6):
        x = tg.from_numpy(rng.standard_normal((10, 3)).astype(np.float32))
        assert eager(x).item() == compiled(x).item()
    # momentum None: the module reads num_batches_tracked in Python (.item()): eager
    assert compiled.replays == (4 if momentum else 0), compiled.eager_reason
    for a, b in zip(model_e.buffers(), model_c.buffers()):
        np.testing.assert_array_equal(a._data, b._data)
        assert a._version == b._version


def test_nested_modules_and_slices_replay_bit_for_bit() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            inner = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
            self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), inner)

        def forward(self, x: Any) -> Any:
            return self.body(x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([Block(), Block()])
            self.head = nn.Linear(4, 1)

        def forward(self, x: Any) -> Any:
            return self.head(self.blocks[0](x)[:, :4] + self.blocks[1](x)[..., 4:])

    def make() -> tuple[Any, Any]:
        tg.manual_seed(8)
        net = Net()
        x, y = tg.randn(16, 4), tg.randn(16, 1)
        return _sgd_step(net, lambda: nn.functional.mse_loss(net(x), y)), net

    eager, net_e = make()
    step, net_c = make()
    compiled = tg.compile(step)
    for _ in range(6):
        assert eager().item() == compiled().item()
    assert compiled.replays == 4, compiled.eager_reason
    for p, q in zip(net_e.parameters(), net_c.parameters()):
        np.testing.assert_array_equal(p._data, q._data)


def test_an_accuracy_computed_inside_the_step_replays() -> None:
    def make() -> Callable[..., Any]:
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

        def loss_and_figures(x: Any, y: Any) -> Any:
            out = model(x)
            loss = nn.functional.cross_entropy(out, y)
            return loss, out

        step = _sgd_step(model, lambda x, y: loss_and_figures(x, y)[0])

        def with_figures(x: Any, y: Any) -> Any:
            loss = step(x, y)
            with tg.no_grad():
                out = model(x)
            accuracy = (out.argmax(1) == y).float().mean()
            others = (out.argmin(dim=-1, keepdim=True).squeeze(1) != 0).sum()
            return loss, accuracy, others, (out > 0.5).sum(), (y <= out[:, 0]).long().sum()

        return with_figures

    eager, compiled = make(), tg.compile(make())
    rng = np.random.default_rng(0)
    for _ in range(6):
        x = tg.from_numpy(rng.standard_normal((20, 4)).astype(np.float32))
        y = tg.from_numpy(rng.integers(0, 3, 20))
        expected = eager(x, y)
        got = compiled(x, y)
        for a, b in zip(expected, got):
            assert a.dtype == b.dtype and a.item() == b.item()
    assert compiled.replays == 4, compiled.eager_reason
