"""eye, linspace, logspace, full_like, rand_like, randn_like, randint and randperm against
torch: values (deterministic ones), dtypes, keyword arguments and errors; for the random
ones (whose values cannot match torch's) ranges, distributions and seeded reproducibility."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")


def _dtype_name(t: object) -> str:
    return str(t.dtype).split(".")[-1]


def _same(ours: tg.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == tuple(theirs.shape)
    assert _dtype_name(ours) == _dtype_name(theirs)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


DETERMINISTIC = [
    lambda ns: ns.eye(3),
    lambda ns: ns.eye(3, 4),
    lambda ns: ns.eye(n=4, m=2),
    lambda ns: ns.eye(0),
    lambda ns: ns.eye(3, dtype=ns.int64),
    lambda ns: ns.eye(2, dtype=ns.bool),
    lambda ns: ns.linspace(0, 1, 5),
    lambda ns: ns.linspace(0, 1, 0),
    lambda ns: ns.linspace(0, 1, 1),
    lambda ns: ns.linspace(-3, 2, 7),
    lambda ns: ns.linspace(0.1, 7.3, steps=101),
    lambda ns: ns.linspace(10, -1, 33, dtype=ns.float64),
    lambda ns: ns.linspace(-2.5, 10.7, 7, dtype=ns.int64),
    lambda ns: ns.linspace(0, 10, 5, dtype=ns.int32),
    lambda ns: ns.linspace(ns.tensor(0.5), ns.tensor(2.0), 4),
    lambda ns: ns.logspace(0, 2, 3),
    lambda ns: ns.logspace(0, 2, 3, 2),
    lambda ns: ns.logspace(-1, 3, 50, base=2.0, dtype=ns.float64),
    lambda ns: ns.logspace(0, 2.5, 4, dtype=ns.int64),
    lambda ns: ns.logspace(0.5, 2, 1, dtype=ns.int64),
    lambda ns: ns.logspace(0, 1, 0),
    lambda ns: ns.full_like(ns.zeros(2, 3), 2),
    lambda ns: ns.full_like(ns.zeros(2, 3), 2, dtype=ns.int64),
    lambda ns: ns.full_like(ns.zeros(2, 3), True),
    lambda ns: ns.full_like(ns.zeros(3, dtype=ns.int64), 2.5),
    lambda ns: ns.full_like(ns.zeros(3, dtype=ns.uint8), -1),
    lambda ns: ns.full_like(ns.zeros(3, dtype=ns.bool), 1),
    lambda ns: ns.full_like(ns.zeros(()), fill_value=-0.5),
]


@pytest.mark.parametrize("call", DETERMINISTIC, ids=range(len(DETERMINISTIC)))
def test_deterministic_factories_match_torch(call):
    _same(call(tg), call(torch))


def test_float64_linspace_and_logspace_within_an_ulp():
    rng = np.random.default_rng(0)
    for _ in range(50):
        start, end = (float(v) for v in rng.uniform(-50, 50, 2))
        steps = int(rng.integers(2, 300))
        for name in ("linspace", "logspace"):
            ours = getattr(tg, name)(start / 10, end / 10, steps, dtype=tg.float64).numpy()
            theirs = getattr(torch, name)(start / 10, end / 10, steps, dtype=torch.float64)
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=4e-16, atol=0)


def test_float32_linspace_is_exact_and_logspace_within_a_few_ulps():
    rng = np.random.default_rng(1)
    for _ in range(50):
        start, end = (float(v) for v in rng.uniform(-5, 5, 2))
        steps = int(rng.integers(0, 300))
        _same(tg.linspace(start, end, steps), torch.linspace(start, end, steps))
        ours, theirs = tg.logspace(start, end, steps), torch.logspace(start, end, steps)
        np.testing.assert_allclose(
            ours.numpy(), theirs.numpy(), rtol=1e-6
        )  # torch: a vectorized pow


@pytest.mark.parametrize(
    "make",
    [
        lambda ns: ns.eye(2, requires_grad=True),
        lambda ns: ns.linspace(0, 1, 3, requires_grad=True),
        lambda ns: ns.logspace(0, 1, 3, requires_grad=True),
        lambda ns: ns.full_like(ns.zeros(2), 1.0, requires_grad=True),
        lambda ns: ns.rand_like(ns.zeros(2), requires_grad=True),
        lambda ns: ns.randn_like(ns.zeros(2), requires_grad=True),
        lambda ns: ns.randint(3, (2,), dtype=ns.float32, requires_grad=True),
        lambda ns: ns.randperm(3, dtype=ns.float64, requires_grad=True),
    ],
)
def test_requires_grad_leaves(make):
    ours, theirs = make(tg), make(torch)
    assert ours.requires_grad and theirs.requires_grad
    assert ours.grad_fn is None and ours.is_leaf
    assert _dtype_name(ours) == _dtype_name(theirs)


@pytest.mark.parametrize(
    "make",
    [
        lambda ns: ns.rand_like(ns.zeros(2, 3)),
        lambda ns: ns.randn_like(ns.zeros(2, 3, dtype=ns.float64)),
        lambda ns: ns.rand_like(ns.zeros(3, dtype=ns.int64), dtype=ns.float64),
        lambda ns: ns.randint(10, (3,)),
        lambda ns: ns.randint(3, 10, (2, 2)),
        lambda ns: ns.randint(3, 10, size=(3,)),
        lambda ns: ns.randint(low=3, high=10, size=(3,)),
        lambda ns: ns.randint(high=10, size=[3]),
        lambda ns: ns.randint(3, high=10, size=(3,)),
        lambda ns: ns.randint(10, (3,), dtype=ns.float32),
        lambda ns: ns.randint(10, (3,), dtype=ns.uint8),
        lambda ns: ns.randint(10, []),
        lambda ns: ns.randperm(5),
        lambda ns: ns.randperm(0),
        lambda ns: ns.randperm(5, dtype=ns.float32),
    ],
)
def test_random_factories_shapes_and_dtypes_match_torch(make):
    ours, theirs = make(tg), make(torch)
    assert ours.shape == tuple(theirs.shape)
    assert _dtype_name(ours) == _dtype_name(theirs)


def test_seeded_reproducibility_and_generators():
    def draw() -> list[np.ndarray]:
        like = tg.zeros(4, 5)
        return [
            t.numpy()
            for t in (
                tg.rand_like(like),
                tg.randn_like(like),
                tg.randint(-3, 9, (50,)),
                tg.randperm(20),
            )
        ]

    tg.manual_seed(123)
    first = draw()
    tg.manual_seed(123)
    second = draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    gen = np.random.default_rng(5)
    a = tg.randint(100, (10,), generator=gen).numpy()
    b = tg.randint(100, (10,), generator=np.random.default_rng(5)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        tg.randperm(10, generator=np.random.default_rng(2)).numpy(),
        tg.randperm(10, generator=np.random.default_rng(2)).numpy(),
    )
    np.testing.assert_array_equal(
        tg.rand_like(tg.zeros(5), generator=np.random.default_rng(3)).numpy(),
        tg.rand_like(tg.zeros(5), generator=np.random.default_rng(3)).numpy(),
    )


def test_random_distributions():
    tg.manual_seed(0)
    ints = tg.randint(-3, 4, (20000,)).numpy()
    assert ints.min() == -3 and ints.max() == 3
    counts = np.bincount(ints + 3)
    assert np.all(np.abs(counts / ints.size - 1 / 7) < 0.01)
    perm = tg.randperm(1000).numpy()
    np.testing.assert_array_equal(np.sort(perm), np.arange(1000))
    assert not np.array_equal(perm, np.arange(1000))
    uniform = tg.rand_like(tg.zeros(20000, dtype=tg.float64)).numpy()
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.01
    normal = tg.randn_like(tg.zeros(20000)).numpy()
    assert abs(normal.mean()) < 0.03 and abs(normal.std() - 1) < 0.03


ERRORS = [
    lambda ns: ns.eye(-1),
    lambda ns: ns.eye(3, -1),
    lambda ns: ns.eye(3, dtype=ns.int64, requires_grad=True),
    lambda ns: ns.linspace(0, 1, -1),
    lambda ns: ns.logspace(0, 2, -3),
    lambda ns: ns.linspace(0, 1, 3, dtype=ns.int64, requires_grad=True),
    lambda ns: ns.full_like(ns.zeros(2, dtype=ns.int64), 1, requires_grad=True),
    lambda ns: ns.rand_like(ns.zeros(3, dtype=ns.int64)),
    lambda ns: ns.randn_like(ns.zeros(3, dtype=ns.int64)),
    lambda ns: ns.randint(10, 3),
    lambda ns: ns.randint(2.5, (3,)),
    lambda ns: ns.randint(0, (3,)),
    lambda ns: ns.randint(5, 3, (3,)),
    lambda ns: ns.randint(10, (3,), dtype=ns.bool),
    lambda ns: ns.randint(300, (3,), dtype=ns.uint8),
    lambda ns: ns.randint(-300, 10, (2,), dtype=ns.int8),
    lambda ns: ns.randint(10, (3,), requires_grad=True),
    lambda ns: ns.randperm(-1),
    lambda ns: ns.randperm(5, requires_grad=True),
    lambda ns: ns.randperm(300, dtype=ns.uint8),
]


@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call):
    with pytest.raises(Exception) as expected:
        call(torch)
    message = str(expected.value).split("\n")[0]
    with pytest.raises(type(expected.value), match=re.escape(message)):
        call(tg)


def test_like_factories_refuse_non_tensors():
    for name in ("full_like", "rand_like", "randn_like"):
        args = (2,) if name == "full_like" else ()
        with pytest.raises(TypeError, match=f"{name}\\(\\): argument 'input'"):
            getattr(tg, name)([1.0, 2.0], *args)
