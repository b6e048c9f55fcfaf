"""Pooling and resampling: max/avg/adaptive pools, interpolate and their modules vs torch."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

from ._helpers import assert_close, to_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(shape, dtype=tg.float32, seed=0, values=None):
    data = np.random.default_rng(seed).standard_normal(shape) if values is None else values
    x = tg.tensor(data, dtype=dtype, requires_grad=True)
    return x, to_torch(torch, x, requires_grad=True)


def _check(fn_ours, fn_theirs, shape, dtype=tg.float32, values=None, atol=1e-6):
    """Values, indices (if any), input gradients and node names equal torch's."""
    x, tx = _pair(shape, dtype, values=values)
    out, tout = fn_ours(x), fn_theirs(tx)
    if isinstance(out, tuple):
        (out, idx), (tout, tidx) = out, tout
        assert idx.dtype is tg.int64
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert_close(out, tout, atol)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    up = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(tg.tensor(up, dtype=dtype))
    tout.backward(torch.tensor(up, dtype=tout.dtype))
    assert_close(x.grad, tx.grad, atol)


MAX2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=1, dilation=(1, 2), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True, padding=1),
    dict(kernel_size=2, stride=(2, 1), return_indices=True),
    dict(kernel_size=3, stride=1, padding=1, return_indices=True),
]


@pytest.mark.parametrize("kw", MAX2D, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 5)], ids=str)
def test_max_pool2d_matches_torch(kw, shape):
    _check(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), shape)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True),
        dict(kernel_size=2, stride=1, dilation=3, return_indices=True),
    ],
    ids=str,
)
@pytest.mark.parametrize("shape", [(2, 3, 9), (3, 8)], ids=str)
def test_max_pool1d_matches_torch(kw, shape):
    _check(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), shape)


def test_max_pool_nan_inf_and_ties_follow_torch():
    vals = np.array(
        [[[[1.0, np.nan, 3.0, 3.0], [np.nan, 0.0, 3.0, 3.0], [-np.inf] * 4, [2.0] * 4]]]
    )
    for kw in (dict(kernel_size=2), dict(kernel_size=2, stride=1, padding=1)):
        x = tg.tensor(vals)
        out, idx = F.max_pool2d(x, return_indices=True, **kw)
        tout, tidx = TF.max_pool2d(torch.tensor(vals), return_indices=True, **kw)
        np.testing.assert_array_equal(out.numpy(), tout.numpy())
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def test_max_pool_integer_input():
    x = tg.tensor(np.arange(16).reshape(1, 1, 4, 4) % 7)
    assert F.max_pool2d(x, 2).tolist() == TF.max_pool2d(to_torch(torch, x), 2).tolist()


AVG2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, divisor_override=3, padding=1),
]


@pytest.mark.parametrize("kw", AVG2D, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 5)], ids=str)
def test_avg_pool2d_matches_torch(kw, shape):
    _check(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), shape)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    ],
    ids=str,
)
def test_avg_pool1d_matches_torch(kw):
    _check(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), (2, 3, 10))


@pytest.mark.parametrize("size", [3, (2, 5), (None, 2), 1, (7, 8), (9, 10)], ids=str)
def test_adaptive_pools_match_torch(size):
    _check(
        lambda x: F.adaptive_avg_pool2d(x, size),
        lambda x: TF.adaptive_avg_pool2d(x, size),
        (2, 3, 7, 8),
    )
    _check(
        lambda x: F.adaptive_max_pool2d(x, size, return_indices=True),
        lambda x: TF.adaptive_max_pool2d(x, size, return_indices=True),
        (2, 3, 7, 8),
    )
    o = size if isinstance(size, int) else size[-1]
    _check(lambda x: F.adaptive_avg_pool1d(x, o), lambda x: TF.adaptive_avg_pool1d(x, o), (2, 3, 8))


INTERP = [
    dict(scale_factor=2),
    dict(size=(5, 11)),
    dict(scale_factor=(1.5, 0.7)),
    dict(scale_factor=2.3, recompute_scale_factor=True),
    dict(size=(9, 4), mode="bilinear"),
    dict(scale_factor=1.7, mode="bilinear", align_corners=True),
    dict(scale_factor=0.5, mode="bilinear", align_corners=False),
    dict(size=(1, 1), mode="bilinear", align_corners=True),
    dict(size=(3, 5), mode="area"),
    dict(scale_factor=1.7, mode="nearest-exact"),
    dict(size=(4, 12), mode="nearest-exact"),
]


@pytest.mark.parametrize("kw", INTERP, ids=str)
def test_interpolate_2d_matches_torch(kw):
    _check(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), (2, 3, 6, 7))


@pytest.mark.parametrize(
    "kw",
    [
        dict(scale_factor=3),
        dict(size=4),
        dict(size=13, mode="linear"),
        dict(scale_factor=0.6, mode="linear", align_corners=True),
        dict(size=3, mode="area"),
        dict(scale_factor=2.5, mode="nearest-exact"),
    ],
    ids=str,
)
def test_interpolate_1d_matches_torch(kw):
    _check(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), (2, 3, 8))


