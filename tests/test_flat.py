"""FlatGrads and the manual update built on it: bit-identical to the per-parameter loop."""

from __future__ import annotations

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad._flat import FlatGrads
from tapegrad.train.loop import ManualUpdate


def _model_and_data(seed: int = 0) -> tuple[nn.Module, tg.Tensor, tg.Tensor]:
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, tg.randn(16, 3), tg.randn(16, 2)


def _per_parameter_step(params: list[tg.Tensor], lr: float) -> None:
    with tg.no_grad():
        for p in params:
            p.sub_(lr * p.grad)
        for p in params:
            p.grad.zero_()


def _train(update: str, steps: int = 5, lr: float = 0.05) -> tuple[list[float], list[np.ndarray]]:
    model, x, y = _model_and_data()
    params = list(model.parameters())
    manual = ManualUpdate(params, lr)
    losses = []
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        manual.step() if update == "flat" else _per_parameter_step(params, lr)
    return losses, [p.detach().numpy().copy() for p in params]


def test_flat_update_is_the_per_parameter_loop_bit_for_bit():
    flat_losses, flat_params = _train("flat")
    loop_losses, loop_params = _train("loop")
    assert flat_losses == loop_losses
    for a, b in zip(flat_params, loop_params):
        np.testing.assert_array_equal(a, b)


def test_grads_become_views_of_one_buffer_keeping_their_values():
    model, x, y = _model_and_data()
    params = list(model.parameters())
    ((model(x) - y) ** 2).sum().backward()
    before = [p.grad.detach().numpy().copy() for p in params]
    flat = FlatGrads(params)
    assert flat.intact()
    for p, value in zip(params, before):
        assert p.grad.detach().numpy().base is flat.buffer
        np.testing.assert_array_equal(p.grad.detach().numpy(), value)
    ((model(x) - y) ** 2).sum().backward()  # the engine adds into the views in place
    assert flat.intact()
    for p, value in zip(params, before):
        np.testing.assert_array_equal(p.grad.detach().numpy(), 2 * value)


def test_step_bumps_versions_like_sub_and_zero():
    model, x, y = _model_and_data()
    params = list(model.parameters())
    manual = ManualUpdate(params, 0.1)
    ((model(x) - y) ** 2).sum().backward()
    versions = [(p._version, p.grad._version) for p in params]
    manual.step()
    assert [(p._version, p.grad._version) for p in params] == [(v + 1, g + 1) for v, g in versions]
    assert all(not p.grad.detach().numpy().any() for p in params)


def test_a_replaced_grad_is_noticed_and_the_buffer_rebuilt():
    model, x, y = _model_and_data()
    params = list(model.parameters())
    manual = ManualUpdate(params, 0.05)
    params[0].grad = None  # e.g. zero_grad(set_to_none=True) from outside
    loss = ((model(x) - y) ** 2).sum()
    loss.backward()
    expected = [
        (p.detach().numpy() - np.float32(0.05) * p.grad.detach().numpy()).copy() for p in params
    ]
    assert not manual._flat.intact()
    manual.step()
    assert manual._flat.intact()
    for p, value in zip(params, expected):
        np.testing.assert_array_equal(p.detach().numpy(), value)


def test_unsupported_parameters_take_the_per_parameter_path():
    a = tg.ones(2, requires_grad=True)
    b = tg.ones(2, dtype=tg.float64, requires_grad=True)
    assert not FlatGrads.supports([a, b])  # two dtypes
    assert not FlatGrads.supports([a, a])  # one parameter twice
    assert not FlatGrads.supports([])
    assert not FlatGrads.supports([a, tg.ones(2)])  # a frozen parameter keeps .grad None
    manual = ManualUpdate([a, b], 0.5)
    assert manual._flat is None
    (a.sum() + b.sum()).backward()
    manual.step()
    assert a.tolist() == [0.5, 0.5] and b.tolist() == [0.5, 0.5]
    assert a.grad.tolist() == [0.0, 0.0]
