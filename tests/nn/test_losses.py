"""MSELoss and CrossEntropyLoss: values and gradients equal torch's for every reduction."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

from ._helpers import assert_close, to_torch, tolerance

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [tg.float32, tg.float64]


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


def backward_both(torch, out, tout) -> None:
    """Backpropagate the same random upstream gradient through both results."""
    upstream = tg.randn(*out.shape, dtype=out.dtype)
    out.backward(upstream)
    tout.backward(to_torch(torch, upstream))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction: str, dtype) -> None:
    torch = pytest.importorskip("torch")
    x = tg.randn(8, 3, dtype=dtype, requires_grad=True)
    y = tg.randn(8, 3, dtype=dtype, requires_grad=True)
    tx, ty = to_torch(torch, x, True), to_torch(torch, y, True)
    out = nn.MSELoss(reduction=reduction)(x, y)
    tout = torch.nn.MSELoss(reduction=reduction)(tx, ty)
    assert_close(out, tout, tolerance(dtype))
    backward_both(torch, out, tout)
    assert_close(x.grad, tx.grad, tolerance(dtype))
    assert_close(y.grad, ty.grad, tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_loss_matches_torch(reduction: str, dtype) -> None:
    torch = pytest.importorskip("torch")
    logits = tg.randn(10, 4, dtype=dtype, requires_grad=True)
    target = tg.tensor([0, 3, 1, 2, 2, 0, 1, 3, 3, 0])
    tlogits = to_torch(torch, logits, True)
    out = nn.CrossEntropyLoss(reduction=reduction)(logits, target)
    tout = torch.nn.CrossEntropyLoss(reduction=reduction)(tlogits, to_torch(torch, target))
    assert_close(out, tout, tolerance(dtype))
    backward_both(torch, out, tout)
    assert_close(logits.grad, tlogits.grad, tolerance(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_ignore_index_matches_torch(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    logits = tg.randn(6, 3, dtype=tg.float64, requires_grad=True)
    target = tg.tensor([0, -100, 2, 1, -100, 2])
    tlogits = to_torch(torch, logits, True)
    out = nn.CrossEntropyLoss(reduction=reduction)(logits, target)
    tout = torch.nn.CrossEntropyLoss(reduction=reduction)(tlogits, to_torch(torch, target))
    assert_close(out, tout, 1e-12)
    backward_both(torch, out, tout)
    assert_close(logits.grad, tlogits.grad, 1e-12)
    custom = nn.CrossEntropyLoss(ignore_index=2)(logits.detach(), tg.tensor([0, 1, 2, 1, 2, 2]))
    tcustom = torch.nn.CrossEntropyLoss(ignore_index=2)(
        tlogits.detach(), torch.tensor([0, 1, 2, 1, 2, 2])
    )
    assert_close(custom, tcustom, 1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_other_layouts_match_torch(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    cases = [
        (tg.randn(5, dtype=tg.float64), tg.tensor(3)),  # unbatched
        (tg.randn(2, 3, 4, dtype=tg.float64), tg.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])),  # (N, C, d)
        (tg.randn(4, 3, dtype=tg.float64), tg.randn(4, 3, dtype=tg.float64).softmax(1)),  # probs
    ]
    for logits, target in cases:
        logits.requires_grad_()
        tlogits = to_torch(torch, logits, True)
        out = nn.functional.cross_entropy(logits, target, reduction=reduction)
        tout = torch.nn.functional.cross_entropy(
            tlogits, to_torch(torch, target), reduction=reduction
        )
        assert_close(out, tout, 1e-12)
        backward_both(torch, out, tout)
        assert_close(logits.grad, tlogits.grad, 1e-12)


def test_cross_entropy_of_a_perfect_prediction_is_near_zero() -> None:
    logits = tg.tensor([[20.0, 0.0], [0.0, 20.0]])
    assert nn.CrossEntropyLoss()(logits, tg.tensor([0, 1])).item() < 1e-8
    assert nn.CrossEntropyLoss()(logits, tg.tensor([1, 0])).item() == pytest.approx(20.0, rel=1e-6)


def test_mse_loss_value() -> None:
    loss = nn.MSELoss()(tg.tensor([1.0, 2.0, 3.0]), tg.tensor([1.0, 0.0, 0.0]))
    assert loss.item() == pytest.approx(13 / 3)
    assert nn.MSELoss(reduction="sum")(tg.tensor([1.0, 2.0]), tg.tensor([0.0, 0.0])).item() == 5.0


def test_loss_modules_repr_like_torch_and_have_no_parameters() -> None:
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss()"
    assert list(nn.CrossEntropyLoss().parameters()) == []


def test_loss_modules_validate_reduction() -> None:
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")(tg.ones(2), tg.ones(2))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        nn.CrossEntropyLoss(reduction="avg")(tg.ones(2, 2), tg.tensor([0, 1]))


def test_losses_backpropagate_into_a_model() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    loss = nn.CrossEntropyLoss()(model(tg.randn(5, 3)), tg.tensor([0, 1, 1, 0, 1]))
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    assert np.isfinite(loss.item())


def _names(node, depth):
    """Node names below ``node``, ``depth`` levels deep (torch's namespace prefix dropped)."""
    if node is None or depth == 0:
        return None
    return node.name().split("::")[-1], [_names(n, depth - 1) for n, _ in node.next_functions]


def _cross_entropy_graphs(lib) -> dict:
    """Graph names, loss and logits' gradient for class-index targets, as in torch."""
    functional = nn.functional if lib is tg else lib.nn.functional

    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 3, 2])
    options = ({}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 3})
    found = {}
    for kw in options:
        for case in ("(N, C)", "(C,)", "every target ignored"):
            x = lib.from_numpy(logits.copy()).requires_grad_()
            if case == "(N, C)":
                loss = functional.cross_entropy(x, lib.from_numpy(labels.copy()), **kw)
            elif case == "(C,)":
                loss = functional.cross_entropy(x[1], lib.tensor(3), **kw)
            else:
                target = lib.from_numpy(np.full(5, 3))
                loss = functional.cross_entropy(x, target, **{**kw, "ignore_index": 3})
            (loss * loss).sum().backward()
            found[str(kw), case] = (_names(loss.grad_fn, 3), loss.detach().numpy(), x.grad.numpy())
    return found


