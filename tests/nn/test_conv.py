"""Convolutions: F.conv1d/conv2d/conv_transpose1d/2d and the Conv modules against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

from ._helpers import assert_close, copy_weights, to_torch, tolerance

torch = pytest.importorskip("torch")
DTYPES = [tg.float32, tg.float64]
TORCH_DTYPES = {tg.float32: torch.float32, tg.float64: torch.float64}


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


def _leaf(shape, dtype=tg.float64, seed=0):
    return tg.tensor(
        np.random.default_rng(seed).standard_normal(shape), dtype=dtype, requires_grad=True
    )


def _compare_module(ours, theirs, shape, dtype, **call):
    copy_weights(torch, ours, theirs)
    x = _leaf(shape, dtype)
    tx = to_torch(torch, x, requires_grad=True)
    out, tout = ours(x, **call), theirs(tx, **call)
    tol = tolerance(dtype)
    assert_close(out, tout, tol * 10)
    up = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(tg.tensor(up, dtype=dtype))
    tout.backward(torch.tensor(up, dtype=TORCH_DTYPES[dtype]))
    assert_close(x.grad, tx.grad, tol * 10)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        assert_close(p.grad, tp.grad, tol * 100)
    assert type(out.grad_fn).__name__ == type(tout.grad_fn).__name__


CONV2D_CASES = [
    dict(args=(3, 4, 3), kw={}),
    dict(args=(4, 6, (3, 2)), kw=dict(stride=2, padding=1, groups=2)),
    dict(args=(2, 3, 3), kw=dict(dilation=2, padding="same", bias=False)),
    dict(args=(2, 3, 2), kw=dict(padding="same")),
    dict(args=(2, 3, 3), kw=dict(padding=1, padding_mode="reflect")),
    dict(args=(2, 3, 3), kw=dict(padding=(1, 2), padding_mode="circular")),
    dict(args=(2, 3, 3), kw=dict(padding="same", padding_mode="replicate")),
    dict(args=(3, 3, 3), kw=dict(groups=3, padding="valid", stride=(1, 2))),
]


@pytest.mark.parametrize("case", CONV2D_CASES, ids=lambda c: str(c["kw"]))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_conv2d_module_matches_torch(case, dtype):
    ours = nn.Conv2d(*case["args"], **case["kw"], dtype=dtype)
    theirs = torch.nn.Conv2d(*case["args"], **case["kw"], dtype=TORCH_DTYPES[dtype])
    _compare_module(ours, theirs, (2, case["args"][0], 7, 6), dtype)


@pytest.mark.parametrize(
    "kw", [{}, dict(stride=2, padding=2, dilation=2), dict(groups=2, padding="same")], ids=str
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_conv1d_module_matches_torch(kw, dtype):
    ours = nn.Conv1d(4, 6, 3, **kw, dtype=dtype)
    theirs = torch.nn.Conv1d(4, 6, 3, **kw, dtype=TORCH_DTYPES[dtype])
    _compare_module(ours, theirs, (3, 4, 11), dtype)


@pytest.mark.parametrize(
    "kw",
    [{}, dict(stride=2, padding=1, output_padding=1), dict(groups=2, dilation=2, bias=False)],
    ids=str,
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_conv_transpose2d_module_matches_torch(kw, dtype):
    ours = nn.ConvTranspose2d(4, 6, 3, **kw, dtype=dtype)
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, **kw, dtype=TORCH_DTYPES[dtype])
    assert ours.weight.shape == tuple(theirs.weight.shape)
    _compare_module(ours, theirs, (2, 4, 5, 4), dtype)


def test_conv_transpose_output_size_picks_output_padding():
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    _compare_module(ours, theirs, (1, 2, 4, 4), tg.float32, output_size=(8, 8))
    with pytest.raises(ValueError, match="requested an output size of"):
        ours(tg.randn(1, 2, 4, 4), output_size=(10, 10))


def test_conv_transpose1d_module_matches_torch():
    ours = nn.ConvTranspose1d(3, 2, 4, stride=3, padding=1, output_padding=2)
    theirs = torch.nn.ConvTranspose1d(3, 2, 4, stride=3, padding=1, output_padding=2)
    _compare_module(ours, theirs, (2, 3, 5), tg.float32)


def test_unbatched_input_and_node_names():
    conv = nn.Conv2d(2, 3, 3)
    out = conv(tg.randn(2, 6, 6))
    assert out.shape == (3, 4, 4)
    assert out.grad_fn.name() == "SqueezeBackward1"
    assert conv(tg.randn(1, 2, 6, 6)).grad_fn.name() == "ConvolutionBackward0"
    assert nn.Conv1d(2, 3, 3)(tg.randn(2, 5)).shape == (3, 3)


def test_default_init_matches_torchs_bounds():
    conv = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives 1/sqrt(fan_in)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.8 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    t = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert t.weight.shape == (4, 3, 3, 3)
    assert np.abs(t.weight.detach().numpy()).max() <= 1 / math.sqrt(3 * 9)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert list(conv.state_dict()) == list(torch.nn.Conv2d(16, 32, 3).state_dict())


@pytest.mark.parametrize(
    "args",
    [
        ((2, 3, 4), {}),
        ((4, 6, (3, 2)), dict(stride=2, padding=1, groups=2, bias=False)),
        ((2, 3, 3), dict(padding="same", dilation=2, padding_mode="reflect")),
        ((2, 3, 3), dict(padding="valid")),
    ],
    ids=str,
)
def test_conv_repr_matches_torch(args):
    pos, kw = args
    assert repr(nn.Conv2d(*pos, **kw)) == repr(torch.nn.Conv2d(*pos, **kw))
    assert repr(nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)) == repr(
        torch.nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)
    )


ERROR_CALLS = [
    ("conv2d", (2, 3, 8, 8), (4, 2, 3, 3), {}),
    ("conv2d", (8, 8), (4, 3, 3, 3), {}),
    ("conv2d", (2, 3, 8, 8), (4, 3, 9, 9), {}),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=2, padding="same")),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(padding="foo")),
    ("conv2d", (2, 3, 8, 8), (4, 1, 3, 3), dict(groups=2)),
    ("conv2d", (2, 3, 8, 8), (4, 1, 3, 3), dict(groups=3)),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=0)),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(dilation=0)),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(padding=-1)),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=(1, 1, 1))),
    ("conv1d", (3, 8, 8), (4, 3, 3), {}),
    ("conv1d", (2, 3, 8), (4, 3, 3, 3), {}),
    ("conv_transpose2d", (2, 3, 8, 8), (4, 3, 3, 3), {}),
    ("conv_transpose2d", (2, 3, 8, 8), (3, 4, 3, 3), dict(output_padding=1)),
]


@pytest.mark.parametrize(("fn", "xs", "ws", "kw"), ERROR_CALLS, ids=str)
def test_errors_match_torch(fn, xs, ws, kw):
    x, w = tg.randn(*xs), tg.randn(*ws)
    with pytest.raises(Exception) as theirs:
        getattr(torch.nn.functional, fn)(to_torch(torch, x), to_torch(torch, w), **kw)
    with pytest.raises(type(theirs.value)) as ours:
        getattr(F, fn)(x, w, **kw)
    assert str(ours.value) == str(theirs.value)


def test_dtype_and_bias_errors_match_torch():
    x, w = tg.randn(2, 3, 5, 5), tg.randn(4, 3, 3, 3, dtype=tg.float64)
    with pytest.raises(RuntimeError, match=r"Input type \(torch.FloatTensor\) and weight type"):
        F.conv2d(x, w)
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 4 elements"):
        F.conv2d(x, w.float(), tg.randn(3))


def test_module_argument_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="wrap")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_second_order_matches_torch(transposed):
    fn = "conv_transpose2d" if transposed else "conv2d"
    kw = dict(stride=2, padding=1, groups=2)
    x, w, b = _leaf((2, 4, 5, 5)), _leaf((4, 2, 3, 3), seed=1), _leaf((4,), seed=2)
    tx, tw, tb = (to_torch(torch, t, requires_grad=True) for t in (x, w, b))
    out = getattr(F, fn)(x, w, b, **kw)
    tout = getattr(torch.nn.functional, fn)(tx, tw, tb, **kw)
    gx, gw = tg.autograd.grad((out**2).sum(), (x, w), create_graph=True)
    tgx, tgw = torch.autograd.grad((tout**2).sum(), (tx, tw), create_graph=True)
    assert gx.grad_fn is not None
    ((gx * gx).sum() + (gw**3).sum()).backward()
    ((tgx * tgx).sum() + (tgw**3).sum()).backward()
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


def test_no_grad_and_weight_only_grad():
    conv = nn.Conv2d(2, 3, 3)
    with tg.no_grad():
        out = conv(tg.randn(1, 2, 5, 5))
    assert out.grad_fn is None and not out.requires_grad
    x = tg.randn(1, 2, 5, 5)
    conv(x).sum().backward()
    assert x.grad is None and conv.weight.grad.shape == (3, 2, 3, 3)


def test_saved_input_modified_in_place_is_caught():
    x = tg.randn(1, 2, 5, 5, requires_grad=True)
    h = x * 1
    out = F.conv2d(h, tg.randn(3, 2, 3, 3, requires_grad=True))
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
