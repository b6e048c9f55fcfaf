"""Broadcasting of the binary elementwise ops, on shapes drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tapegrad as tg
from tapegrad.autograd import gradcheck

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "maximum": lambda a, b: tg.maximum(a, b),
    "pow": lambda a, b: (a * a + 1) ** b,
}

shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes=shapes, name=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_numpy_and_reduce_gradients(shapes, name, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = tg.tensor(rng.standard_normal(sa), dtype=tg.float64, requires_grad=True)
    b = tg.tensor(rng.standard_normal(sb), dtype=tg.float64, requires_grad=True)
    out = BINARY[name](a, b)
    assert out.shape == shapes.result_shape
    assert gradcheck(BINARY[name], (a, b))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes=shapes, name=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_torch(shapes, name, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes.input_shapes]
    xs = [tg.tensor(x, dtype=tg.float64, requires_grad=True) for x in arrays]
    txs = [torch.tensor(x, requires_grad=True) for x in arrays]
    fn = BINARY[name]
    if name == "maximum":
        out, tout = fn(*xs), torch.maximum(*txs)
    else:
        out, tout = fn(*xs), fn(*txs)
    upstream = rng.standard_normal(out.shape)
    out.backward(tg.tensor(upstream, dtype=tg.float64))
    tout.backward(torch.tensor(upstream))
    for x, tx in zip(xs, txs):
        np.testing.assert_allclose(x.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_broadcast_mismatch_message():
    with pytest.raises(
        RuntimeError,
        match=r"The size of tensor a \(3\) must match the size of "
        r"tensor b \(4\) at non-singleton dimension 1",
    ):
        tg.ones(2, 3) + tg.ones(2, 4)
