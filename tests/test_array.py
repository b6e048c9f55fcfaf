"""The numpy helpers the engine reduces gradients with."""

from __future__ import annotations

import numpy as np
import pytest

from tapegrad import _array
from tapegrad._array import sum_to


@pytest.mark.parametrize(
    ("grad_shape", "shape"),
    [
        ((100, 32), (32,)),  # a Linear bias: the gemv form
        ((100, 32), (1, 32)),  # a (1, k) bias, as the blog's
        ((4, 5, 6), (6,)),
        ((4, 5, 6), (5, 6)),
        ((4, 5, 6), (1, 1, 6)),
        ((4, 5, 6), (4, 1, 6)),  # not a leading block: numpy's sum
        ((4, 5, 6), (4, 5, 1)),
        ((3, 0), (0,)),
        ((7,), ()),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sum_to_matches_numpy(grad_shape, shape, dtype):
    rng = np.random.default_rng(0)
    grad = (rng.standard_normal(grad_shape) * 10).astype(dtype)
    result = sum_to(grad, shape)
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad_shape[lead + i] != 1
    )
    expected = grad.sum(axis=axes, keepdims=False).reshape(shape)
    assert result.shape == shape and result.dtype == grad.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_sum_to_of_a_transposed_gradient():
    grad = np.arange(12, dtype=np.float32).reshape(3, 4).T  # not C-contiguous
    np.testing.assert_array_equal(sum_to(grad, (3,)), grad.sum(axis=0))


def test_sum_to_beyond_the_gemv_size_uses_numpy_sum(monkeypatch):
    monkeypatch.setattr(_array, "_GEMV_SUM_MAX_BYTES", 64)
    grad = np.ones((100, 3), np.float32)
    np.testing.assert_array_equal(sum_to(grad, (3,)), [100.0, 100.0, 100.0])


def test_sum_to_rejects_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"can't be summed to \[3\]"):
        sum_to(np.ones((2, 4)), (3,))
    with pytest.raises(ValueError, match=r"can't be summed to \[1, 2, 3\]"):
        sum_to(np.ones((2, 3)), (1, 2, 3))


def test_cached_ones_are_read_only():
    ones = _array._ones(5, np.dtype(np.float32))
    assert not ones.flags.writeable
    assert _array._ones(5, np.dtype(np.float32)) is ones