def test_cross_entropy_records_nll_over_log_softmax_as_torch() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _cross_entropy_graphs(tg), _cross_entropy_graphs(torch)
    for key, (graph, loss, grad) in theirs.items():
        assert ours[key][0] == graph, key
        np.testing.assert_allclose(ours[key][1], loss, rtol=1e-5, err_msg=str(key))
        np.testing.assert_allclose(ours[key][2], grad, rtol=1e-5, atol=1e-6, err_msg=str(key))


def test_cross_entropy_with_probabilities_records_torch_graph() -> None:
    torch = pytest.importorskip("torch")

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    target = rng.random((3, 4)).astype(np.float32)
    target /= target.sum(1, keepdims=True)
    found = []
    for lib in (tg, torch):
        functional = nn.functional if lib is tg else lib.nn.functional
        runs = []
        for reduction in ("mean", "sum", "none"):
            x = lib.from_numpy(logits.copy()).requires_grad_()
            loss = functional.cross_entropy(x, lib.from_numpy(target.copy()), reduction=reduction)
            (loss * loss).sum().backward()
            runs.append((_names(loss.grad_fn, 6), loss.detach().numpy(), x.grad.numpy()))
        found.append(runs)
    for (graph, loss, grad), (want_graph, want_loss, want_grad) in zip(*found):
        assert graph == want_graph  # DivBackward1 over NegBackward0 over SumBackward0 for mean
        np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)
