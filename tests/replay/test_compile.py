"""tapegrad.compile: replays equal eager steps; guards re-record; returned tensors are fresh."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tests.replay.helpers import assert_close, assert_same_params, mlp


def _run_both(make: Any, steps: int = 8) -> tuple[Any, list[Any], list[Any]]:
    eager_step, eager_params, _ = make()
    step, params, _ = make()
    compiled = tg.compile(step)
    for _ in range(steps):
        assert_close(eager_step()._data, compiled()._data)
    assert_same_params(eager_params, params)
    return compiled, eager_params, params


@pytest.mark.parametrize(
    ("widths", "activation", "loss"),
    [
        ((3, 32, 1), "relu", "sum"),  # W1's shape
        ((16,) * 12 + (1,), "tanh", "mean"),  # W4's kind (deep, narrow, tanh, mse)
        ((8, 16, 4), "relu", "mean"),  # W2/W3's kind
    ],
)
def test_replay_equals_eager(widths: tuple[int, ...], activation: str, loss: str) -> None:
    compiled, _, _ = _run_both(lambda: mlp(widths, activation, loss), steps=10)
    assert compiled.replays == 8  # call 1 eager, call 2 recorded, then replays
    assert compiled.recordings == 1
    assert compiled.eager_reason is None


def test_decorator_and_package_name() -> None:
    step, _, _ = mlp((3, 4, 1))
    assert tg.compile is tg.replay.compile
    decorated = tg.compile(step)
    assert decorated.__wrapped__ is step
    assert decorated.__name__ == step.__name__


def test_returned_tensors_are_fresh() -> None:
    step, _, _ = mlp((3, 8, 1))
    compiled = tg.compile(step)
    outs = [compiled() for _ in range(5)]
    values = [o.item() for o in outs]
    assert len({id(o) for o in outs}) == 5
    assert len(set(values)) == 5  # each step's loss, none overwritten by a later replay
    assert [o.item() for o in outs] == values


def test_grad_reads_after_replay_without_zeroing() -> None:
    def make() -> Any:
        rng = np.random.default_rng(1)
        w = tg.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)).requires_grad_()
        x = tg.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))

        def step() -> Any:
            loss = x.mm(w).tanh().sum()
            loss.backward()  # gradients accumulate from call to call
            return loss

        return step, [w], None

    eager, eager_params, _ = make()
    step, params, _ = make()
    compiled = tg.compile(step)
    for _ in range(6):
        eager()
        compiled()
        assert_same_params(eager_params, params)
    assert compiled.replays == 4


def test_closure_scalar_change_rerecords() -> None:
    eager, eager_params, eager_state = mlp((3, 8, 1))
    step, params, state = mlp((3, 8, 1))
    compiled = tg.compile(step)
    for i in range(8):
        lr = 1e-3 if i < 4 else 5e-4
        eager_state["lr"] = state["lr"] = lr
        assert_close(eager()._data, compiled()._data)
    assert_same_params(eager_params, params)
    assert compiled.recordings == 2
    assert compiled.replays == 5


def test_shapes_keep_a_program_each() -> None:
    rng = np.random.default_rng(2)
    batches = [tg.from_numpy(rng.standard_normal((n, 3)).astype(np.float32)) for n in (8, 8, 3) * 4]

    def make() -> Any:
        w = tg.from_numpy(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2))
        w.requires_grad_()

        def step(x: Any) -> Any:
            loss = x.mm(w).pow(2).mean()
            loss.backward()
            with tg.no_grad():
                w.sub_(0.1 * w.grad)
                w.grad.zero_()
            return loss

        return step, [w]

    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    for x in batches:
        assert_close(eager(x)._data, compiled(x)._data)
    assert_same_params(eager_params, params)
    assert compiled.recordings == 2  # one program per batch shape, then only replays
    assert len(compiled.programs) == 2


def test_new_input_tensor_each_call_is_guarded() -> None:
    w = tg.ones(3, 1, requires_grad=True)
    compiled = tg.compile(lambda x: x.mm(w).sum())
    with tg.no_grad():
        for i in range(5):
            x = tg.full((2, 3), float(i))
            assert compiled(x).item() == 6.0 * i


def test_shared_numpy_array_written_between_calls_is_seen() -> None:
    data = np.ones((4, 2), np.float32)
    x = tg.from_numpy(data)
    w = tg.ones(2, 1, requires_grad=True)

    def step() -> Any:
        loss = x.mm(w).sum()
        loss.backward()
        return loss

    compiled = tg.compile(step)
    for i in range(5):
        data[...] = i
        assert compiled().item() == 8.0 * i
    assert_close(w.grad._data, np.full((2, 1), 4.0 * (0 + 1 + 2 + 3 + 4)))
    assert compiled.replays == 3


def test_grad_mode_is_guarded() -> None:
    w = tg.ones(2, 2, requires_grad=True)
    x = tg.ones(3, 2)
    compiled = tg.compile(lambda: x.mm(w))
    for i in range(6):
        if i % 2:
            out = compiled()
            assert out.shape == (3, 2)
        else:
            with tg.no_grad():
                out = compiled()
        assert_close(out._data, np.full((3, 2), 2.0))
    assert compiled.recordings == 2


def test_python_side_effects_make_the_step_stay_eager() -> None:
    eager, eager_params, _ = mlp((3, 8, 1))
    step, params, _ = mlp((3, 8, 1))
    losses: list[Any] = []

    def logged() -> Any:
        loss = step()
        losses.append(loss)  # the list grows: its length guard fails on every call
        return loss

    compiled = tg.compile(logged)
    for _ in range(25):
        assert_close(eager()._data, compiled()._data)
    assert len(losses) == 25
    assert compiled.replays == 0
    assert compiled.disabled
    assert_same_params(eager_params, params)


def test_trainer_like_step_with_batches_and_a_detached_prediction() -> None:
    from tapegrad import nn
    from tapegrad.train.updates import ManualUpdate

    def make() -> tuple[Any, list[Any]]:
        tg.manual_seed(1)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        update = ManualUpdate(list(model.parameters()), 0.05)
        mse = nn.MSELoss()

        def step(x: Any, y: Any) -> Any:
            y_pred = model(x)
            loss = mse(y_pred, y)
            loss.backward()
            update.step()
            update.zero_grad()
            return loss, y_pred.detach()

        return step, list(model.parameters())

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((50, 4)).astype(np.float32)
    ys = rng.standard_normal((50, 2)).astype(np.float32)
    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    for _ in range(4):
        for start in range(0, 50, 16):  # batches of 16, 16, 16 and a last one of 2
            x, y = tg.from_numpy(xs[start : start + 16]), tg.from_numpy(ys[start : start + 16])
            (loss_e, pred_e), (loss_c, pred_c) = eager(x, y), compiled(x, y)
            assert_close(loss_e._data, loss_c._data)
            assert_close(pred_e._data, pred_c._data)
            assert pred_c.grad_fn is None
    assert_same_params(eager_params, params)
    assert compiled.recordings == 2
    assert compiled.replays == 13
