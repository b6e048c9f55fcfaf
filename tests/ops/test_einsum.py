"""einsum against torch: values and first/second-order gradients for many equations (node
names depend on the decomposition, so they are not compared), the calling forms, dtypes and
torch's errors for bad equations."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i", [(3,), (3,)]),
    ("i,i->i", [(3,), (1,)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("iji->j", [(3, 2, 3)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("ba", [(3, 4)]),
    ("bij,bjk->bki", [(1, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ik,...kj->...ij", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i...->...", [(3, 4)]),
    ("...->", [(3, 4)]),
    ("ij->i...", [(3, 4)]),
    ("ij->j...i", [(3, 4)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("ij,ij->", [(3, 1), (3, 4)]),
    ("ij,kl->ijkl", [(2, 3), (4, 5)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
    ("ijk,ikj->", [(2, 3, 4), (2, 4, 3)]),
    ("i j->j i", [(3, 4)]),
    ("ij-> ji", [(3, 4)]),
    ("", [()]),
    ("->", [()]),
    (",ij->ij", [(), (2, 3)]),
    ("ij,jk->ik", [(0, 4), (4, 5)]),
    ("ij,jk->ik", [(3, 0), (0, 5)]),
]


def _operands(shapes: list[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize(("equation", "shapes"), CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(equation, shapes):
    arrays = _operands(shapes)
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = tg.einsum(equation, *ours), torch.einsum(equation, *theirs)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=1e-12)
    upstream = np.random.default_rng(5).standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    tout.backward(torch.tensor(upstream))
    for t, tt in zip(ours, theirs):
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize(("equation", "shapes"), CASES, ids=[c[0] for c in CASES])
def test_gradcheck_and_gradgradcheck(equation, shapes):
    inputs = tuple(tg.tensor(a, requires_grad=True) for a in _operands(shapes, seed=3))
    assert gradcheck(lambda *xs: tg.einsum(equation, *xs), inputs)
    assert gradgradcheck(lambda *xs: tg.einsum(equation, *xs), inputs)


@pytest.mark.parametrize(("equation", "shapes"), CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_second_order_matches_torch(equation, shapes):
    arrays = _operands(shapes, seed=4)
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for ns, ts in ((tg, ours), (torch, theirs)):
        y = (ns.einsum(equation, *ts) ** 2).sum()
        grads = ns.autograd.grad(y, ts, create_graph=True)
        sum((g**2).sum() for g in grads).backward()
    for t, tt in zip(ours, theirs):
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_operands_as_a_list_and_as_sublists():
    a, b = _operands([(3, 4), (4, 5)])
    expected = a @ b
    np.testing.assert_allclose(
        tg.einsum("ij,jk->ik", [tg.tensor(a), tg.tensor(b)]).numpy(), expected
    )
    np.testing.assert_allclose(
        tg.einsum(tg.tensor(a), [0, 1], tg.tensor(b), [1, 2], [0, 2]).numpy(), expected
    )
    sub = tg.einsum(tg.tensor(a), [Ellipsis, 1], tg.tensor(b), [1, 2]).numpy()
    tsub = torch.einsum(torch.tensor(a), [Ellipsis, 1], torch.tensor(b), [1, 2]).numpy()
    np.testing.assert_allclose(sub, tsub)


def test_integer_operands_stay_integer():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    out = tg.einsum("ij,jk->ik", tg.tensor(a), tg.tensor(b))
    tout = torch.einsum("ij,jk->ik", torch.tensor(a), torch.tensor(b))
    assert out.dtype == tg.int64
    np.testing.assert_array_equal(out.numpy(), tout.numpy())


def test_float32_result_and_gradient_dtype():
    a = tg.randn(3, 4, requires_grad=True)
    out = tg.einsum("ij->j", a)
    out.sum().backward()
    assert out.dtype == tg.float32
    assert a.grad.dtype == tg.float32


def test_single_operand_result_is_a_new_tensor():
    a = tg.randn(3, 4, requires_grad=True)
    out = tg.einsum("ij->ij", a)
    assert out is not a
    assert out.grad_fn is not None


X = np.ones((3, 4))
ERRORS = [
    ("ij,jk->ik", [(3, 4)]),
    ("ij,jk->ik", [(3, 4), (4, 5), (5, 6)]),
    ("ijk->ij", [(3, 4)]),
    ("ijk...->ij", [(3, 4)]),
    ("i->ij", [(3,)]),
    ("ij->ii", [(3, 4)]),
    ("ij,jk->ik", [(3, 4), (3, 4)]),
    ("ij-ik", [(3, 4)]),
    ("i1->i", [(3, 4)]),
    ("ij.->i", [(3, 4)]),
    ("......", [(3, 4)]),
    ("ij..", [(3, 4)]),
    ("ij->i.", [(3, 4)]),
    ("ij->......", [(3, 4)]),
    ("ij->i1", [(3, 4)]),
    ("ij->ji->i", [(3, 4)]),
    ("ij - > ji", [(3, 4)]),
    ("ii->i", [(3, 4)]),
    ("i,i->i", [(3,), (2,)]),
    ("...ij,...ij->...", [(2, 3, 4), (5, 3, 4)]),
    ("ij", [(4,)]),
]


@pytest.mark.parametrize(("equation", "shapes"), ERRORS, ids=[e[0] for e in ERRORS])
def test_equation_errors_match_torch(equation, shapes):
    arrays = [np.ones(s) for s in shapes]
    with pytest.raises(RuntimeError) as expected:
        torch.einsum(equation, *[torch.tensor(a) for a in arrays])
    message = str(expected.value).split("\n")[0]
    with pytest.raises(RuntimeError, match=re.escape(message)):
        tg.einsum(equation, *[tg.tensor(a) for a in arrays])


def test_calling_errors_match_torch():
    for ns in (tg, torch):
        with pytest.raises(ValueError, match="must specify the equation string and at least one"):
            ns.einsum("ij")
        with pytest.raises(ValueError, match="must specify the equation string and at least one"):
            ns.einsum("ij", [])
        with pytest.raises(
            TypeError, match="expected Tensor as element 1 in argument 1, but got int"
        ):
            ns.einsum("ij,jk", ns.ones(2, 2), 3)
        with pytest.raises(RuntimeError, match="expected scalar type Double but found Float"):
            ns.einsum("i,i->", ns.ones(3, dtype=ns.float64), ns.ones(3))