MODULES = [
    ("MaxPool2d", (3,), dict(stride=2, padding=1), (2, 3, 8, 8)),
    ("MaxPool2d", (2,), dict(return_indices=True), (2, 3, 8, 8)),
    ("MaxPool1d", (3,), dict(stride=2), (2, 3, 9)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 8, 8)),
    ("AvgPool1d", (2,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 8, 6)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", (3,), dict(return_indices=True), (2, 3, 8, 8)),
    ("Upsample", (), dict(scale_factor=2, mode="nearest"), (2, 3, 4, 4)),
    ("Upsample", (), dict(size=(5, 7), mode="bilinear", align_corners=True), (2, 3, 4, 4)),
]


@pytest.mark.parametrize(("name", "args", "kw", "shape"), MODULES, ids=lambda v: str(v))
def test_modules_match_torch(name, args, kw, shape):
    ours, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    _check(ours, theirs, shape)


ERRORS = [
    (lambda f, x: f.max_pool2d(x, 3, padding=2), (2, 3, 8, 8)),
    (lambda f, x: f.max_pool2d(x, 9), (2, 3, 8, 8)),
    (lambda f, x: f.max_pool2d(x, 2), (8, 8)),
    (lambda f, x: f.max_pool2d(x, 2, stride=0), (2, 3, 8, 8)),
    (lambda f, x: f.max_pool2d(x, 2, dilation=0), (2, 3, 8, 8)),
    (lambda f, x: f.max_pool1d(x, 2), (8,)),
    (lambda f, x: f.max_pool1d(x, 9), (3, 8)),
    (lambda f, x: f.avg_pool2d(x, 3, padding=2), (2, 3, 8, 8)),
    (lambda f, x: f.avg_pool2d(x, 9), (3, 8, 8)),
    (lambda f, x: f.avg_pool2d(x, 3, divisor_override=0), (3, 8, 8)),
    (lambda f, x: f.avg_pool1d(x, 2), (8,)),
    (lambda f, x: f.adaptive_avg_pool2d(x, 2), (8, 8)),
    (lambda f, x: f.adaptive_max_pool2d(x, 2), (8, 8)),
    (lambda f, x: f.adaptive_avg_pool1d(x, 2), (8,)),
    (lambda f, x: f.interpolate(x, size=3, scale_factor=2), (1, 2, 4, 4)),
    (lambda f, x: f.interpolate(x), (1, 2, 4, 4)),
    (lambda f, x: f.interpolate(x, size=3, align_corners=True), (1, 2, 4, 4)),
    (lambda f, x: f.interpolate(x, size=3, mode="bilinear"), (1, 2, 4)),
    (lambda f, x: f.interpolate(x, size=3, mode="linear"), (1, 2, 4, 4)),
    (lambda f, x: f.interpolate(x, size=(3,)), (1, 2, 4, 4)),
    (lambda f, x: f.interpolate(x, scale_factor=2), (2, 4)),
    (lambda f, x: f.interpolate(x, size=(0, 3)), (1, 2, 5, 5)),
    (lambda f, x: f.interpolate(x, scale_factor=0.1, mode="linear"), (1, 2, 5)),
]


@pytest.mark.parametrize(("call", "shape"), ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_match_torch(call, shape):
    x = tg.randn(*shape)
    with pytest.raises(Exception) as theirs:
        call(TF, to_torch(torch, x))
    with pytest.raises(type(theirs.value)) as ours:
        call(F, x)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "fn",
    [
        lambda f, x: f.max_pool2d(x, 3, stride=1, padding=1),
        lambda f, x: f.avg_pool2d(x, 3, stride=2, padding=1),
        lambda f, x: f.adaptive_max_pool2d(x, 3),
        lambda f, x: f.adaptive_avg_pool2d(x, 3),
        lambda f, x: f.interpolate(x, scale_factor=1.5, mode="bilinear"),
    ],
    ids=["max", "avg", "adaptive_max", "adaptive_avg", "bilinear"],
)
def test_second_order_matches_torch(fn):
    x, tx = _pair((1, 2, 5, 5), tg.float64)
    (g,) = tg.autograd.grad((fn(F, x) ** 3).sum(), (x,), create_graph=True)
    (tgrad,) = torch.autograd.grad((fn(TF, tx) ** 3).sum(), (tx,), create_graph=True)
    (g * g).sum().backward()
    (tgrad * tgrad).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_random_configurations_match_torch():
    """A seeded sweep of pooling configurations against torch (values and gradients)."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        k = int(rng.integers(1, 4))
        s = int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))
        d = int(rng.integers(1, 3))
        ceil = bool(rng.integers(0, 2))
        shape = (2, 2, int(rng.integers(k * d + 2, 10)), int(rng.integers(k * d + 2, 10)))
        kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil)
        _check(
            lambda x, kw=kw, d=d: F.max_pool2d(x, dilation=d, **kw),
            lambda x, kw=kw, d=d: TF.max_pool2d(x, dilation=d, **kw),
            shape,
        )
        cip = bool(rng.integers(0, 2))
        _check(
            lambda x, kw=kw, c=cip: F.avg_pool2d(x, count_include_pad=c, **kw),
            lambda x, kw=kw, c=cip: TF.avg_pool2d(x, count_include_pad=c, **kw),
            shape,
        )
