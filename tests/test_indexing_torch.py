"""``t[key]`` and ``t[key] = value`` against torch: values, shapes, dtypes, errors, warnings."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad as tg

Case = Callable[[Any], Any]


def _x(lib: Any) -> Any:
    return lib.arange(12.0).reshape(3, 4)


def _y(lib: Any) -> Any:
    return lib.arange(24.0).reshape(2, 3, 4)


def _mask(lib: Any, *values: Any, dtype: str = "bool") -> Any:
    return lib.tensor(values, dtype=getattr(lib, dtype))


def _spell(text: str) -> str:
    """torch's words in tapegrad's spelling; torch's C++ source note dropped."""
    return text.replace("torch.", "tapegrad.").split(" (Triggered internally")[0]


def _outcome(lib: Any, case: Case) -> tuple[Any, ...]:
    """What a case gives in ``lib``: its result or error, and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = case(lib)
        except Exception as exc:  # noqa: BLE001 - the error is what is compared
            got: tuple[Any, ...] = (type(exc).__name__, _spell(str(exc)))
        else:
            got = ("ok", tuple(r.shape), _spell(str(r.dtype)), r.tolist())
    return got, [_spell(str(w.message)) for w in caught]


def _compare(case: Case) -> None:
    torch = pytest.importorskip("torch")
    assert _outcome(tg, case) == _outcome(torch, case)


GETITEM: dict[str, Case] = {
    # booleans add a dimension, indexed by [0] (True) or [] (False)
    "true": lambda L: _x(L)[True],
    "false": lambda L: _x(L)[False],
    "tensor_true": lambda L: _x(L)[L.tensor(True)],
    "tensor_false": lambda L: _x(L)[L.tensor(False)],
    "none_true": lambda L: _x(L)[None, True],
    "true_int": lambda L: _x(L)[True, 0],
    "int_true": lambda L: _x(L)[0, True],
    "ellipsis_true": lambda L: _x(L)[..., True],
    "false_none": lambda L: _x(L)[False, None],
    "list_true": lambda L: _x(L)[[0, 1], True],
    "list_false": lambda L: _x(L)[[0, 1], False],
    "tensor_false_list": lambda L: _x(L)[L.tensor(False), [1]],
    "scalar_true": lambda L: L.tensor(5.0)[True],
    "scalar_false": lambda L: L.tensor(5.0)[False],
    # uint8 tensors are masks (deprecated), never integer indices
    "uint8_wrong_shape": lambda L: _x(L)[_mask(L, 0, 2, dtype="uint8")],
    "uint8_mask": lambda L: _x(L)[_mask(L, 1, 0, 1, dtype="uint8")],
    "uint8_2d": lambda L: _x(L)[L.ones(3, 4, dtype=L.uint8)],
    "uint8_scalar_one": lambda L: _x(L)[L.tensor(1, dtype=L.uint8)],
    "uint8_scalar_zero": lambda L: _x(L)[L.tensor(0, dtype=L.uint8)],
    "uint8_scalar_list": lambda L: _x(L)[L.tensor(1, dtype=L.uint8), [0]],
    # empty and nested sequences
    "empty_list": lambda L: _x(L)[[]],
    "empty_lists": lambda L: _x(L)[[], []],
    "nested_empty": lambda L: _x(L)[[[]]],
    "cols_empty": lambda L: _x(L)[:, []],
    "empty_long": lambda L: _x(L)[L.tensor([], dtype=L.int64)],
    "empty_float": lambda L: _x(L)[L.tensor([])],
    "nested_as_tuple": lambda L: _x(L)[[[0, 1], [1, 2]]],
    "list_of_tensors": lambda L: _x(L)[[L.tensor(1), L.tensor(2)]],
    "list_with_none": lambda L: _x(L)[[0, None]],
    "list_with_slice": lambda L: _x(L)[[0, slice(None)]],
    "list_mixed_nesting": lambda L: _x(L)[[0, [1]]],
    "list_bool": lambda L: _x(L)[[True, False, True]],
    "list_bool_int": lambda L: _x(L)[[0, True]],
    "list_floats": lambda L: _x(L)[[1.5, 0]],
    "list_true_float": lambda L: _x(L)[[True, 1.5]],
    "list_in_tuple_floats": lambda L: _x(L)[([0.5, 2.5],)],
    "tuple_in_tuple": lambda L: _x(L)[0, (1, 2)],
    "range": lambda L: _x(L)[range(0, 3, 2)],
    "long_list": lambda L: _x(L)[[0] * 40],
    "ragged": lambda L: _x(L)[0, [[0], [1, 2]]],
    # ellipses
    "two_ellipses": lambda L: _x(L)[..., ...],
    "three_ellipses": lambda L: _x(L)[..., ..., ...],
    "ellipsis": lambda L: _x(L)[...],
    "int_ellipsis_int": lambda L: _x(L)[1, ..., 2],
    "ellipsis_int_ellipsis": lambda L: _x(L)[..., 0, ...],
    "none_ellipsis_none_ellipsis": lambda L: _x(L)[None, ..., None, ...],
    "ellipsis_list_ellipsis": lambda L: _x(L)[..., [0], ...],
    "ints_ellipsis_none": lambda L: _x(L)[0, 0, ..., None],
    "too_many_with_ellipsis": lambda L: _x(L)[0, 0, 0, ...],
    "mask_ellipsis": lambda L: _x(L)[_x(L) > 5, ...],
    "ellipsis_mask": lambda L: _x(L)[..., _x(L) > 5],
    # out-of-bounds integers name the key position (basic) or index position (advanced)
    "int_dim1": lambda L: _x(L)[0, 4],
    "int_row": lambda L: _x(L)[3],
    "int_negative": lambda L: _x(L)[-4],
    "int_after_none": lambda L: _y(L)[None, 0, 0, 5],
    "int_after_true": lambda L: _y(L)[True, 0, 0, 5],
    "int_after_ellipsis": lambda L: _y(L)[..., 5],
    "tensor_int": lambda L: _x(L)[L.tensor(5)],
    "list_row": lambda L: _x(L)[[3]],
    "list_negative": lambda L: _x(L)[[-4]],
    "list_cols": lambda L: _x(L)[:, [4]],
    "lists_second": lambda L: _x(L)[[0], [4]],
    "lists_first_bad_element": lambda L: _x(L)[[0, 7], [9, 0]],
    "lists_broadcast_bad": lambda L: _x(L)[[[0, 7]], [[9], [0]]],
    "list_2d_cols": lambda L: _x(L)[:, [[0, 7], [8, 1]]],
    "y_last_list": lambda L: _y(L)[:, :, [4]],
    "y_split_lists": lambda L: _y(L)[[0], :, [5]],
    "y_three_lists": lambda L: _y(L)[[0], [0], [5]],
    "true_then_list": lambda L: _y(L)[True, 0, [5]],
    "none_then_list": lambda L: _x(L)[None, [5]],
    "empty_result_skips_bounds": lambda L: _x(L)[:0, [5]],
    "empty_dim_indexed": lambda L: L.zeros(3, 0)[:, [0]],
    "empty_dim_other_dim": lambda L: L.zeros(3, 0)[[5], :],
    "empty_dim_both": lambda L: L.zeros(3, 0)[[0], [0]],
    "empty_dim_select": lambda L: L.zeros(3, 0)[:, 0],
    "empty_dim_empty_list": lambda L: L.zeros(3, 0)[:, []],
    "huge_int": lambda L: _x(L)[2**70],
    "huge_int_in_list": lambda L: _x(L)[[2**70]],
    "int64_min": lambda L: _x(L)[-(2**63)],
    # masks: the indexed tensor is the one after the basic indices
    "mask_short": lambda L: _x(L)[_mask(L, True, False)],
    "mask_2d_wrong": lambda L: _x(L)[L.tensor([[True, False], [True, False]])],
    "mask_after_select": lambda L: _y(L)[0, L.ones(2, dtype=L.bool)],
    "mask_after_slice": lambda L: _y(L)[:, L.ones(2, dtype=L.bool)],
    "mask_2d_second_dim": lambda L: _y(L)[:, L.ones(3, 5, dtype=L.bool)],
    "mask_after_none": lambda L: _y(L)[None, L.ones(3, dtype=L.bool)],
    "mask_ellipsis_wrong": lambda L: _y(L)[..., _mask(L, True, False, True)],
    "mask_nested_list": lambda L: _x(L)[[[True]]],
    "mask_list_wrong": lambda L: _x(L)[[9], L.tensor([True])],
    "mask_2d_then_int": lambda L: _y(L)[L.tensor([[True, False, True], [False, True, True]]), 0],
    "mask_2d_then_slice": lambda L: _y(L)[L.tensor([[True, False, True], [False, True, True]]), 1:],
    "mask_2d_then_none": lambda L: _y(L)[
        L.tensor([[True, False, True], [False, True, True]]), None
    ],
    "mask_2d_too_many": lambda L: _y(L)[L.ones(2, 3, dtype=L.bool), :, 0],
    "mask_then_int": lambda L: _x(L)[_mask(L, True, False, True), 1],
    "int_then_mask": lambda L: _x(L)[1, _mask(L, True, False, True, False)],
    "mask_full": lambda L: _x(L)[_x(L) > 5],
    "mask_too_many": lambda L: _x(L)[_x(L) > 5, 0],
    # slices
    "step_zero": lambda L: _x(L)[:, ::0],
    "step_zero_first": lambda L: _x(L)[::0],
    "step_negative": lambda L: _x(L)[:, ::-1],
    "step_two": lambda L: _x(L)[:, ::2],
    "slice_wide": lambda L: _x(L)[-100:100],
    "slice_empty": lambda L: _x(L)[2:1],
    "slice_past_end": lambda L: _x(L)[10:],
    "slice_stepped": lambda L: _x(L)[0:10:2],
    "slice_huge": lambda L: _x(L)[2**70 :],
    "slice_float": lambda L: _x(L)[:, 1.0:],
    "slice_tensor_bounds": lambda L: _x(L)[L.tensor(1) : L.tensor(3)],
    "slice_float_tensor": lambda L: _x(L)[L.tensor(1.0) :],
    "slice_numpy_bound": lambda L: _x(L)[np.int64(1) :],
    "slice_bool_bound": lambda L: _x(L)[True:],
    "too_many_after_slice": lambda L: _x(L)[0, 1:, 0],
    # 0-d tensors
    "scalar_int": lambda L: L.tensor(5.0)[0],
    "scalar_int_one": lambda L: L.tensor(5.0)[1],
    "scalar_int_negative": lambda L: L.tensor(5.0)[-1],
    "scalar_int_tuple": lambda L: L.tensor(5.0)[0,],
    "scalar_tensor_int": lambda L: L.tensor(5.0)[L.tensor(0)],
    "scalar_list": lambda L: L.tensor(5.0)[[0]],
    "scalar_slice": lambda L: L.tensor(5.0)[:],
    "scalar_slice_step": lambda L: L.tensor(5.0)[::-1],
    "scalar_none": lambda L: L.tensor(5.0)[None],
    "scalar_ellipsis": lambda L: L.tensor(5.0)[...],
    "scalar_ellipsis_none": lambda L: L.tensor(5.0)[..., None],
    "scalar_ellipsis_slice": lambda L: L.tensor(5.0)[..., :],
    # index types
    "float_key": lambda L: _x(L)[1.5],
    "float_in_tuple": lambda L: _x(L)[0, 1.5],
    "float_too_many": lambda L: _x(L)[0, 0, 1.5],
    "str_key": lambda L: _x(L)["a"],
    "str_in_tuple": lambda L: _x(L)[0, "a"],
    "str_in_list": lambda L: _x(L)[0, [0, "a"]],
    "str_after_bad_int": lambda L: _x(L)[5, "a"],
    "bytes_key": lambda L: _x(L)[b"a"],
    "set_key": lambda L: _x(L)[{0}],
    "object_key": lambda L: _x(L)[object()],
    "numpy_float_key": lambda L: _x(L)[np.float64(1)],
    "numpy_bool_key": lambda L: _x(L)[np.bool_(True)],
    "numpy_int_key": lambda L: _x(L)[np.int64(1)],
    "float_tensor": lambda L: _x(L)[L.tensor([1.0])],
    "float_tensor_scalar": lambda L: _x(L)[L.tensor(1.0)],
    "float_tensor_then_bad_int": lambda L: _x(L)[L.tensor([1.0]), 5],
    "bad_int_then_float_tensor": lambda L: _x(L)[5, L.tensor([1.0])],
    "float_tensor_bad_mask": lambda L: _x(L)[L.tensor([1.0]), L.tensor([True])],
    "int8_tensor": lambda L: _x(L)[L.tensor([0, 2], dtype=L.int8)],
    "int16_tensor": lambda L: _x(L)[L.tensor([0, 2], dtype=L.int16)],
    "int32_tensor": lambda L: _x(L)[L.tensor([0, 2], dtype=L.int32)],
    "int8_scalar": lambda L: _x(L)[L.tensor(1, dtype=L.int8)],
    "int32_scalar": lambda L: _x(L)[L.tensor(1, dtype=L.int32)],
    "tensor_scalars": lambda L: _x(L)[L.tensor(1), L.tensor(2)],
    "tensor_list_scalar_bool": lambda L: _x(L)[L.tensor([0, 1]), L.tensor(True)],
    "numpy_array": lambda L: _x(L)[np.array([0, 2])],
    "numpy_int8": lambda L: _x(L)[np.array([0, 2], dtype=np.int8)],
    "numpy_uint8": lambda L: _x(L)[np.array([1, 0, 1], dtype=np.uint8)],
    "numpy_float": lambda L: _x(L)[np.array([0.5, 1.7])],
    "numpy_bool": lambda L: _x(L)[np.array([True, False, True])],
    "numpy_0d_bool": lambda L: _x(L)[np.array(True)],
    "numpy_0d_int": lambda L: _x(L)[np.array(1)],
    "numpy_0d_float": lambda L: _x(L)[np.array(1.5)],
    "numpy_bools_in_list": lambda L: _x(L)[[np.True_, np.False_, np.True_]],
    "numpy_ints_in_list": lambda L: _x(L)[[np.int64(1), np.int32(2)]],
    # ordinary indexing
    "int_pair": lambda L: _x(L)[(0, 2)],
    "list": lambda L: _x(L)[[0, 2]],
    "lists": lambda L: _x(L)[[0, 2], [1, 3]],
    "list_slice": lambda L: _x(L)[[0, 2], 1:],
    "list_none": lambda L: _x(L)[[1, 1], None],
    "slice_none_list": lambda L: _x(L)[:, None, [1, 1]],
    "list_none_list": lambda L: _x(L)[[0], None, [1]],
    "lists_not_broadcastable": lambda L: _x(L)[[0, 1], [0, 1, 2]],
    "three_not_broadcastable": lambda L: _y(L)[[0], [0, 1, 2], [0, 1]],
    "lists_apart": lambda L: _y(L)[[0], :, [0, 1]],
    "lists_apart_2d": lambda L: _y(L)[[[0]], :, [0, 1]],
    "too_many_lists": lambda L: _x(L)[[0, 1], [0, 1], [0]],
    "int_then_list_then_true": lambda L: _x(L)[0, [0, 1], True],
    "none": lambda L: _x(L)[None],
    "none_ellipsis_none": lambda L: _x(L)[None, ..., None],
}


@pytest.mark.parametrize("case", GETITEM.values(), ids=GETITEM.keys())
def test_getitem_matches_torch(case: Case) -> None:
    _compare(case)


def _assign(tensor: Any, key: Any, value: Any) -> Any:
    tensor[key] = value
    return tensor


SETITEM: dict[str, Case] = {
    # the value's shape against the target's
    "row_wrong_length": lambda L: _assign(L.zeros(3, 4), 0, L.tensor([1.0, 2, 3])),
    "row_leading_ones": lambda L: _assign(L.zeros(3, 4), 0, L.ones(1, 1, 4)),
    "row_leading_one_wrong": lambda L: _assign(L.zeros(3, 4), 0, L.ones(1, 3)),
    "row_too_many_dims": lambda L: _assign(L.zeros(3, 4), 0, L.ones(2, 4)),
    "row_trailing_one": lambda L: _assign(L.zeros(3, 4), 0, L.ones(4, 1)),
    "row_double_too_many_dims": lambda L: _assign(L.zeros(3, 4), 0, L.ones(2, 4).double()),
    "column_wrong": lambda L: _assign(L.zeros(3, 4), (slice(None), slice(None, 2)), L.ones(3)),
    "empty_slice_wrong": lambda L: _assign(L.zeros(3, 4), slice(0, 0), L.ones(3)),
    "element_one": lambda L: _assign(L.zeros(3, 4), (0, 0), L.tensor([1.0])),
    "element_two": lambda L: _assign(L.zeros(3, 4), (0, 0), L.tensor([1.0, 2.0])),
    "mask_wrong_count": lambda L: _assign(_x(L), _x(L) > 5, L.tensor([1.0, 2])),
    "mask_no_match": lambda L: _assign(_x(L), _x(L) > 50, L.tensor([1.0, 2])),
    "mask_leading_one": lambda L: _assign(_x(L), _x(L) > 5, L.ones(1, 6)),
    "mask_trailing_one": lambda L: _assign(_x(L), _x(L) > 5, L.ones(6, 1)),
    "list_wrong": lambda L: _assign(_x(L), [0, 1], L.tensor([1.0, 2, 3])),
    "list_column": lambda L: _assign(_x(L), [0, 1], L.ones(2, 1)),
    "list_leading_one": lambda L: _assign(_x(L), [0, 1], L.ones(1, 2, 4)),
    "list_extra_dim": lambda L: _assign(_x(L), [0, 1], L.ones(2, 2, 4)),
    "lists_wrong": lambda L: _assign(_x(L), ([0, 1], [0, 1]), L.tensor([1.0, 2, 3])),
    "lists_leading_ones": lambda L: _assign(_x(L), ([0, 1], [0, 1]), L.ones(1, 1, 2)),
    "lists_column": lambda L: _assign(_x(L), ([0, 1], [0, 1]), L.ones(2, 1)),
    "lists_empty_value": lambda L: _assign(_x(L), ([0, 1], [0, 1]), L.ones(0)),
    "list_slice_wrong": lambda L: _assign(_x(L), ([0, 1], slice(1, None)), L.ones(2, 4)),
    "columns_list_wrong": lambda L: _assign(_x(L), (slice(None), [0, 1]), L.ones(3)),
    "empty_list_fits": lambda L: _assign(_x(L), [], L.ones(4)),
    "empty_list_wrong": lambda L: _assign(_x(L), [], L.ones(3)),
    "empty_list_empty_value": lambda L: _assign(_x(L), [], L.ones(0)),
    "repeated_rows_last_wins": lambda L: _assign(_x(L), [0, 0], L.tensor([[1.0] * 4, [2.0] * 4])),
    "wrong_shape_before_bounds": lambda L: _assign(_x(L), [5], L.tensor([1.0, 2.0])),
    # value types
    "str": lambda L: _assign(L.zeros(3, 4), 0, "a"),
    "none_value": lambda L: _assign(L.zeros(3, 4), 0, None),
    "list_value": lambda L: _assign(L.zeros(3, 4), 0, [1, 2, 3, 4]),
    "tuple_value": lambda L: _assign(L.zeros(3, 4), 0, (1, 2, 3, 4)),
    "array_value": lambda L: _assign(L.zeros(3, 4), 0, np.ones(4)),
    "numpy_float32_value": lambda L: _assign(L.zeros(3), 0, np.float32(1.5)),
    "numpy_bool_value": lambda L: _assign(L.zeros(3), 0, np.bool_(True)),
    "numpy_float64_value": lambda L: _assign(L.zeros(3), 0, np.float64(2)),
    "numpy_int64_value": lambda L: _assign(L.zeros(3), 0, np.int64(2)),
    "str_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), 0, "a"),
    "str_into_bool": lambda L: _assign(L.zeros(3, dtype=L.bool), 0, "a"),
    "str_into_double": lambda L: _assign(L.zeros(3, dtype=L.float64), 0, "a"),
    "str_into_half": lambda L: _assign(L.zeros(3, dtype=L.float16), 0, "a"),
    "str_into_int": lambda L: _assign(L.zeros(3, dtype=L.int32), 0, "a"),
    "str_into_uint8": lambda L: _assign(L.zeros(3, dtype=L.uint8), 0, "a"),
    "str_before_bad_index": lambda L: _assign(L.zeros(3), 5, "a"),
    "str_before_bad_key": lambda L: _assign(L.zeros(3), 1.5, "a"),
    "str_under_mask": lambda L: _assign(L.zeros(3), _mask(L, True, False, True), "a"),
    "huge_int_value": lambda L: _assign(L.zeros(3), 0, 2**64),
    "huge_int_before_bad_key": lambda L: _assign(L.zeros(3), 1.5, 2**64),
    "complex_value": lambda L: _assign(L.zeros(3), 0, 1j),
    "complex_real_value": lambda L: _assign(L.zeros(3), 0, 2 + 0j),
    "complex_into_bool": lambda L: _assign(L.zeros(3, dtype=L.bool), 0, 1j),
    "complex_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), 0, 1j),
    "complex_into_half": lambda L: _assign(L.zeros(3, dtype=L.float16), 0, 1j),
    "bool_value": lambda L: _assign(L.zeros(3), 0, True),
    # scalar conversions and their overflow checks
    "float_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), 0, 1.7),
    "negative_float_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), 0, -1.7),
    "nan_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), 0, float("nan")),
    "inf_into_int": lambda L: _assign(L.zeros(3, dtype=L.int32), 0, float("inf")),
    "big_into_int": lambda L: _assign(L.zeros(3, dtype=L.int32), 0, 2**31),
    "big_float_into_int16": lambda L: _assign(L.zeros(3, dtype=L.int16), 0, 70000.0),
    "big_into_int8": lambda L: _assign(L.zeros(3, dtype=L.int8), 0, 300),
    "numpy_big_into_int8": lambda L: _assign(L.zeros(3, dtype=L.int8), 0, np.int64(300)),
    "big_into_uint8": lambda L: _assign(L.zeros(3, dtype=L.uint8), 0, 300),
    "negative_into_uint8": lambda L: _assign(L.zeros(3, dtype=L.uint8), 0, -1),
    "very_negative_into_uint8": lambda L: _assign(L.zeros(3, dtype=L.uint8), 0, -300),
    "negative_float_into_uint8": lambda L: _assign(L.zeros(3, dtype=L.uint8), 0, -1.0),
    "big_float_into_float": lambda L: _assign(L.zeros(3), 0, 1e300),
    "inf_into_float": lambda L: _assign(L.zeros(3), 0, float("inf")),
    "big_float_into_half": lambda L: _assign(L.zeros(3, dtype=L.float16), 0, 1e300),
    "big_int_into_half": lambda L: _assign(L.zeros(3, dtype=L.float16), 0, 2**31),
    "big_float_into_double": lambda L: _assign(L.zeros(3, dtype=L.float64), 0, 1e300),
    "int_into_bool": lambda L: _assign(L.zeros(3, dtype=L.bool), 0, 2),
    "float_into_bool": lambda L: _assign(L.zeros(3, dtype=L.bool), slice(None), 0.5),
    "big_into_uint8_by_list": lambda L: _assign(L.zeros(3, dtype=L.uint8), [0, 1], 300),
    "big_into_uint8_by_mask": lambda L: _assign(
        L.zeros(3, dtype=L.uint8), _mask(L, True, False, True), 300
    ),
    "complex_by_mask": lambda L: _assign(L.zeros(3), _mask(L, True, False, True), 1j),
    "long_tensor_into_row": lambda L: _assign(_x(L), (slice(None), 1), L.tensor([1, 2, 3])),
    "int_tensor_into_row": lambda L: _assign(L.zeros(3, 4), 0, L.tensor(7)),
    "double_tensor_into_row": lambda L: _assign(L.zeros(3, 4), 0, L.tensor(1.5, dtype=L.float64)),
    "float_tensor_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), 0, L.tensor(1.7)),
    # index_put requires one dtype, but a lone mask with one value is a masked fill
    "put_double": lambda L: _assign(L.zeros(3, 4), [0], L.ones(4, dtype=L.float64)),
    "put_long": lambda L: _assign(L.zeros(3, 4), [0], L.ones(4, dtype=L.int64)),
    "put_long_scalar": lambda L: _assign(L.zeros(3), [0], L.tensor(1)),
    "put_long_into_long": lambda L: _assign(L.zeros(3, dtype=L.int64), [0], L.tensor(1)),
    "put_long_by_mask": lambda L: _assign(
        L.zeros(3, 4), _mask(L, True, False, True), L.ones(4, dtype=L.int64)
    ),
    "fill_long_by_mask": lambda L: _assign(L.zeros(3), _mask(L, True, False, True), L.tensor(1)),
    "fill_float_into_long_by_mask": lambda L: _assign(
        L.zeros(3, dtype=L.int64), _mask(L, True, False, True), L.tensor(1.5)
    ),
    "fill_negative_into_uint8_by_mask": lambda L: _assign(
        L.zeros(3, dtype=L.uint8), _mask(L, True, False, True), L.tensor(-1.0)
    ),
    "fill_by_mask_nested_value": lambda L: _assign(
        L.zeros(3), _mask(L, True, False, True), L.tensor([[1.0]])
    ),
    "put_dtype_after_shape": lambda L: _assign(L.zeros(3), [0], L.tensor([1, 2])),
    "put_dtype_before_bounds": lambda L: _assign(L.zeros(3), [5], L.tensor([1])),
    # out-of-bounds and mask errors
    "int_out_of_bounds": lambda L: _assign(L.zeros(3, 4), 5, 1),
    "int_dim1_out_of_bounds": lambda L: _assign(L.zeros(3, 4), (0, 4), 1),
    "list_out_of_bounds": lambda L: _assign(L.zeros(3, 4), [5], 1),
    "cols_out_of_bounds": lambda L: _assign(L.zeros(3, 4), (slice(None), [5]), 1),
    "tensor_int_out_of_bounds": lambda L: _assign(L.zeros(3, 4), L.tensor(5), 1),
    "empty_result_skips_bounds": lambda L: _assign(_x(L), (slice(0, 0), [5]), 1),
    "empty_dim_indexed": lambda L: _assign(L.zeros(3, 0), (slice(None), [0]), 1),
    "mask_short_1d": lambda L: _assign(L.zeros(3), _mask(L, True, False), 1),
    "mask_short_1d_tensor_value": lambda L: _assign(L.zeros(3), _mask(L, True, False), L.ones(1)),
    "mask_short_2d": lambda L: _assign(L.zeros(3, 4), _mask(L, True, False), 1),
    "mask_short_2d_vector": lambda L: _assign(L.zeros(3, 4), _mask(L, True, False), L.ones(1)),
    "mask_wide": lambda L: _assign(L.zeros(3, 4), L.ones(3, 3, dtype=L.bool), 1),
    "mask_after_int": lambda L: _assign(L.zeros(3, 4), (0, _mask(L, True, False)), 1),
    "mask_wrong_long_value": lambda L: _assign(
        L.zeros(3, 4), L.tensor([True]), L.ones(2, dtype=L.int64)
    ),
    "float_index": lambda L: _assign(L.zeros(3, 4), L.tensor([0.0]), 1),
    "float_index_tensor_value": lambda L: _assign(L.zeros(3, 4), L.tensor([0.0]), L.ones(4)),
    "float_key": lambda L: _assign(L.zeros(3, 4), 1.5, 0),
    "str_key": lambda L: _assign(L.zeros(3, 4), "a", 0),
    "too_many": lambda L: _assign(L.zeros(3, 4), (0, 0, 0), 1),
    "step_zero": lambda L: _assign(L.zeros(3, 4), (slice(None), slice(None, None, 0)), 1),
    "step_negative": lambda L: _assign(L.zeros(3, 4), (slice(None), slice(None, None, -1)), 1),
    # uint8 masks: index_put takes them, a masked fill refuses them
    "uint8_rows": lambda L: _assign(_x(L), _mask(L, 1, 0, 1, dtype="uint8"), L.ones(2, 4)),
    "uint8_fill": lambda L: _assign(_x(L), _mask(L, 1, 0, 1, dtype="uint8"), 0),
    "uint8_fill_tensor": lambda L: _assign(_x(L), _mask(L, 1, 0, 1, dtype="uint8"), L.tensor(1.0)),
    "uint8_fill_2d": lambda L: _assign(_x(L), L.ones(3, 4, dtype=L.uint8), 1),
    "uint8_fill_after_int": lambda L: _assign(_x(L), (0, _mask(L, 1, 0, 1, 1, dtype="uint8")), 1),
    "uint8_short": lambda L: _assign(L.zeros(3), _mask(L, 1, 0, dtype="uint8"), 1),
    # masked fills reach past leading slices and Nones
    "fill_mask_after_select": lambda L: _assign(
        L.zeros(2, 3), (0, _mask(L, True, False, True)), L.tensor(1.0)
    ),
    "fill_mask_after_slice": lambda L: _assign(
        L.zeros(2, 3), (slice(None), _mask(L, True, False, True)), L.tensor(1.0)
    ),
    "fill_mask_then_int": lambda L: _assign(
        L.zeros(3, 2), (_mask(L, True, False, True), 0), L.tensor(1.0)
    ),
    "put_mask_then_list": lambda L: _assign(
        L.zeros(3, 2), (_mask(L, True, False, True), [0]), L.tensor(1.0)
    ),
    "fill_mask_then_none": lambda L: _assign(
        L.zeros(3, 2), (_mask(L, True, False, True), None), L.tensor(1.0)
    ),
    "fill_true_then_mask": lambda L: _assign(
        L.zeros(3, 2), (True, _mask(L, True, False, True)), L.tensor(1.0)
    ),
    # simple keys
    "true": lambda L: _assign(_x(L), True, 1),
    "true_wrong": lambda L: _assign(_x(L), True, L.zeros(2, 4)),
    "true_fits": lambda L: _assign(_x(L), True, L.zeros(3, 4)),
    "false_ignores_value": lambda L: _assign(_x(L), False, L.zeros(2, 4)),
    "false": lambda L: _assign(_x(L), False, 1),
    "none_wrong": lambda L: _assign(_x(L), None, L.zeros(2, 4)),
    "none_fits": lambda L: _assign(_x(L), None, L.zeros(3, 4)),
    "ellipsis_wrong": lambda L: _assign(_x(L), ..., L.zeros(2, 4)),
    "ellipses": lambda L: _assign(_x(L), (..., ...), 1),
    "none_int": lambda L: _assign(_x(L), (None, 0), L.zeros(4)),
    "true_int": lambda L: _assign(_x(L), (True, 0), L.zeros(4)),
    "true_int_wrong": lambda L: _assign(_x(L), (True, 0), L.zeros(3)),
    "empty_list": lambda L: _assign(_x(L), [], 1),
    "tensor_true": lambda L: _assign(_x(L), L.tensor(True), 1),
    "scalar_int": lambda L: _assign(L.tensor(5.0), 0, 1),
    "scalar_int_one": lambda L: _assign(L.tensor(5.0), 1, 1),
    "scalar_ellipsis": lambda L: _assign(L.tensor(5.0), ..., 1),
    "scalar_none": lambda L: _assign(L.tensor(5.0), None, 1),
    "scalar_true": lambda L: _assign(L.tensor(5.0), True, 1),
    "scalar_slice": lambda L: _assign(L.tensor(5.0), slice(None), 1),
    # memory shared by the value and the written-to tensor
    "overlap_copy": lambda L: (lambda x: _assign(x, slice(1, None), x[:2]))(_x(L)),
    "overlap_full_copy": lambda L: (lambda x: _assign(x, slice(None), x))(_x(L)),
    "overlap_put_self": lambda L: (lambda x: _assign(x, [0, 1, 2], x))(_x(L)),
    "overlap_put_row": lambda L: (lambda x: _assign(x, [0], x[1]))(_x(L)),
    "overlap_before_mask_error": lambda L: (lambda x: _assign(x, (L.tensor([True]),), x[1]))(_x(L)),
    "overlap_before_dtype_error": lambda L: (lambda x: _assign(x, (L.tensor([0.0]),), x[1]))(_x(L)),
    "no_overlap_check_for_fill": lambda L: (
        lambda x: _assign(x, _mask(L, True, False, True), x[0, 0])
    )(_x(L)),
    "no_overlap_check_for_strided": lambda L: (lambda x: _assign(x, 0, x.T[0]))(
        L.arange(9.0).reshape(3, 3)
    ),
    "row_from_other_row": lambda L: (lambda x: _assign(x, 0, x[1]))(_x(L)),
    # leaves that require grad
    "leaf_select": lambda L: _assign(L.zeros(3, 4, requires_grad=True), 0, 1),
    "leaf_ellipsis": lambda L: _assign(L.zeros(3, 4, requires_grad=True), ..., 1),
    "leaf_none": lambda L: _assign(L.zeros(3, 4, requires_grad=True), None, 1),
    "leaf_false": lambda L: _assign(L.zeros(3, 4, requires_grad=True), False, 1),
    "leaf_bad_int": lambda L: _assign(L.zeros(3, 4, requires_grad=True), 5, 1),
    "leaf_list": lambda L: _assign(L.zeros(3, 4, requires_grad=True), [0], 1),
    "leaf_bad_list": lambda L: _assign(L.zeros(3, 4, requires_grad=True), [5], 1),
    "leaf_mask": lambda L: _assign(L.zeros(3, 4, requires_grad=True), _mask(L, True, False), 1),
    "leaf_str": lambda L: _assign(L.zeros(3, 4, requires_grad=True), 0, "a"),
    "leaf_slice_select": lambda L: _assign(L.zeros(3, 4, requires_grad=True), (slice(0, 2), 0), 1),
    "leaf_full_slices": lambda L: _assign(
        L.zeros(3, 4, requires_grad=True), (slice(None), slice(None)), 1
    ),
    "leaf_shape_error_first": lambda L: _assign(L.zeros(3, 4, requires_grad=True), 0, L.ones(2, 4)),
    "leaf_before_put_shape": lambda L: _assign(
        L.zeros(3, 4, requires_grad=True), [0], L.ones(2, 4)
    ),
}


@pytest.mark.parametrize("case", SETITEM.values(), ids=SETITEM.keys())
def test_setitem_matches_torch(case: Case) -> None:
    _compare(case)


def _grad_outcome(lib: Any, key: Case) -> tuple[Any, ...]:
    """The grad_fn chain of ``x[key]`` and the gradient a weighted sum sends back to ``x``."""
    x = lib.arange(12.0).reshape(3, 4).requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = x[key(lib)]
    names, node = [], out.grad_fn
    while node is not None and not node.name().endswith("AccumulateGrad"):
        names.append(node.name())
        node = node.next_functions[0][0] if node.next_functions else None
    weights = lib.arange(float(out.numel())).reshape(out.shape) + 1
    (out * weights).sum().backward()
    return names, x.grad.tolist()


GRAD_KEYS: dict[str, Case] = {
    "ellipsis": lambda L: ...,
    "full_slice": lambda L: slice(None),
    "full_slices": lambda L: (slice(None), slice(None)),
    "full_by_bounds": lambda L: (slice(None), slice(0, 100)),
    "negative_start": lambda L: (slice(None), slice(-100, None)),
    "ellipses": lambda L: (..., ...),
    "none": lambda L: None,
    "true": lambda L: True,
    "false": lambda L: False,
    "tensor_true": lambda L: L.tensor(True),
    "int": lambda L: 0,
    "tensor_int": lambda L: L.tensor(1),
    "ints": lambda L: (0, 1),
    "list": lambda L: [0, 2],
    "repeated": lambda L: [1, 1, 0],
    "empty_list": lambda L: [],
    "mask": lambda L: L.tensor([True, False, True]),
    "none_int": lambda L: (None, 0),
    "int_true": lambda L: (0, True),
    "slice_list": lambda L: (slice(1, None), [0, 0]),
    "int_list": lambda L: (0, [0, 3]),
    "ellipsis_int": lambda L: (..., 0),
    "lists_apart": lambda L: ([0, 2], None, [1, 1]),
}


@pytest.mark.parametrize("key", GRAD_KEYS.values(), ids=GRAD_KEYS.keys())
def test_getitem_graph_and_gradient_match_torch(key: Case) -> None:
    torch = pytest.importorskip("torch")
    assert _grad_outcome(tg, key) == _grad_outcome(torch, key)


def test_index_assignment_is_recorded_when_a_gradient_flows() -> None:
    # values and gradients against torch: tests/autograd/test_index_assignment.py
    w = tg.ones(3, requires_grad=True)
    y = w * 2
    y[0] = 5.0
    assert type(y.grad_fn).__name__ == "CopySlices"
    x = tg.zeros(3)
    x[0] = w[1]
    assert x.requires_grad and type(x.grad_fn).__name__ == "CopySlices"
    z = tg.zeros(3)
    with tg.no_grad():
        z[0] = w[1]
    assert z.tolist() == [1.0, 0.0, 0.0] and not z.requires_grad


def test_assignment_into_an_expanded_tensor_is_a_clear_error() -> None:
    x = tg.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        x[0] = 1.0


def test_assignment_bumps_the_version_and_writes_through_views() -> None:
    x = tg.zeros(3, 4)
    row = x[1]
    before = x._version
    row[1:3] = tg.tensor([5.0, 6.0])
    x[x > 5] = 7.0
    assert x[1].tolist() == [0.0, 5.0, 7.0, 0.0] and x._version == before + 2
