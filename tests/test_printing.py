"""Tests for tapegrad._printing.format_tensor: fixed expectations plus a comparison with torch."""

from __future__ import annotations

import numpy as np
import pytest

from tapegrad._printing import format_tensor

FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
GRAD_SUFFIXES = (None, "requires_grad=True", "grad_fn=<MulBackward0>", "grad_fn=<CloneBackward0>")
SHAPES = (
    (),
    (0,),
    (0, 3),
    (2, 0, 4),
    (1,),
    (5,),
    (13,),
    (31,),
    (3, 4),
    (6, 7),
    (2, 3, 4),
    (5, 1, 3),
    (2, 2, 2, 2),
    (1, 1, 1, 1),
    (1001,),
    (7, 150),
    (40, 30),
    (11, 11, 11),
    (3, 20, 20),
    (2, 3, 13, 13),
)


def test_ones_2x2_float32():
    expected = "tensor([[1., 1.],\n        [1., 1.]])"
    assert format_tensor(np.ones((2, 2), dtype=np.float32), "float32") == expected


def test_scalar_with_grad_fn():
    data = np.array(28.83, dtype=np.float32)
    expected = "tensor(28.8300, grad_fn=<MeanBackward0>)"
    assert format_tensor(data, "float32", "grad_fn=<MeanBackward0>") == expected


def test_float64_shows_dtype():
    data = np.array([0.25, -1.5, 3.0])
    expected = "tensor([ 0.2500, -1.5000,  3.0000], dtype=tapegrad.float64)"
    assert format_tensor(data, "float64") == expected


def test_float32_values_come_from_python_floats():
    data = np.array([1.1], dtype=np.float32)
    assert format_tensor(data, "float32", "requires_grad=True") == (
        "tensor([1.1000], requires_grad=True)"
    )


def test_int64_and_int32():
    data = np.array([1, -20, 300])
    assert format_tensor(data, "int64") == "tensor([  1, -20, 300])"
    expected = "tensor([  1, -20, 300], dtype=tapegrad.int32)"
    assert format_tensor(data.astype(np.int32), "int32") == expected


def test_bool():
    assert format_tensor(np.array([True, False]), "bool") == "tensor([ True, False])"


def test_empty():
    assert format_tensor(np.zeros(0, dtype=np.float32), "float32") == "tensor([])"
    assert format_tensor(np.zeros((0, 3), dtype=np.float32), "float32") == (
        "tensor([], size=(0, 3))"
    )
    assert format_tensor(np.zeros(0, dtype=np.int64), "int64") == "tensor([], dtype=tapegrad.int64)"


def test_scientific_mode():
    data = np.array([1e-5, 1.0, 123.45], dtype=np.float32)
    assert format_tensor(data, "float32") == "tensor([1.0000e-05, 1.0000e+00, 1.2345e+02])"


def test_nan_inf_and_negative_zero():
    data = np.array([np.nan, np.inf, -0.0, 2.0], dtype=np.float32)
    assert format_tensor(data, "float32") == "tensor([nan, inf, -0., 2.])"


def test_wide_row_wraps():
    data = np.arange(30, dtype=np.float32) / np.float32(7)
    expected = (
        "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
        "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
        "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n"
        "        3.8571, 4.0000, 4.1429])"
    )
    assert format_tensor(data, "float32") == expected


def test_long_last_line_moves_suffix_to_new_line():
    data = np.arange(9, dtype=np.float32) / np.float32(7)
    expected = (
        "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429],\n"
        "       requires_grad=True)"
    )
    assert format_tensor(data, "float32", "requires_grad=True") == expected


def test_suffix_wrapping_measures_torch_spelling():
    # With "tapegrad." the line would be 81 wide, with "torch." 78: torch keeps it on one line.
    data = np.arange(6, dtype=np.float64) / 7
    expected = "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143], dtype=tapegrad.float64)"
    assert format_tensor(data, "float64") == expected


def test_three_dimensional():
    data = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    expected = "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])"
    assert format_tensor(data, "float32") == expected


def test_summarized():
    expected = "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    assert format_tensor(np.arange(2000), "int64") == expected


def _random_floats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    kind = rng.integers(5)
    if kind == 0:
        values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-7, 10)
    elif kind == 1:  # integer-valued floats
        values = rng.integers(-1000, 1000, shape).astype(np.float64) * 10.0 ** rng.integers(0, 10)
    elif kind == 2:  # mixed magnitudes within one tensor
        values = rng.standard_normal(shape) * 10.0 ** rng.integers(-10, 12, shape)
    elif kind == 3:
        values = rng.random(shape)
    else:
        values = np.zeros(shape)
    if rng.random() < 0.4:
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0])
        mask = rng.random(shape) < rng.uniform(0.05, 1.0)
        values = np.where(mask, rng.choice(specials, shape), values)
    return values


def _random_case(seed: int) -> tuple[np.ndarray, str, str | None]:
    rng = np.random.default_rng([20240601, seed])
    shape = SHAPES[rng.integers(len(SHAPES))]
    dtype_name = rng.choice(["float32", "float64", "int64", "int32", "bool", "other"])
    if dtype_name == "other":
        dtype_name = rng.choice(["float16", "int8", "int16", "uint8"])
    dtype_name = str(dtype_name)
    if dtype_name in FLOAT_DTYPES:
        with np.errstate(all="ignore"):
            data = np.asarray(_random_floats(rng, shape).astype(dtype_name))
    elif dtype_name == "bool":
        data = np.asarray(rng.random(shape) < rng.random())
    else:
        info = np.iinfo(dtype_name)
        bound = min(int(info.max), 10 ** int(rng.integers(0, 19)))
        low = max(int(info.min), -bound)
        data = np.asarray(rng.integers(low, bound, shape, dtype=dtype_name, endpoint=True))
    if data.ndim >= 2 and rng.random() < 0.2:
        data = data.T  # non-contiguous input
    suffix = None
    if dtype_name in FLOAT_DTYPES:
        suffix = GRAD_SUFFIXES[rng.integers(len(GRAD_SUFFIXES))]
    return data, dtype_name, suffix


def _torch_repr(data: np.ndarray, suffix: str | None) -> str:
    import torch

    tensor = torch.from_numpy(data.copy(order="C"))  # from_numpy needs C order
    if suffix is not None:
        leaf = tensor.clone().requires_grad_()
        tensor = {
            "requires_grad=True": leaf,
            "grad_fn=<MulBackward0>": leaf * 1,
            "grad_fn=<CloneBackward0>": leaf.clone(),
        }[suffix]
        assert suffix in repr(tensor)
    return repr(tensor).replace("torch.", "tapegrad.")


@pytest.mark.parametrize("seed", range(300))
def test_matches_torch(seed: int):
    pytest.importorskip("torch")
    data, dtype_name, suffix = _random_case(seed)
    assert format_tensor(data, dtype_name, suffix) == _torch_repr(data, suffix)
