"""What compile cannot replay runs eagerly, with eager's numbers; exceptions leave eager's state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tests.replay.helpers import assert_close, assert_same_params, mlp


def _wrapped(extra: Any) -> Any:
    """Make ``(step, params)`` builders whose step also calls ``extra(loss, params)``."""

    def make() -> tuple[Any, list[Any]]:
        rng = np.random.default_rng(3)
        w = tg.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)).requires_grad_()
        b = tg.zeros(1, 3).requires_grad_()
        x = tg.from_numpy(rng.standard_normal((6, 4)).astype(np.float32))
        params = [w, b]

        def step() -> Any:
            out = x.mm(w).add(b).tanh()
            loss = extra(out, params)
            with tg.no_grad():
                for p in params:
                    p.sub_(0.05 * p.grad)
            for p in params:
                p.grad.zero_()
            return loss

        return step, params

    return make


def _hook(out: Any, params: list[Any]) -> Any:
    handle = params[0].register_hook(lambda g: g * 2)
    loss = out.pow(2).sum()
    loss.backward()
    handle.remove()
    return loss


def _retain(out: Any, params: list[Any]) -> Any:
    out.retain_grad()
    loss = out.pow(2).sum()
    loss.backward()
    return loss


def _item(out: Any, params: list[Any]) -> Any:
    loss = out.pow(2).sum()
    scale = 2.0 if loss.item() > 0 else 1.0  # Python reads a value: cannot be replayed
    (loss * scale).backward()
    return loss


def _create_graph(out: Any, params: list[Any]) -> Any:
    loss = out.pow(2).sum()
    loss.backward(create_graph=True)
    for p in params:
        p.grad = p.grad.detach()
    return loss


def _autograd_grad(out: Any, params: list[Any]) -> Any:
    loss = out.pow(2).sum()
    grads = tg.autograd.grad(loss, params)
    for p, g in zip(params, grads):
        p.grad = g
    return loss


def _dropout(out: Any, params: list[Any]) -> Any:
    loss = tg.nn.functional.dropout(out, 0.5, training=True).pow(2).sum()
    loss.backward()
    return loss


def _data_write(out: Any, params: list[Any]) -> Any:
    loss = out.pow(2).sum()
    loss.backward()
    params[1].data.add_(0.01)  # through .data: another tensor on the parameter's array
    return loss


class _Square(tg.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (a,) = ctx.saved_tensors
        return 2 * a * g


def _custom_function(out: Any, params: list[Any]) -> Any:
    loss = _Square.apply(out).sum()
    loss.backward()
    return loss


@pytest.mark.parametrize(
    "extra",
    [_hook, _retain, _item, _create_graph, _autograd_grad, _custom_function],
)
def test_unsupported_steps_run_eagerly(extra: Any) -> None:
    make = _wrapped(extra)
    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    for _ in range(5):
        tg.manual_seed(7)
        expected = eager()
        tg.manual_seed(7)
        assert_close(expected._data, compiled()._data)
    assert_same_params(eager_params, params)
    assert compiled.replays == 0
    assert compiled.eager_reason is not None
    if extra not in (_create_graph, _autograd_grad):  # these assign new .grad tensors
        assert compiled.recordings == 1  # refused once; the refusal is kept under its guards


def test_dropout_replays_drawing_the_same_masks_as_eager() -> None:
    make = _wrapped(_dropout)
    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    tg.manual_seed(7)
    expected = [eager().item() for _ in range(6)]
    tg.manual_seed(7)
    assert [compiled().item() for _ in range(6)] == expected  # one stream, drawn in order
    assert len(set(expected)) == 6  # a new mask every step
    assert_same_params(eager_params, params, rtol=0)
    assert compiled.replays == 4, compiled.eager_reason


def test_writes_through_data_replay() -> None:
    make = _wrapped(_data_write)
    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    for _ in range(5):
        assert eager().item() == compiled().item()
    assert_same_params(eager_params, params, rtol=0)
    assert compiled.replays == 3, compiled.eager_reason


def test_anomaly_mode_runs_eagerly() -> None:
    eager, eager_params, _ = mlp((3, 8, 1))
    step, params, _ = mlp((3, 8, 1))
    compiled = tg.compile(step)
    with tg.autograd.set_detect_anomaly(True):
        for _ in range(4):
            assert_close(eager()._data, compiled()._data)
    assert compiled.replays == 0
    assert_same_params(eager_params, params)


def test_hook_added_after_recording_stops_the_replay() -> None:
    eager, eager_params, _ = mlp((3, 8, 1))
    step, params, _ = mlp((3, 8, 1))
    compiled = tg.compile(step)
    for i in range(6):
        if i == 3:
            for p in (eager_params[0], params[0]):
                p.register_hook(lambda g: g * 0.5)
        assert_close(eager()._data, compiled()._data)
    assert_same_params(eager_params, params)
    assert compiled.replays == 1


def test_nn_and_optimizer_step() -> None:
    def make() -> tuple[Any, list[Any]]:
        tg.manual_seed(5)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        opt = tg.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.MSELoss()
        x, y = tg.randn(10, 4), tg.randn(10, 2)

        def step() -> Any:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, list(model.parameters())

    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    for _ in range(6):
        assert_close(eager()._data, compiled()._data)
    assert_same_params(eager_params, params)
    assert compiled.replays == 4, compiled.eager_reason  # optimizer.step is called again


def test_blog_update_with_alpha_and_flat_gradients() -> None:
    from tapegrad.train.updates import ManualUpdate

    def make() -> tuple[Any, list[Any]]:
        step, params, state = mlp((3, 8, 1))
        updater = ManualUpdate(params, 1e-3)

        def flat_step() -> Any:
            loss = state["x"].mm(params[0]).add(params[1]).relu().mm(params[2]) - state["y"]
            loss = loss.add(params[3]).pow(2).sum()
            loss.backward()
            updater.step()  # FlatGrads.sgd_step: one multiply and one fill for all
            return loss

        def alpha_step() -> Any:
            loss = step()
            with tg.no_grad():
                params[0].sub_(params[0], alpha=1e-4)  # sub_ with alpha: a scaled operand
            return loss

        return (flat_step, alpha_step), params

    (eager_flat, eager_alpha), eager_params = make()
    (flat, alpha), params = make()
    compiled_flat, compiled_alpha = tg.compile(flat), tg.compile(alpha)
    for _ in range(6):
        assert_close(eager_flat()._data, compiled_flat()._data)
        assert_close(eager_alpha()._data, compiled_alpha()._data)
    assert_same_params(eager_params, params)
    assert compiled_flat.replays == 4, compiled_flat.eager_reason
    assert compiled_alpha.replays == 4, compiled_alpha.eager_reason


def test_exception_mid_replay_leaves_parameters_as_eager() -> None:
    def make() -> Any:
        data = np.ones((4, 3), np.float32)
        w = tg.ones(3, 2, requires_grad=True)
        x = tg.from_numpy(data)

        def step() -> Any:
            loss = x.mm(w).exp().sum()
            loss.backward()
            with tg.no_grad():
                w.sub_(1e-3 * w.grad)
                w.grad.zero_()
            return loss

        return data, step, [w]

    data_e, eager, eager_params = make()
    data_c, step, params = make()
    compiled = tg.compile(step)
    for _ in range(4):
        assert_close(eager()._data, compiled()._data)
    assert compiled.replays == 2
    data_e[...] = data_c[...] = 1e30  # exp overflows in the forward pass
    for run in (eager, compiled):
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            run()
    assert_same_params(eager_params, params)
    data_e[...] = data_c[...] = 0.5
    for _ in range(3):
        assert_close(eager()._data, compiled()._data)
    assert_same_params(eager_params, params)


def test_untraced_write_into_an_intermediate_runs_eagerly() -> None:
    def make() -> tuple[Any, list[Any]]:
        w = tg.ones(3, 2, requires_grad=True)
        x = tg.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3))

        def step() -> Any:
            h = x.mm(w)
            with tg.no_grad():
                h[0] = 0.0  # an indexed write: not a recorded in-place kernel
            loss = h.sum()
            return loss

        return step, [w]

    eager, _ = make()
    step, _ = make()
    compiled = tg.compile(step)
    for _ in range(4):
        assert_close(eager()._data, compiled()._data)
    assert compiled.replays == 0


@pytest.mark.parametrize("idiom", ["w.data -= lr * w.grad.data", "w -= lr * w.grad (no_grad)"])
def test_old_update_idioms_replay_exactly(idiom: str) -> None:
    def make() -> tuple[Any, Any]:
        rng = np.random.default_rng(0)
        x = tg.from_numpy(rng.standard_normal((20, 3)).astype(np.float32))
        y = tg.from_numpy(rng.standard_normal((20, 1)).astype(np.float32))
        params = [tg.from_numpy(rng.standard_normal((3, 1)).astype(np.float32))]
        params[0].requires_grad_()

        def step() -> Any:
            w = params[0]
            loss = (x.mm(w) - y).pow(2).mean()
            loss.backward()
            if idiom.startswith("w.data"):
                w.data -= 0.1 * w.grad.data
                w.grad.data.zero_()
            else:
                with tg.no_grad():
                    w -= 0.1 * w.grad
                w.grad = None
            return loss

        return step, params

    eager, eager_params = make()
    step, params = make()
    compiled = tg.compile(step)
    for _ in range(8):
        assert eager().item() == compiled().item()
    assert_same_params(eager_params, params, rtol=0)
    assert compiled.replays == 6, compiled.eager_reason


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_an_exception_while_recording_leaves_tapegrad_as_it_was(error: type) -> None:
    import gc

    from tapegrad import recording
    from tapegrad.replay import patches

    original_run_op, original_backward = recording._run_op, tg.Tensor.backward
    w = tg.ones(3, 1, requires_grad=True)
    x = tg.ones(2, 3)
    boom = [False]

    def step() -> Any:
        loss = x.mm(w).sum()
        if boom[0]:
            raise error("boom")
        loss.backward()
        w.grad = None
        return loss

    compiled = tg.compile(step)
    compiled()
    boom[0] = True
    with pytest.raises(error):
        compiled()  # raised while recording
    boom[0] = False
    assert not patches._active and gc.isenabled()
    assert recording._run_op is original_run_op and tg.Tensor.backward is original_backward
    for _ in range(4):
        assert compiled().item() == 6.0
    assert compiled.replays == 3 and compiled.recordings == 2


def _states(step: Any, calls: int) -> list[Any]:
    """The loss of each call and the default generator's state after it."""
    out = []
    for _ in range(calls):
        loss = step().item()
        out.append((loss, tg.default_generator().bit_generator.state["state"]["state"]))
    return out


