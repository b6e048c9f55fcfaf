"""Linear, the activation modules and Sequential: shapes, init, and equality with torch.nn."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

from ._helpers import assert_close, copy_weights, to_torch, tolerance

ACTIVATIONS = ["ReLU", "Tanh", "Sigmoid"]
DTYPES = [tg.float32, tg.float64]


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


def mlp(module_ns, act: str, dtype) -> object:
    """The same 3-32-32-1 MLP in tapegrad or torch (``module_ns`` is ``nn`` or ``torch.nn``)."""
    a = getattr(module_ns, act)
    return module_ns.Sequential(
        module_ns.Linear(3, 32, dtype=dtype),
        a(),
        module_ns.Linear(32, 32, dtype=dtype),
        a(),
        module_ns.Linear(32, 1, dtype=dtype),
    )


# ============================================================================ Linear


def test_linear_stores_weight_out_by_in() -> None:
    lin = nn.Linear(3, 5)
    assert lin.weight.shape == (5, 3) and lin.bias.shape == (5,)
    assert lin.weight.dtype is tg.float32
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert lin(tg.randn(7, 3)).shape == (7, 5)
    assert lin(tg.randn(3)).shape == (5,)
    assert lin(tg.randn(2, 4, 3)).shape == (2, 4, 5)


def test_linear_without_bias_and_in_float64() -> None:
    lin = nn.Linear(3, 2, bias=False, dtype=tg.float64)
    assert lin.bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin.weight.dtype is tg.float64
    assert lin(tg.randn(4, 3, dtype=tg.float64)).dtype is tg.float64
    assert repr(lin) == "Linear(in_features=3, out_features=2, bias=False)"


def test_linear_default_init_bounds() -> None:
    lin = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    for p in (lin.weight, lin.bias):
        assert np.abs(p.detach().numpy()).max() <= bound
        assert np.abs(p.detach().numpy()).max() > 0.9 * bound
    # U(-b, b) has standard deviation b / sqrt(3).
    assert abs(lin.weight.detach().numpy().std() - bound / math.sqrt(3)) < 0.01 * bound


def test_linear_init_is_reproducible_with_manual_seed() -> None:
    tg.manual_seed(7)
    first = nn.Linear(4, 3).state_dict()
    tg.manual_seed(7)
    second = nn.Linear(4, 3).state_dict()
    other = nn.Linear(4, 3).state_dict()
    for key in first:
        np.testing.assert_array_equal(first[key].detach().numpy(), second[key].detach().numpy())
        assert not np.array_equal(first[key].detach().numpy(), other[key].detach().numpy())


def test_linear_grad_fn_chain_is_torchs() -> None:
    lin = nn.Linear(3, 2)
    out = lin(tg.randn(4, 3))
    assert out.grad_fn.name() == "AddmmBackward0"
    names = [None if n is None else n.name() for n, _ in out.grad_fn.next_functions]
    assert names == ["AccumulateGrad", None, "TBackward0"]
    assert out.grad_fn.next_functions[0][0].variable is lin.bias


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(3,), (6, 3), (2, 5, 3)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, shape, bias: bool) -> None:
    torch = pytest.importorskip("torch")
    tdtype = getattr(torch, dtype.name)
    ours = nn.Linear(3, 4, bias=bias, dtype=dtype)
    theirs = torch.nn.Linear(3, 4, bias=bias, dtype=tdtype)
    copy_weights(torch, ours, theirs)
    x = tg.randn(*shape, dtype=dtype, requires_grad=True)
    tx = to_torch(torch, x, requires_grad=True)
    upstream = tg.randn(*shape[:-1], 4, dtype=dtype)
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout, tolerance(dtype))
    out.backward(upstream)
    tout.backward(to_torch(torch, upstream))
    assert_close(x.grad, tx.grad, tolerance(dtype))
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs.get_parameter(name).grad, tolerance(dtype) * 10)


# ============================================================================ MLPs


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_mlp_outputs_and_gradients_match_torch(act: str, dtype) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = mlp(nn, act, dtype), mlp(torch.nn, act, getattr(torch, dtype.name))
    copy_weights(torch, ours, theirs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = tg.randn(16, 3, dtype=dtype)
    y = tg.randn(16, 1, dtype=dtype)
    loss = ((ours(x) - y) ** 2).mean()
    tloss = ((theirs(to_torch(torch, x)) - to_torch(torch, y)) ** 2).mean()
    assert_close(loss, tloss, tolerance(dtype))
    loss.backward()
    tloss.backward()
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs.get_parameter(name).grad, tolerance(dtype))


def test_activation_modules() -> None:
    x = tg.tensor([-2.0, 0.0, 3.0])
    assert nn.ReLU()(x).tolist() == [0.0, 0.0, 3.0]
    np.testing.assert_allclose(
        nn.Tanh()(x).detach().numpy(), np.tanh(x.detach().numpy()), rtol=1e-6
    )
    np.testing.assert_allclose(
        nn.Sigmoid()(x).detach().numpy(), 1 / (1 + np.exp(-x.detach().numpy())), rtol=1e-6
    )
    assert [repr(m) for m in (nn.ReLU(), nn.Tanh(), nn.Sigmoid())] == [
        "ReLU()",
        "Tanh()",
        "Sigmoid()",
    ]
    assert list(nn.ReLU().parameters()) == []


# ============================================================================ Sequential


def test_sequential_indexing_len_iteration_and_append() -> None:
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b
    assert list(seq) == [a, b]
    assert seq.append(c) is seq
    assert len(seq) == 3 and seq[2] is c
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = tg.randn(4, 2)
    np.testing.assert_array_equal(seq(x).detach().numpy(), c(b(a(x))).detach().numpy())


def test_sequential_slices_keep_names() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2
    assert tail[1] is seq[2]
    assert [n for n, _ in tail.named_parameters()] == ["2.weight", "2.bias"]
    assert repr(seq[1:2]) == "Sequential(\n  (1): ReLU()\n)"


def test_sequential_from_ordered_dict() -> None:
    seq = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3)), ("act", nn.Tanh())]))
    assert [n for n, _ in seq.named_parameters()] == ["hidden.weight", "hidden.bias"]
    assert isinstance(seq[1], nn.Tanh)


def test_sequential_errors() -> None:
    seq = nn.Sequential(nn.ReLU())
    with pytest.raises(IndexError, match="index 1 is out of range"):
        seq[1]
    with pytest.raises(IndexError, match="index -2 is out of range"):
        seq[-2]
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        seq["a"]
    with pytest.raises(TypeError, match="is not a Module subclass"):
        seq.append(3)


def test_sequential_slice_repr_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Sigmoid())
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2), torch.nn.Sigmoid()
    )
    for idx in (slice(1, None), slice(None, None, 2), slice(-1, None)):
        assert repr(ours[idx]) == repr(theirs[idx])
        assert list(ours[idx].state_dict()) == list(theirs[idx].state_dict())


def test_relu_inplace_and_retained_grads_as_torch() -> None:
    torch = pytest.importorskip("torch")

    def run(lib):
        import tapegrad.nn  # noqa: F401 - lib.nn for tapegrad

        found = [str(lib.nn.ReLU(inplace=True)), str(lib.nn.ReLU())]
        x = lib.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        y = x * 1
        r = lib.nn.ReLU(inplace=True)(y)
        below = [n.name() for n, _ in y.grad_fn.next_functions]
        found.append((r is y, r.grad_fn.name(), below, y._version))
        r.sum().backward()
        found.append(x.grad.tolist())
        x.grad = None
        y = x * 1
        y.retain_grad()
        y.sum().backward(retain_graph=True)
        first = y.grad
        (y.sum() * 3).backward()  # a retained .grad is replaced, not added into
        found.append((first.tolist(), y.grad.tolist(), first is y.grad))
        return found

    assert run(tg) == run(torch)
