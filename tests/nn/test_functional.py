"""tapegrad.nn.functional: activations, linear, softmax and the losses' input checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

from ._helpers import assert_close, to_torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


def test_module_is_importable_both_ways() -> None:
    import tapegrad.nn

    assert tapegrad.nn.functional.relu is F.relu


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid"])
def test_activations_match_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    x = tg.tensor([[-1.5, 0.0, 0.3], [2.0, -0.1, 4.0]], dtype=tg.float64, requires_grad=True)
    tx = to_torch(torch, x, True)
    out, tout = getattr(F, name)(x), getattr(torch.nn.functional, name)(tx)
    assert_close(out, tout, 1e-12)
    out.sum().backward()
    tout.sum().backward()
    assert_close(x.grad, tx.grad, 1e-12)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_matches_torch(name: str, dim: int) -> None:
    torch = pytest.importorskip("torch")
    x = tg.randn(3, 5, dtype=tg.float64, requires_grad=True)
    tx = to_torch(torch, x, True)
    out, tout = getattr(F, name)(x, dim), getattr(torch.nn.functional, name)(tx, dim)
    assert_close(out, tout, 1e-12)
    weights = tg.randn(3, 5, dtype=tg.float64)
    (out * weights).sum().backward()
    (tout * to_torch(torch, weights)).sum().backward()
    assert_close(x.grad, tx.grad, 1e-12)


def test_softmax_without_dim_warns_and_picks_torchs_dim() -> None:
    x = tg.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(x)
    np.testing.assert_allclose(out.detach().numpy().sum(1), 1.0, rtol=1e-6)
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        out = F.log_softmax(tg.randn(4))
    np.testing.assert_allclose(np.exp(out.detach().numpy()).sum(), 1.0, rtol=1e-6)


def test_softmax_dtype_argument() -> None:
    assert F.softmax(tg.randn(2, 3), dim=1, dtype=tg.float64).dtype is tg.float64


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias: bool) -> None:
    torch = pytest.importorskip("torch")
    x = tg.randn(4, 3, dtype=tg.float64, requires_grad=True)
    w = tg.randn(2, 3, dtype=tg.float64, requires_grad=True)
    b = tg.randn(2, dtype=tg.float64, requires_grad=True) if bias else None
    tx, tw = to_torch(torch, x, True), to_torch(torch, w, True)
    tb = to_torch(torch, b, True) if bias else None
    out, tout = F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb)
    assert_close(out, tout, 1e-12)
    out.sum().backward()
    tout.sum().backward()
    for ours, theirs in [(x, tx), (w, tw)] + ([(b, tb)] if bias else []):
        assert_close(ours.grad, theirs.grad, 1e-12)


# ============================================================================ mse_loss checks


def test_mse_loss_warns_on_shape_mismatch_like_torch() -> None:
    with pytest.warns(UserWarning) as record:
        out = F.mse_loss(tg.randn(3), tg.randn(3, 1))
    assert str(record[0].message) == (
        "Using a target size ([3, 1]) that is different to the input size ([3]). This will "
        "likely lead to incorrect results due to broadcasting. Please ensure they have the "
        "same size."
    )
    assert out.shape == ()


def test_mse_loss_same_shape_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(tg.randn(3, 2), tg.randn(3, 2))


def test_mse_loss_errors() -> None:
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="must match the size"):
        F.mse_loss(tg.randn(3), tg.randn(4))
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.mse_loss(tg.randn(3), tg.randn(3), reduction="foo")
    with pytest.raises(
        TypeError, match=r"mse_loss\(\): argument 'target' must be Tensor, not list"
    ):
        F.mse_loss(tg.randn(2), [0.0, 1.0])


# ============================================================================ cross_entropy checks


@pytest.mark.parametrize("bad", [5, 3, -1])
def test_cross_entropy_target_out_of_bounds(bad: int) -> None:
    with pytest.raises(IndexError, match=f"^Target {bad} is out of bounds.$"):
        F.cross_entropy(tg.randn(3, 3), tg.tensor([0, 1, bad]))


def test_cross_entropy_target_dtype() -> None:
    with pytest.raises(
        RuntimeError, match="expected target dtype to be Long or Byte, but got Float"
    ):
        F.cross_entropy(tg.randn(3, 4), tg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(RuntimeError, match="but got Int$"):
        F.cross_entropy(tg.randn(3, 4), tg.tensor([0, 1, 2], dtype=tg.int32))
    byte = F.cross_entropy(tg.randn(2, 3), tg.tensor([0, 2], dtype=tg.uint8))
    assert np.isfinite(byte.item())


def test_cross_entropy_shape_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)\."
    ):
        F.cross_entropy(tg.randn(3, 4), tg.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"target batch_size \(0\)"):
        F.cross_entropy(tg.randn(3, 4), tg.tensor(1))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not"):
        F.cross_entropy(tg.randn(3, 4), tg.tensor([[0, 1, 2]]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 4\], got \[2, 5\]"):
        F.cross_entropy(tg.randn(2, 3, 4), tg.zeros(2, 5, dtype=tg.int64))
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class"):
        F.cross_entropy(tg.randn(2, 3), tg.zeros(2, 3, dtype=tg.int64))
    with pytest.raises(RuntimeError, match="at least 1 dimension"):
        F.cross_entropy(tg.randn(()), tg.tensor(0))
    with pytest.raises(TypeError, match="argument 'target' must be Tensor, not list"):
        F.cross_entropy(tg.randn(2, 3), [0, 1])


def test_cross_entropy_all_targets_ignored_is_nan_like_torch() -> None:
    out = F.cross_entropy(tg.randn(2, 3), tg.tensor([-100, -100]))
    assert np.isnan(out.item())
    assert F.cross_entropy(tg.randn(2, 3), tg.tensor([-100, -100]), reduction="sum").item() == 0.0


def _mse_runs(lib) -> dict:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((5, 3)).astype(np.float32)
    b_np = rng.standard_normal((5, 3)).astype(np.float32)
    targets = {
        "target needs grad": lambda: lib.from_numpy(b_np.copy()).requires_grad_(),
        "constant target": lambda: lib.from_numpy(b_np.copy()),
        "broadcast target": lambda: lib.from_numpy(b_np[0].copy()).requires_grad_(),
        "float64 target": lambda: lib.from_numpy(b_np.astype(np.float64)),
        "equal values": lambda: lib.from_numpy(a_np.copy()).requires_grad_(),
    }
    found = {}
    for reduction in ("mean", "sum", "none"):
        for case, make_target in targets.items():
            a = lib.from_numpy(a_np.copy()).requires_grad_()
            b = make_target()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the broadcast case warns, in both
                loss = lib.nn.functional.mse_loss(a, b, reduction=reduction)
            (loss * loss).sum().backward()
            below = [n and n.name().split("::")[-1] for n, _ in loss.grad_fn.next_functions]
            grads = [None if t.grad is None else t.grad.numpy() for t in (a, b)]
            found[reduction, case] = (
                (loss.grad_fn.name(), below, str(loss.dtype).split(".")[-1]),
                [loss.detach().numpy(), *grads],
            )
    return found


def test_mse_loss_is_one_node_with_torch_values() -> None:
    # MseLossBackward0 over the inputs (expanded first when they broadcast); equal values
    # give the target +0 gradients
    torch = pytest.importorskip("torch")
    ours, theirs = _mse_runs(tg), _mse_runs(torch)
    for key, (structure, values) in theirs.items():
        assert ours[key][0] == structure, key
        for got, want in zip(ours[key][1], values):
            if want is None:
                assert got is None, key
            else:
                np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=str(key))
                assert np.array_equal(np.signbit(got), np.signbit(want)), key
