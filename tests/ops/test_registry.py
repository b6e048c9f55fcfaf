"""Registry-driven op tests: every op x every sample, against numpy, numerics and torch."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.testing.opinfo import OPS, sample_tensors, torch_kwargs

CASES = [
    pytest.param(op, sample, id=f"{op.name}[{sample.desc}]")
    for op in OPS
    for sample in op.samples(np.random.default_rng(0))
]


def _upstream(shape: tuple[int, ...], seed: int = 7) -> np.ndarray:
    """A random (not all-ones) upstream gradient."""
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_forward_matches_numpy_reference(op, sample):
    out = op.apply(tg, sample_tensors(sample), sample)
    np.testing.assert_allclose(
        out.detach().numpy(), op.ref(*sample.args, **sample.kwargs), rtol=1e-12
    )


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_gradcheck_float64(op, sample):
    assert gradcheck(lambda *xs: op.apply(tg, xs, sample), sample_tensors(sample))


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_gradgradcheck_float64(op, sample):
    assert gradgradcheck(lambda *xs: op.apply(tg, xs, sample), sample_tensors(sample))


@pytest.mark.parametrize(("op", "sample"), CASES)
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["float32", "float64"])
def test_gradient_shape_dtype_and_inputs_untouched(op, sample, dtype):
    xs = sample_tensors(sample, dtype=dtype)
    before = [x.detach().numpy().copy() for x in xs]
    out = op.apply(tg, xs, sample)
    upstream = tg.tensor(_upstream(out.shape), dtype=out.dtype)
    seed_copy = upstream.detach().numpy().copy()
    out.backward(upstream)
    for x, old in zip(xs, before):
        assert x.grad.shape == x.shape
        assert x.grad.dtype == x.dtype
        np.testing.assert_array_equal(x.detach().numpy(), old)
    np.testing.assert_array_equal(upstream.detach().numpy(), seed_copy)


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_matches_torch(op, sample):
    torch = pytest.importorskip("torch")
    xs = sample_tensors(sample)
    out = op.apply(tg, xs, sample)
    txs = tuple(torch.tensor(a, requires_grad=True) for a in sample.args)
    tout = op.fn(torch, *txs, **torch_kwargs(sample.kwargs))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    upstream = _upstream(out.shape)
    out.backward(tg.tensor(upstream, dtype=tg.float64))
    tout.backward(torch.tensor(upstream))
    for x, tx in zip(xs, txs):
        np.testing.assert_allclose(x.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_registry_is_large_and_names_are_unique():
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))
    assert len(OPS) >= 60
    assert len(CASES) >= 200
