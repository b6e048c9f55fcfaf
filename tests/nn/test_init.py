"""tapegrad.nn.init: distributions, bounds, reproducibility, in-place semantics, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import init


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


def big(*shape: int, dtype=tg.float32) -> tg.Tensor:
    return tg.zeros(*shape, dtype=dtype, requires_grad=True)


def test_uniform_bounds_and_moments() -> None:
    t = init.uniform_(big(200, 100), -2.0, 3.0)
    assert t.detach().numpy().min() >= -2.0 and t.detach().numpy().max() <= 3.0
    assert abs(t.detach().numpy().mean() - 0.5) < 0.05
    assert abs(t.detach().numpy().std() - 5 / math.sqrt(12)) < 0.05
    default = init.uniform_(big(1000))
    assert default.detach().numpy().min() >= 0.0 and default.detach().numpy().max() <= 1.0


def test_normal_moments() -> None:
    t = init.normal_(big(200, 100), mean=1.0, std=0.5)
    assert abs(t.detach().numpy().mean() - 1.0) < 0.02
    assert abs(t.detach().numpy().std() - 0.5) < 0.02


def test_constant_zeros_ones() -> None:
    t = big(2, 3)
    assert np.all(init.constant_(t, 2.5).detach().numpy() == 2.5)
    assert np.all(init.ones_(t).detach().numpy() == 1.0)
    assert np.all(init.zeros_(t).detach().numpy() == 0.0)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound(mode: str) -> None:
    t = big(300, 120)
    fan = 120 if mode == "fan_in" else 300
    init.kaiming_uniform_(t, a=math.sqrt(5), mode=mode)
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 5)) / math.sqrt(fan)
    assert (
        np.abs(t.detach().numpy()).max() <= bound
        and np.abs(t.detach().numpy()).max() > 0.98 * bound
    )
    init.kaiming_uniform_(t, nonlinearity="relu")
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(120)
    assert (
        np.abs(t.detach().numpy()).max() <= bound
        and np.abs(t.detach().numpy()).max() > 0.98 * bound
    )


def test_kaiming_normal_std() -> None:
    t = init.kaiming_normal_(big(400, 100), nonlinearity="relu")
    assert abs(t.detach().numpy().std() - math.sqrt(2 / 100)) < 0.005


def test_xavier_bounds_and_std() -> None:
    t = init.xavier_uniform_(big(300, 100), gain=2.0)
    bound = 2.0 * math.sqrt(6 / 400)
    assert (
        np.abs(t.detach().numpy()).max() <= bound
        and np.abs(t.detach().numpy()).max() > 0.98 * bound
    )
    n = init.xavier_normal_(big(300, 100))
    assert abs(n.detach().numpy().std() - math.sqrt(2 / 400)) < 0.003


def test_fans_use_the_receptive_field() -> None:
    t = init.xavier_uniform_(big(4, 3, 5))
    bound = math.sqrt(6 / (15 + 20))
    assert np.abs(t.detach().numpy()).max() <= bound


def test_calculate_gain_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    cases = [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 1),
        ("selu", None),
    ]
    for name, param in cases:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_same_seed_same_values_other_seed_other_values() -> None:
    def draw(seed: int) -> np.ndarray:
        tg.manual_seed(seed)
        t = init.kaiming_uniform_(big(5, 4))
        init.normal_(u := big(3))
        return np.concatenate([t.detach().numpy().ravel(), u.detach().numpy()])

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))


def test_explicit_generator_leaves_the_default_stream_alone() -> None:
    tg.manual_seed(1)
    expected = tg.rand(3).detach().numpy()
    tg.manual_seed(1)
    gen = np.random.default_rng(99)
    a = init.uniform_(big(3), generator=gen)
    assert not np.array_equal(a.detach().numpy(), expected)
    np.testing.assert_array_equal(tg.rand(3).detach().numpy(), expected)
    b = init.uniform_(big(3), generator=np.random.default_rng(99))
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=str)
def test_in_place_outside_the_graph(dtype) -> None:
    t = big(3, 4, dtype=dtype)
    version = t._version
    for fn in (
        init.uniform_,
        init.normal_,
        init.zeros_,
        init.kaiming_uniform_,
        init.xavier_uniform_,
    ):
        assert fn(t) is t
    assert t._version > version
    assert t.requires_grad and t.is_leaf and t.grad_fn is None
    assert t.dtype is dtype


def test_init_errors() -> None:
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(big(3))
    with pytest.raises(
        ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"
    ):
        init.kaiming_uniform_(big(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope x not a valid number"):
        init.calculate_gain("leaky_relu", "x")
    with pytest.raises(TypeError, match="expected a tapegrad.Tensor"):
        init.uniform_(np.zeros(3))


def test_zero_element_kaiming_warns_and_does_nothing() -> None:
    t = big(0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(t) is t
