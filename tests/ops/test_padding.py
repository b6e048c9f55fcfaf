"""nn.functional.pad against torch: every mode on the inputs torch accepts, negative pads,
values and dtypes, node names, gradients of both orders and torch's errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F  # noqa: N812 - torch's spelling

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(3)

CASES = [
    ("constant", (3, 4), (1, 2)),
    ("constant", (3, 4), (1, 2, 3, 0)),
    ("constant", (3, 4), (-1, 1)),
    ("constant", (3, 4), (-1, -1, 0, 0)),
    ("constant", (2, 3, 4), (0, 0)),
    ("constant", (3, 0), (1, 1)),
    ("constant", (5,), (2, 3)),
    ("constant", (), ()),
    ("reflect", (2, 5), (2, 1)),
    ("reflect", (2, 3, 5), (-1, 3)),
    ("reflect", (1, 3, 4), (1, 1, -1, 2)),
    ("reflect", (2, 3, 4), (3, 0, 2, 2)),
    ("reflect", (1, 2, 3, 4), (1, 1, 2, 2)),
    ("reflect", (2, 3, 4, 5), (1, 1, 1, 1, 1, 1)),
    ("reflect", (1, 2, 3, 4, 5), (-1, 2, 2, -1, 1, 0)),
    ("reflect", (0, 3, 4), (1, 1)),
    ("replicate", (2, 5), (7, 1)),
    ("replicate", (2, 3, 5), (-2, 4)),
    ("replicate", (1, 3, 4), (-2, -2, 1, 1)),
    ("replicate", (1, 3, 4, 5), (-1, -1, -2, -1, 1, 1)),
    ("replicate", (2, 1, 2, 3, 4), (2, 2, 1, 0, 3, 3)),
    ("circular", (2, 5), (2, 1)),
    ("circular", (2, 5), (5, 0)),
    ("circular", (2, 3, 5), (-1, 2)),
    ("circular", (2, 3, 5), (2, -3)),
    ("circular", (1, 3, 4), (1, 1, 3, 1)),
    ("circular", (2, 3, 4, 5), (1, -1, 0, 2, 1, 1)),
    ("circular", (0, 3, 4), (1, 1, 1, 1)),
    ("circular", (3, 0, 4), (1, 1)),
]


def _ids(cases: list[tuple]) -> list[str]:
    return [f"{mode}-{shape}-{pad}" for mode, shape, pad in cases]


@pytest.mark.parametrize(("mode", "shape", "pad"), CASES, ids=_ids(CASES))
def test_values_node_and_gradient_match_torch(mode, shape, pad):
    data = RNG.standard_normal(shape)
    ours = tg.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    out, tout = F.pad(ours, pad, mode=mode), TF.pad(theirs, pad, mode=mode)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    upstream = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    tout.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("mode", "shape", "pad"), CASES, ids=_ids(CASES))
def test_second_order_matches_torch(mode, shape, pad):
    data = RNG.standard_normal(shape)
    ours = tg.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    for ns, fn, t in ((tg, F, ours), (torch, TF, theirs)):
        y = (fn.pad(t, pad, mode=mode) ** 3).sum()
        (g,) = ns.autograd.grad(y, t, create_graph=True)
        (g**2).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        ("int64", 2.5),
        ("int64", -2.5),
        ("int64", None),
        ("uint8", 7),
        ("bool", 2),
        ("bool", 0.5),
        ("float32", float("nan")),
        ("float32", True),
        ("float64", -1e300),
    ],
)
def test_constant_value_in_the_input_dtype(dtype, value):
    data = np.arange(6).reshape(2, 3).astype(dtype)
    out = F.pad(tg.tensor(data), (1, 1, 0, 1), value=value)
    tout = TF.pad(torch.tensor(data), (1, 1, 0, 1), value=value)
    assert str(out.dtype).split(".")[-1] == str(tout.dtype).split(".")[-1]
    np.testing.assert_array_equal(out.numpy(), tout.numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_index_modes_on_integers(mode):
    data = np.arange(12).reshape(1, 3, 4)
    out, tout = F.pad(tg.tensor(data), (1, 2), mode), TF.pad(torch.tensor(data), (1, 2), mode)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    assert out.dtype == tg.int64


def test_pad_is_a_copy():
    t = tg.tensor(np.ones((2, 3)))
    out = F.pad(t, (0, 0))
    t.add_(1)
    np.testing.assert_array_equal(out.numpy(), 1)


def test_zero_value_is_accepted_by_every_mode():
    data = np.ones((1, 2, 3))
    for mode in ("reflect", "replicate", "circular"):
        F.pad(tg.tensor(data), (1, 1), mode, 0.0)
        F.pad(tg.tensor(data), (1, 1), mode=mode, value=None)


ERRORS = [
    ("constant", (3, 4), (1, 2, 3, 4, 5, 6), None),
    ("constant", (3, 4), (1,), None),
    ("constant", (3, 4), (-3, -2), None),
    ("constant", (3, 4), (-5, 0), None),
    ("constant", (), (1, 1), None),
    ("constant", (3,), (1, 1), -1),
    ("reflect", (3, 4), (4, 1), None),
    ("reflect", (3, 4), (1, 1, 1, 1), None),
    ("reflect", (4,), (1, 1), None),
    ("reflect", (1, 2, 3, 4), (1, 1), None),
    ("reflect", (2, 3, 4, 5, 6, 7), (1, 1, 1, 1, 1, 1), None),
    ("reflect", (3, 4), (1, 1), 1.0),
    ("reflect", (3, 4), (), None),
    ("reflect", (3, 0), (1, 1), None),
    ("reflect", (0, 3), (1, 1), None),
    ("reflect", (3, 0, 4), (1, 1), None),
    ("reflect", (1, 3, 0), (1, 1, 1, 1), None),
    ("reflect", (1, 3, 4, 0), (1, 1, 1, 1, 1, 1), None),
    ("reflect", (1, 3, 4), (1, 1, 3, 1), None),
    ("reflect", (1, 3, 4), (4, 1, 1, 1), None),
    ("reflect", (1, 3, 4, 5), (1, 1, 1, 1, 3, 1), None),
    ("reflect", (1, 3, 4), (-2, -2), None),
    ("reflect", (1, 3, 4), (-2, -2, -2, -1), None),
    ("reflect", (1, 3, 4, 5), (-3, -3, -2, -2, -2, -1), None),
    ("replicate", (1, 3, 4), (-3, -2), None),
    ("replicate", (1, 3, 4), (-2, -2, -2, -1), None),
    ("replicate", (1, 3, 4), (1, 1, -2, -2), None),
    ("replicate", (1, 3, 4, 5), (1, 1, 1, 1, -2, -2), None),
    ("replicate", (1, 3, 4, 5), (-3, -2, -2, -2, -2, -1), None),
    ("replicate", (4,), (1, 1), None),
    ("replicate", (3, 0), (1, 1), None),
    ("circular", (3, 4), (5, 1), None),
    ("circular", (1, 3, 4), (-3, -2), None),
    ("circular", (1, 3, 4), (1, 1, 4, 1), None),
    ("circular", (1, 3, 4), (1, 1, -3, -2), None),
    ("circular", (1, 5), (-1, 5), None),
    ("circular", (3, 4, 0), (1, 1), None),
    ("circular", (4,), (1, 1), None),
    ("foo", (3, 4), (1,), None),
]


@pytest.mark.parametrize(("mode", "shape", "pad", "value"), ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(mode, shape, pad, value):
    data = np.ones(shape, dtype=np.uint8 if value == -1 else np.float64)
    with pytest.raises(Exception) as expected:
        TF.pad(torch.tensor(data), pad, mode, value)
    message = str(expected.value).split("\n")[0]
    with pytest.raises(type(expected.value), match=re.escape(message)):
        F.pad(tg.tensor(data), pad, mode, value)


def test_pad_argument_type_errors():
    t = tg.ones(3, 4)
    with pytest.raises(TypeError, match="must be tuple of ints, but found element of type float"):
        F.pad(t, (1.5, 1))
    with pytest.raises(TypeError, match="must be tuple of ints, not Tensor"):
        F.pad(t, tg.tensor([1, 1]))
    with pytest.raises(
        TypeError, match=r"argument 'input' \(position 1\) must be Tensor, not list"
    ):
        F.pad([1.0, 2.0], (1, 1))