@pytest.mark.parametrize("dropout", [True, False])
def test_seeding_inside_the_step_keeps_it_eager(dropout: bool) -> None:
    def make() -> Any:
        tg.manual_seed(1)
        layers = [nn.Linear(3, 8), nn.Dropout(0.5) if dropout else nn.Identity(), nn.Linear(8, 1)]
        model = nn.Sequential(*layers)
        x = tg.randn(4, 3)

        def step() -> Any:
            tg.manual_seed(0)  # not replayable: later draws would not be eager's
            loss = model(x).sum()
            loss.backward()
            model.zero_grad()
            return loss

        return step

    expected = _states(make(), 5)
    compiled = tg.compile(make())
    assert _states(compiled, 5) == expected
    assert compiled.replays == 0
    assert "random" in compiled.eager_reason


def test_a_draw_outside_the_recorded_ops_keeps_the_step_eager() -> None:
    def make() -> Any:
        tg.manual_seed(1)
        model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))
        x = tg.randn(4, 3)

        def step() -> Any:
            loss = model(x).sum()
            tg.default_generator().random()  # numpy on the generator: unseen by the recorder
            loss.backward()
            model.zero_grad()
            return loss

        return step

    expected = _states(make(), 5)
    compiled = tg.compile(make())
    assert _states(compiled, 5) == expected
    assert compiled.replays == 0 and "random" in compiled.eager_reason


def test_another_threads_ops_are_not_recorded() -> None:
    import threading

    w = tg.ones(3, 1, requires_grad=True)
    x = tg.ones(4, 3)
    seen = np.zeros(2)  # an array: the guards do not look into it

    def elsewhere() -> None:  # eager work on another thread while the step records
        other = tg.full((2, 2), 2.0, requires_grad=True)
        total = (other * other).sum()
        total.backward()
        seen[int(seen[0] != 0)] = total.item() + other.grad.sum().item()

    def step(background: bool) -> Any:
        loss = x.mm(w).sum()
        if background:
            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join()
        loss.backward()
        w.grad = None
        return loss

    quiet, busy = tg.compile(step), tg.compile(step)
    for _ in range(2):
        quiet(False)
        busy(True)
    assert seen.tolist() == [32.0, 32.0]  # the other thread ran, eagerly, each time
    assert busy.programs[0].run is not None, busy.eager_reason
    assert busy.programs[0].source == quiet.programs[0].source  # none of its ops recorded
