"""nn.init against torch.nn.init: fans, distributions (two-sample Kolmogorov-Smirnov against
torch's own draws, seeded), trunc_normal_, orthogonal_, eye_, dirac_, sparse_ and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import init

torch = pytest.importorskip("torch")
TI = torch.nn.init

# D of two samples of 20000 from one distribution exceeds 0.03 with probability < 1e-6
KS_LIMIT = 0.03


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)
    torch.manual_seed(0)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The largest gap between the empirical CDFs of two samples."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


def both(shape: tuple[int, ...], dtype=tg.float32):
    ours = tg.zeros(*shape, dtype=dtype, requires_grad=True)
    theirs = torch.zeros(*shape, dtype=torch.float32 if dtype is tg.float32 else torch.float64)
    return ours, theirs.requires_grad_()


def values(t) -> np.ndarray:
    return t.detach().numpy()


def test_ks_statistic_tells_distributions_apart() -> None:
    rng = np.random.default_rng(0)
    assert ks_statistic(rng.normal(0, 1, 20000), rng.normal(0, 1, 20000)) < KS_LIMIT
    assert ks_statistic(rng.normal(0, 1, 20000), rng.normal(0, 1.2, 20000)) > KS_LIMIT


SHAPES = [(5, 3), (4, 3, 5), (8, 2, 3, 3), (6, 4, 2, 2, 2), (1, 7)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fans_match_torch(shape) -> None:
    ours, theirs = both(shape)
    assert init._calculate_fan_in_and_fan_out(ours) == TI._calculate_fan_in_and_fan_out(theirs)


# (name, shape, kwargs): each drawn by both libraries (20000 values) and compared
DISTRIBUTIONS = [
    ("uniform_", (200, 100), {}),
    ("uniform_", (200, 100), {"a": -3.0, "b": 0.5}),
    ("normal_", (200, 100), {"mean": 1.0, "std": 0.3}),
    ("xavier_uniform_", (100, 50, 2, 2), {"gain": 2.0}),
    ("xavier_normal_", (80, 250), {}),
    ("kaiming_uniform_", (100, 8, 5, 5), {}),
    ("kaiming_uniform_", (200, 100), {"a": math.sqrt(5)}),
    ("kaiming_uniform_", (50, 40, 10), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", (100, 200), {"nonlinearity": "tanh", "mode": "fan_out"}),
    ("kaiming_normal_", (100, 200), {"a": 0.2, "nonlinearity": "leaky_relu"}),
    ("kaiming_normal_", (20, 10, 10, 10), {"nonlinearity": "selu"}),
    ("trunc_normal_", (200, 100), {}),
    ("trunc_normal_", (200, 100), {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 1.0}),
    ("trunc_normal_", (200, 100), {"a": 1.5, "b": 3.0}),  # a tail: the uniform proposals
    ("trunc_normal_", (200, 100), {"mean": 0.0, "std": 0.02, "a": -0.04, "b": 0.04}),
    ("orthogonal_", (200, 100), {"gain": 1.5}),
    ("orthogonal_", (50, 400), {}),
]


@pytest.mark.parametrize(("name", "shape", "kwargs"), DISTRIBUTIONS, ids=lambda v: str(v))
def test_distribution_matches_torchs(name, shape, kwargs) -> None:
    ours, theirs = both(shape)
    assert getattr(init, name)(ours, **kwargs) is ours
    getattr(TI, name)(theirs, **kwargs)
    a, b = values(ours), values(theirs)
    assert ks_statistic(a, b) < KS_LIMIT
    assert abs(a.std() / b.std() - 1) < 0.03 and abs(a.mean() - b.mean()) < 0.05 * b.std()
    assert ours.dtype is tg.float32 and ours.requires_grad and ours.grad_fn is None
    if name == "trunc_normal_":
        lo, hi = kwargs.get("a", -2.0), kwargs.get("b", 2.0)
        assert values(ours).min() >= lo and values(ours).max() <= hi


def test_trunc_normal_warns_far_from_its_interval_and_keeps_the_bounds() -> None:
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        t = init.trunc_normal_(tg.zeros(1000), mean=5.0, std=1.0, a=-1.0, b=1.0)
    assert values(t).min() >= -1.0 and values(t).max() <= 1.0
    # close to b: the density rises towards it
    assert np.mean(values(t) > 0) > 0.9


@pytest.mark.parametrize("generator_seed", [3, 4])
def test_new_initializers_follow_the_seed_and_the_generator(generator_seed) -> None:
    for name, kwargs in (
        ("trunc_normal_", {}),
        ("trunc_normal_", {"a": 2.0, "b": 3.0}),
        ("orthogonal_", {}),
        ("sparse_", {"sparsity": 0.3}),
    ):
        fn = getattr(init, name)
        tg.manual_seed(11)
        first = values(fn(tg.zeros(6, 5), **kwargs)).copy()
        tg.manual_seed(11)
        np.testing.assert_array_equal(values(fn(tg.zeros(6, 5), **kwargs)), first)
        gen_a = np.random.default_rng(generator_seed)
        gen_b = np.random.default_rng(generator_seed)
        a = values(fn(tg.zeros(6, 5), generator=gen_a, **kwargs)).copy()
        np.testing.assert_array_equal(values(fn(tg.zeros(6, 5), generator=gen_b, **kwargs)), a)
        assert not np.array_equal(a, first)


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (6, 2, 3), (3, 2, 2, 2)], ids=str)
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=str)
def test_orthogonal_rows_or_columns_are_orthonormal(shape, dtype) -> None:
    t = init.orthogonal_(tg.zeros(*shape, dtype=dtype), gain=2.0)
    flat = values(t).reshape(shape[0], -1).astype(np.float64) / 2.0
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    atol = 1e-6 if dtype is tg.float32 else 1e-12
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=atol)
    assert t.dtype is dtype


def test_orthogonal_errors_and_empty() -> None:
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(tg.zeros(3))
    empty = tg.zeros(0, 3)
    assert init.orthogonal_(empty) is empty


@pytest.mark.parametrize("shape", [(3, 5), (4, 2), (3, 3)], ids=str)
def test_eye_matches_torch(shape) -> None:
    ours, theirs = both(shape)
    version = ours._version
    assert init.eye_(ours) is ours
    TI.eye_(theirs)
    np.testing.assert_array_equal(values(ours), values(theirs))
    assert ours._version > version and ours.requires_grad
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(tg.zeros(2, 2, 2))


@pytest.mark.parametrize(
    ("shape", "groups"),
    [((4, 3, 5), 1), ((6, 4, 3, 3), 2), ((2, 2, 3, 3, 3), 1), ((3, 5, 4, 2), 3), ((4, 2, 3), 2)],
    ids=str,
)
def test_dirac_matches_torch(shape, groups) -> None:
    ours, theirs = both(shape)
    init.normal_(ours)
    assert init.dirac_(ours, groups) is ours
    TI.dirac_(theirs, groups)
    np.testing.assert_array_equal(values(ours), values(theirs))


def test_dirac_errors() -> None:
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(tg.zeros(2, 2))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(tg.zeros(5, 2, 3), groups=2)


def test_sparse_zeros_a_fixed_count_per_column() -> None:
    t = init.sparse_(tg.zeros(50, 400), sparsity=0.25, std=0.5)
    zeros_per_column = (values(t) == 0).sum(axis=0)
    assert np.all(zeros_per_column == math.ceil(0.25 * 50))
    theirs = TI.sparse_(torch.zeros(50, 400), sparsity=0.25, std=0.5)
    assert ks_statistic(values(t), values(theirs)) < KS_LIMIT
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.sparse_(tg.zeros(3), 0.1)
