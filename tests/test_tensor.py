"""Tensor construction, attributes, dtypes, printing, indexing and the errors users hit."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def test_factories_shapes_and_default_dtypes():
    assert tg.ones(2, 3).shape == (2, 3) and tg.ones((2, 3)).dtype == tg.float32
    assert tg.zeros([4]).shape == (4,)
    assert tg.full((2, 2), 7).dtype == tg.int64
    assert tg.full((2, 2), 7.0).dtype == tg.float32
    assert tg.arange(5).dtype == tg.int64 and tg.arange(0, 1, 0.25).shape == (4,)
    assert tg.tensor(1.1).dtype == tg.float32 and tg.tensor(1.1).ndim == 0
    assert tg.tensor([1, 2]).dtype == tg.int64
    assert tg.tensor([True, False]).dtype == tg.bool
    assert tg.tensor(np.ones(2)).dtype == tg.float64
    assert tg.ones_like(tg.ones(2, dtype=tg.float64)).dtype == tg.float64
    assert tg.zeros_like(tg.ones(3, 2)).shape == (3, 2)


def test_manual_seed_makes_random_tensors_reproducible():
    tg.manual_seed(42)
    a, b = tg.randn(3, 2), tg.rand(4)
    tg.manual_seed(42)
    np.testing.assert_array_equal(a.detach().numpy(), tg.randn(3, 2).detach().numpy())
    np.testing.assert_array_equal(b.detach().numpy(), tg.rand(4).detach().numpy())
    assert a.dtype == tg.float32 and b.detach().numpy().min() >= 0 and b.detach().numpy().max() < 1


def test_attributes():
    x = tg.ones(2, 3, requires_grad=True)
    assert (x.ndim, x.dim(), x.numel(), x.size(), x.size(-1)) == (2, 2, 6, (2, 3), 3)
    assert x.is_leaf and x.grad is None and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.requires_grad
    assert tg.tensor(3.5).item() == 3.5
    assert tg.tensor([[1, 2]]).tolist() == [[1, 2]]
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.detach().numpy() is y.detach().numpy()
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0" and c.detach().numpy() is not x.detach().numpy()


def test_requires_grad_rules():
    t = tg.ones(2)
    assert t.requires_grad_() is t and t.requires_grad
    with pytest.raises(
        RuntimeError, match="Only Tensors of floating point and complex dtype can require"
    ):
        tg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        (t * 2).requires_grad = False


def _requires_grad_calls(lib):
    import tapegrad.nn  # noqa: F401 - lib.nn for tapegrad

    x = lib.ones(2, requires_grad=True)
    calls = {
        "non-leaf requires_grad_(True)": lambda: (x * 2).requires_grad_(True),
        "non-leaf requires_grad_(False)": lambda: (x * 2).requires_grad_(False),
        "non-leaf .requires_grad = True": lambda: setattr(x * 2, "requires_grad", True),
        "non-leaf .requires_grad = False": lambda: setattr(x * 2, "requires_grad", False),
        "int factory": lambda: lib.ones(2, dtype=lib.int64, requires_grad=True),
        "int tensor()": lambda: lib.tensor([1, 2], requires_grad=True),
        "int Parameter": lambda: lib.nn.Parameter(lib.tensor([1, 2])),
        "int requires_grad_()": lambda: lib.tensor([1, 2]).requires_grad_(),
        "int .requires_grad = True": lambda: setattr(lib.tensor([1, 2]), "requires_grad", True),
    }
    return calls


def test_requires_grad_errors_are_worded_as_torch_words_each_call(call_outcomes):
    torch = pytest.importorskip("torch")
    assert call_outcomes(_requires_grad_calls(tg)) == call_outcomes(_requires_grad_calls(torch))


def test_numpy_refuses_tensor_requiring_grad():
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\)"):
        x.numpy()
    assert np.shares_memory(x.detach().numpy(), x.data.numpy())


def test_repr_like_pytorch():
    assert repr(tg.ones(2, 2, requires_grad=True)) == (
        "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    )
    assert repr(tg.ones(2, dtype=tg.float64)) == "tensor([1., 1.], dtype=tapegrad.float64)"
    assert repr(tg.tensor([1, 2])) == "tensor([1, 2])"
    assert (
        repr(tg.tensor(28.83, requires_grad=True) * 1) == "tensor(28.8300, grad_fn=<MulBackward0>)"
    )
    assert repr(tg.float64) == "tapegrad.float64"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((tg.float32, 1), (tg.float64, 1), tg.float64),
        ((tg.float32, 1), (tg.float64, 0), tg.float32),
        ((tg.int64, 1), (tg.float32, 1), tg.float32),
        ((tg.float64, 0), (tg.int32, 1), tg.float64),
        ((tg.bool, 1), (tg.int64, 1), tg.int64),
    ],
)
def test_type_promotion_like_pytorch(a, b, expected):
    x = tg.ones((2,) * a[1], dtype=a[0])  # a shape tuple: () makes a 0-d tensor
    y = tg.ones((2,) * b[1], dtype=b[0])
    assert (x + y).dtype == expected


def test_scalar_promotion_like_pytorch():
    assert (tg.ones(2, dtype=tg.int64) * 1.5).dtype == tg.float32
    assert (tg.ones(2, dtype=tg.int64) / tg.ones(2, dtype=tg.int64)).dtype == tg.float32
    assert (tg.ones(2) * 2).dtype == tg.float32
    assert (tg.ones(2, dtype=tg.bool) + 1).dtype == tg.int64
    assert (tg.ones(2, dtype=tg.float64) * np.float64(2)).dtype == tg.float64


def test_comparisons_give_bool_tensors_outside_graph():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for mask in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2):
        assert mask.dtype == tg.bool and not mask.requires_grad and mask.grad_fn is None
    assert (x > 1.5).tolist() == [False, True, True]


def test_blog_column_indexing_keeps_a_column():
    x = tg.randn(100, 3)
    col = x[:, 0, None]
    assert col.shape == (100, 1)
    np.testing.assert_array_equal(col.detach().numpy()[:, 0], x.detach().numpy()[:, 0])


@pytest.mark.parametrize(
    "key",
    [
        0,
        -1,
        slice(1, None),
        (slice(None), 1),
        (Ellipsis, 0),
        (None, 0),
        [0, 2],
        (slice(None, None, 2),),
    ],
)
def test_indexing_matches_numpy(key):
    data = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(tg.tensor(data)[key].detach().numpy(), data[key])


def test_boolean_mask_indexing_and_gradient():
    x = tg.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    picked = x[x > 0]
    assert picked.tolist() == [1.0, 4.0]
    picked.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_repeated_integer_index_accumulates_gradient():
    x = tg.zeros(3, requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 1.0]


def test_index_errors():
    x = tg.ones(2, 3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 2"):
        x[5]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        x[0, 0, 0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]


def test_setitem_outside_graph():
    x = tg.zeros(2, 3)
    x[0] = 5
    x[1, 1:] = tg.tensor([1.0, 2.0])
    assert x.tolist() == [[5, 5, 5], [0, 1, 2]]
    w = tg.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 1.0
    with tg.no_grad():
        w[0] = 1.0
    assert w.tolist() == [1.0, 0.0]


def test_mm_shape_error():
    with pytest.raises(
        RuntimeError,
        match=r"mat1 and mat2 shapes cannot be multiplied "
        r"\(2x3 and 4x5\)",
    ):
        tg.ones(2, 3).mm(tg.ones(4, 5))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied"):
        tg.ones(2, 3) @ tg.ones(4, 5)


def test_reshape_and_view_errors():
    with pytest.raises(RuntimeError, match=r"shape '\[4\]' is invalid for input of size 6"):
        tg.ones(2, 3).reshape(4)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        tg.ones(2, 3).t().view(6)
    assert tg.ones(2, 3).t().reshape(6).grad_fn is None


def test_max_and_min_with_dim_return_values_and_indices():
    x = tg.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 7.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert x.max(1).indices.dtype == tg.int64
    values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 0], [1, 0, 0]]


def test_subgradients_at_kinks_match_pytorch():
    x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    x.grad = None
    x.clamp(min=0.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0]
    x.grad = None
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]
    t = tg.tensor([3.0, 1.0, 3.0], requires_grad=True)
    t.max().backward()
    assert t.grad.tolist() == [0.5, 0.0, 0.5]
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([1.0, 1.0], requires_grad=True)
    tg.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0] and b.grad.tolist() == [0.5, 0.0]


def test_sigmoid_and_log_softmax_are_stable():
    x = tg.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    assert x.sigmoid().tolist() == [0.0, 0.5, 1.0]
    out = x.log_softmax(0)
    assert np.all(np.isfinite(out.detach().numpy()))
    out[2].backward()
    assert np.all(np.isfinite(x.grad.detach().numpy()))


def test_bad_constructor_input():
    with pytest.raises(TypeError, match="Could not infer dtype"):
        tg.tensor("abc")
    with pytest.raises(TypeError, match="unsupported operand"):
        tg.ones(2) + "a"


def test_len_iter_bool():
    x = tg.tensor([1.0, 2.0])
    assert len(x) == 2 and [t.item() for t in x] == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    assert bool(tg.tensor(1.0))


def test_pytorch_dtype_aliases():
    assert tg.float is tg.float32 and tg.double is tg.float64 and tg.half is tg.float16
    assert tg.long is tg.int64 and tg.int is tg.int32
    assert tg.ones(2, dtype=tg.long).dtype == tg.int64
    # the Python type float means float64 to torch (the default dtype is for float *values*)
    assert tg.ones(2, dtype=float).dtype == tg.float64 and tg.ones(2, dtype=int).dtype == tg.int64


def _inferred_dtypes(lib):
    cases = {
        "dtype=float": lambda: lib.tensor([1, 2], dtype=float),
        "numpy float64 in a list": lambda: lib.tensor([np.float64(1.5)]),
        "numpy int32 with an int": lambda: lib.tensor([np.int32(1), 2]),
        "numpy int64 with a float": lambda: lib.tensor([np.int64(1), 2.5]),
        "tensors in a list": lambda: lib.tensor(
            [lib.tensor(1.0, dtype=lib.float64), lib.tensor(2.0)]
        ),
        "empty list": lambda: lib.tensor([[]]),
        "arange to a tensor": lambda: lib.arange(lib.tensor(3)),
        "arange to a numpy int": lambda: lib.arange(np.int64(3)),
        "float arange": lambda: lib.arange(1, 2, 0.3),
        "int arange of float bounds": lambda: lib.arange(0.5, 3.7, dtype=lib.int64),
    }
    return {
        name: (str(make().dtype).split(".")[-1], make().tolist()) for name, make in cases.items()
    }


def test_dtype_inference_of_lists_and_aranges_as_torch():
    torch = pytest.importorskip("torch")
    assert _inferred_dtypes(tg) == _inferred_dtypes(torch)


def test_numpy_scalars_keep_their_dtype_and_ragged_lists_are_explained():
    assert tg.tensor(np.float64(2.5)).dtype == tg.float64
    with pytest.raises(ValueError, match=r"expected sequence of length 2 at dim 1 \(got 1\)"):
        tg.tensor([[1, 2], [3]])


def test_messages_use_pytorch_names():
    with pytest.raises(RuntimeError, match="Got: Long"):
        tg.ones(2, dtype=tg.int64).mean()
    with pytest.raises(RuntimeError, match="Expected size 3 but got size 4 for tensor number 1"):
        tg.cat([tg.ones(2, 3), tg.ones(2, 4)])
    with pytest.raises(RuntimeError, match="boolean tensor, but got a tensor with dtype Float"):
        tg.where(tg.ones(2), tg.ones(2), tg.ones(2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_keeps_tiny_results_as_torch(dtype):
    torch = pytest.importorskip("torch")
    x = np.array([-800, -200, -90, -60, -30, -20, -7, -1, 0, 1e-3, 7, 20, 800], dtype=dtype)
    ours = tg.sigmoid(tg.from_numpy(x)).numpy()
    theirs = torch.sigmoid(torch.from_numpy(x)).numpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=4 * np.finfo(dtype).eps, atol=0)


def _empty_dim_reductions(lib):
    out = []
    for reduce in (
        lambda x: x.sum(()),
        lambda x: x.sum([]),
        lambda x: x.sum((), keepdim=True),
        lambda x: x.mean(()),
        lambda x: x.mean([], keepdim=True),
    ):
        x = lib.arange(6.0).reshape(2, 3).requires_grad_()
        r = reduce(x)
        (r * r).sum().backward()
        out.append((tuple(r.shape), r.grad_fn.name(), r.tolist(), x.grad.tolist()))
    return out


def test_an_empty_dim_list_reduces_every_dimension_as_torch():
    torch = pytest.importorskip("torch")
    assert _empty_dim_reductions(tg) == _empty_dim_reductions(torch)


def _joined_dtypes(lib):
    c = lib.tensor([True, False])
    cases = {
        "cat f32 i64": lambda: lib.cat([lib.zeros(2), lib.ones(2, dtype=lib.int64)]),
        "stack 0-d": lambda: lib.stack([lib.tensor(1.0), lib.tensor(2)]),
        "cat f64 i32": lambda: lib.cat(
            [lib.zeros(2, dtype=lib.float64), lib.ones(2, dtype=lib.int32)]
        ),
        "cat bool i64": lambda: lib.cat(
            [lib.zeros(2, dtype=lib.bool), lib.ones(2, dtype=lib.int64)]
        ),
        "where int 0.5": lambda: lib.where(c, lib.tensor([1, 2]), 0.5),
        "where 0.5 int": lambda: lib.where(c, 0.5, lib.tensor([1, 2])),
        "where bool 2": lambda: lib.where(c, lib.tensor([True, False]), 2),
        "where f64 0.5": lambda: lib.where(c, lib.tensor([1.0, 2.0], dtype=lib.float64), 0.5),
    }
    return {
        name: (str(make().dtype).split(".")[-1], make().tolist()) for name, make in cases.items()
    }


def test_cat_stack_and_where_promote_as_torch():
    # a higher category wins outright (float32 with int64 is float32, not numpy's float64)
    torch = pytest.importorskip("torch")
    assert _joined_dtypes(tg) == _joined_dtypes(torch)


@pytest.mark.filterwarnings("ignore")  # numpy warns on inf - inf; the values are torch's
def test_softmax_family_on_0d_empty_and_infinite_inputs_as_torch():
    torch = pytest.importorskip("torch")
    inf = float("inf")

    def outcomes(lib):
        cases = {
            "0-d softmax": lambda: lib.tensor(3.0).softmax(-1),
            "0-d log_softmax": lambda: lib.tensor(3.0).log_softmax(0),
            "0-d logsumexp": lambda: lib.tensor(3.0).logsumexp(0),
            "empty softmax": lambda: lib.zeros(0, 3).softmax(0),
            "empty log_softmax": lambda: lib.zeros(2, 0).log_softmax(1),
            "empty logsumexp": lambda: lib.zeros(0, 3).logsumexp(0),
            "inf softmax": lambda: lib.tensor([inf, 1.0]).softmax(0),
            "-inf log_softmax": lambda: lib.tensor([-inf, -inf]).log_softmax(0),
            "inf logsumexp": lambda: lib.tensor([inf, 1.0]).logsumexp(0),
            "argmax keepdim": lambda: lib.arange(6.0).reshape(2, 3).argmax(keepdim=True),
            "argmin empty": lambda: lib.zeros(0, 3).argmin(),
        }
        found = {}
        for name, make in cases.items():
            try:
                r = make()
                found[name] = (tuple(r.shape), str(r.dtype).split(".")[-1], str(r.tolist()))
            except IndexError as exc:
                found[name] = str(exc)
        x = lib.tensor(2.0, requires_grad=True)
        (x.softmax(0) * 3 + x.log_softmax(0)).backward()
        found["0-d gradient"] = x.grad.item()
        return found

    assert outcomes(tg) == outcomes(torch)


def _factory_calls(lib):
    import tapegrad.nn  # noqa: F401 - lib.nn for tapegrad

    calls = {
        "zeros(-1)": lambda: lib.zeros(-1),
        "ones((2, -1))": lambda: lib.ones((2, -1)),
        "randn(-1)": lambda: lib.randn(-1),
        "full((2, -1))": lambda: lib.full((2, -1), 1.0),
        "Linear(-1, 4)": lambda: lib.nn.Linear(-1, 4),
        "randn(int64)": lambda: lib.randn(2, dtype=lib.int64),
        "rand(int64)": lambda: lib.rand(2, dtype=lib.int64),
        "zeros_like(list)": lambda: lib.zeros_like([1, 2]),
        "ones_like(int)": lambda: lib.ones_like(3),
        "from_numpy(list)": lambda: lib.from_numpy([1, 2]),
    }
    return calls


def test_factory_errors_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")
    assert call_outcomes(_factory_calls(tg)) == call_outcomes(_factory_calls(torch))


def test_requires_grad_setter_wants_a_bool_and_non_leaf_grad_warns_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="^requires_grad must be a bool$"):
            lib.ones(2).requires_grad = 1
    messages = []
    for lib in (tg, torch):
        y = lib.ones(2, requires_grad=True) * 2
        with pytest.warns(UserWarning) as record:
            assert y.grad is None
        messages.append(str(record[0].message).split(" (Triggered internally")[0])
    assert messages[0] == messages[1]


def _conversion_and_join_calls(lib):
    calls = {
        "float of 2": lambda: float(lib.ones(2)),
        "int of 0": lambda: int(lib.ones(0)),
        "bool of empty": lambda: bool(lib.tensor([])),
        "bool of 2": lambda: bool(lib.ones(2)),
        "clamp without bounds": lambda: lib.ones(2).clamp(),
        "cat of nothing": lambda: lib.cat([]),
        "stack of nothing": lambda: lib.stack([]),
        "cat of a tensor": lambda: lib.cat(lib.ones(2)),
    }
    return calls


def test_conversion_and_join_errors_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")
    ours = call_outcomes(_conversion_and_join_calls(tg))
    assert ours == call_outcomes(_conversion_and_join_calls(torch))


def _zero_dim_and_range_calls(lib):
    import tapegrad.nn  # noqa: F401 - lib.nn for tapegrad

    scalar = lib.tensor(1.0)
    return {
        "0-d transpose": lambda: scalar.transpose(0, -1).tolist(),
        "0-d size(0)": lambda: scalar.size(0),
        "cat of 0-d": lambda: lib.cat([lib.tensor(1.0), lib.tensor(2.0)]),
        "expand with -1 in a new dim": lambda: lib.zeros(3, 1).expand(-1, -1, 4),
        "expand mismatch": lambda: lib.zeros(2, 1, 3).expand(5, 4, 4),
        "expand too few sizes": lambda: lib.zeros(2, 3).expand(4),
        "normal_ std < 0": lambda: lib.nn.init.normal_(lib.ones(2), std=-1),
        "uniform_ from > to": lambda: lib.nn.init.uniform_(lib.ones(2), 2, 1),
        "arange to inf": lambda: lib.arange(float("inf")),
        "float size": lambda: lib.ones(2, 3).view(2.0, 3),
        "zeros()": lambda: lib.zeros(),
        "empty()": lambda: lib.empty(),
        "zeros(())": lambda: lib.zeros(()).shape,
        "arange(5, 1)": lambda: lib.arange(5, 1),
        "arange(0, 5, -1)": lambda: lib.arange(0, 5, -1),
        "flatten(2, 1)": lambda: lib.ones(2, 3, 4).flatten(2, 1),
    }


def test_zero_dim_expand_init_and_range_errors_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")
    ours = call_outcomes(_zero_dim_and_range_calls(tg))
    theirs = call_outcomes(_zero_dim_and_range_calls(torch))
    for name, outcome in theirs.items():  # torch's TypeError texts come from its C++ binder
        if name == "float size":
            assert ours[name].startswith("TypeError"), ours[name]
        else:
            assert ours[name] == outcome, name


def test_integer_powers_with_negative_exponents_as_torch():
    torch = pytest.importorskip("torch")
    cases = (
        lambda lib: lib.tensor([3, -7, 1, -1, -1, 2]) ** lib.tensor([3, -7, -5, -3, -2, -1]),
        lambda lib: lib.pow(2, lib.tensor([3, -7, 0])),
        lambda lib: lib.pow(-1, lib.tensor([-1, -2])),
    )
    for case in cases:
        ours, theirs = case(tg), case(torch)
        assert ours.tolist() == theirs.tolist()
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]


def test_bool_operands_refused_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def calls(lib):
        flags, ints = lib.tensor([True, False]), lib.tensor([3, -7])
        return {
            "int - bool": lambda: ints - flags,
            "bool - bool": lambda: flags.sub(flags),
            "1 - bool": lambda: 1 - flags,
            "int - True": lambda: ints - True,
            "relu of bool": lambda: lib.relu(flags),
            "abs of bool": lambda: flags.abs(),
            "2 - int": lambda: (2 - ints).tolist(),
        }

    assert call_outcomes(calls(tg)) == call_outcomes(calls(torch))


def test_equality_with_non_numbers_is_plain_python_as_torch():
    torch = pytest.importorskip("torch")

    def outcomes(lib):
        t = lib.ones(2)
        return [t == None, t != None, t == "a", t == [1, 1], t != "a", (t == 1).tolist()]  # noqa: E711

    assert outcomes(tg) == outcomes(torch)


def test_python_ints_beyond_an_integer_dtype_wrap_as_torch():
    torch = pytest.importorskip("torch")

    def results(lib):
        small = lib.tensor([1, 250], dtype=lib.uint8)
        cases = (
            lambda: small + 300,
            lambda: small - 300,
            lambda: 300 - small,
            lambda: small + (-1),
            lambda: lib.tensor([1], dtype=lib.int8) * 1000,
            lambda: lib.tensor([1], dtype=lib.int32) + 2**40,
        )
        return [(str(r.dtype).split(".")[-1], r.tolist()) for r in (case() for case in cases)]

    assert results(tg) == results(torch)


@pytest.mark.parametrize("data", [1j, [1 + 2j], [[1.0, 2j]]])
def test_complex_data_is_refused_not_truncated(data):
    with pytest.raises(TypeError, match="no complex dtype"):
        tg.tensor(data)


def test_sum_and_mean_with_dtype_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def results(lib):
        found = []
        for reduce in (
            lambda x: x.sum(dtype=lib.float64),
            lambda x: x.sum(0, dtype=lib.float64),
            lambda x: lib.mean(x, dtype=lib.float64),
            lambda x: x.mean(1, keepdim=True, dtype=lib.float64),
        ):
            x = lib.ones(2, 3, requires_grad=True)
            out = reduce(x)
            below = [n.name().split("::")[-1] for n, _ in out.grad_fn.next_functions]
            out.sum().backward()
            dtypes = [str(t.dtype).split(".")[-1] for t in (out, x.grad)]
            found.append((out.grad_fn.name(), below, dtypes, out.tolist()))
        ints = lib.tensor([1, 2])
        found.append(
            (
                str(ints.sum(dtype=lib.float32).dtype).split(".")[-1],
                ints.mean(dtype=lib.float64).item(),
            )
        )
        found.append(call_outcomes({"int mean dtype": lambda: ints.mean(dtype=lib.int64)}))
        return found

    assert results(tg) == results(torch)


def test_where_with_a_condition_alone_and_max_reprs_as_torch():
    torch = pytest.importorskip("torch")

    def results(lib):
        x = lib.tensor([[1.0, 5.0], [3.0, 2.0]])
        indices = [[t.tolist() for t in lib.where(c)] for c in (x > 2, lib.tensor([0, 3, 0, 1]))]
        reprs = [repr(x.max(1)), str(x.min(0))]
        return indices, [r.replace("torch.", "tapegrad.") for r in reprs]

    assert results(tg) == results(torch)


def test_floor_division_remainder_and_bitwise_operators_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def results(lib):
        x = lib.tensor([5.0, -7.0, 3.5], requires_grad=True)
        y = lib.tensor([2.0, 2.0, -1.5], requires_grad=True)
        found = [(x // y).tolist()]
        remainder = x % y
        remainder.sum().backward()
        found.append(
            (remainder.tolist(), remainder.grad_fn.name(), x.grad.tolist(), y.grad.tolist())
        )
        ints, flags = lib.tensor([7, -7]), lib.tensor([True, False])
        found.append(
            [(7 // lib.tensor([2, -2])).tolist(), (ints // 2).tolist(), (ints % 3).tolist()]
        )
        found.append(
            [
                (flags ^ lib.tensor([True, True])).tolist(),
                (lib.tensor([6, 3]) & lib.tensor([3, 5])).tolist(),
                (lib.tensor([6, 3]) | 1).tolist(),
            ]
        )
        found.append(call_outcomes({"float &": lambda: lib.tensor([1.5]) & lib.tensor([2.5])}))
        return found

    assert results(tg) == results(torch)


def test_div_rounding_modes_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def results(lib):
        found = []
        for mode in ("floor", "trunc"):
            x = lib.tensor([5.0, -7.0], requires_grad=True)
            y = lib.tensor([2.0, 2.0], requires_grad=True)
            out = lib.div(x, y, rounding_mode=mode)
            out.sum().backward()  # piecewise constant: zero gradients
            found.append((out.tolist(), out.grad_fn.name(), x.grad.tolist(), y.grad.tolist()))
            ints = lib.div(lib.tensor([7, -7]), lib.tensor([-2, 2]), rounding_mode=mode)
            found.append((ints.tolist(), str(ints.dtype).split(".")[-1]))
        found.append(call_outcomes({"round": lambda: lib.ones(2).div(2, rounding_mode="round")}))
        return found

    assert results(tg) == results(torch)


def test_ragged_and_mixed_lists_are_explained_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def calls(lib):
        return {
            "number then list": lambda: lib.tensor([0, [1, 2]]),
            "float then list": lambda: lib.tensor([0.0, [1, 2]]),
            "list then number": lambda: lib.tensor([[1, 2], 3]),
            "short row": lambda: lib.tensor([[1, 2], [3]]),
            "deep short row": lambda: lib.tensor([[[1], [2]], [[3], [4, 5]]]),
        }

    assert call_outcomes(calls(tg)) == call_outcomes(calls(torch))


def _data_idioms(lib):
    """The ``.data`` idioms of pre-``no_grad`` PyTorch code, run the same on either library."""
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    d = w.data
    facts = [type(d) is type(w), d.requires_grad, d.grad_fn is None, d.is_leaf]
    w.data -= 0.5 * w.grad  # the classic manual update
    w.grad.data.zero_()
    facts += [w.tolist(), w.grad.tolist(), w.requires_grad, w._version]
    # in-place changes through .data are invisible to autograd: no error at backward
    a = lib.tensor([1.0, 1.0], requires_grad=True)
    b = a * 1
    c = b * b
    b.data.mul_(3)
    c.sum().backward()
    facts.append(a.grad.tolist())
    w.data = lib.zeros(3)  # another shape: the leaf takes it, and so does its next graph
    try:
        (w * 2).sum().backward()  # into the old .grad, of the old shape
    except RuntimeError as exc:
        facts.append(str(exc))
    w.grad = None
    (w * 2).sum().backward()
    facts += [tuple(w.shape), w.requires_grad, w.grad.tolist()]
    return facts


def test_data_is_a_tensor_outside_the_graph_as_torch():
    torch = pytest.importorskip("torch")
    assert _data_idioms(tg) == _data_idioms(torch)


def test_data_assignment_errors_match_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def calls(lib):
        def assign(value, requires_grad=False):
            lib.ones(2, requires_grad=requires_grad).data = value

        return {
            "an ndarray": lambda: assign(np.zeros(2)),
            "an int": lambda: assign(3),
            "a list": lambda: assign([1.0]),
            "int data under requires_grad": lambda: assign(lib.zeros(2, dtype=lib.int64), True),
        }

    ours = call_outcomes(calls(tg))
    assert "ok" not in ours.values()
    assert ours == call_outcomes(calls(torch))


REFUSED_LIKE_TORCH = {
    "tensor uint8 300": lambda lib: lib.tensor([300], dtype=lib.uint8),
    "tensor int8 -129": lambda lib: lib.tensor([-129], dtype=lib.int8),
    "tensor int8 -128.9": lambda lib: lib.tensor([-128.9], dtype=lib.int8),
    "tensor uint8 -256": lambda lib: lib.tensor([-256], dtype=lib.uint8),
    "tensor int32 2**31": lambda lib: lib.tensor(2**31, dtype=lib.int32),
    "tensor int64 nan": lambda lib: lib.tensor([float("nan")], dtype=lib.int64),
    "tensor 2**63": lambda lib: lib.tensor([2**63]),
    "tensor 2**64": lambda lib: lib.tensor([[1, 2**64]]),
    "full uint8 300": lambda lib: lib.full((2,), 300, dtype=lib.uint8),
    "full 2**63": lambda lib: lib.full((1,), 2**63),
    "argmax bool": lambda lib: lib.tensor([True, False]).argmax(),
    "argmin(dim) bool": lambda lib: lib.tensor([[True, False]]).argmin(1),
    "softmax bool dim 0": lambda lib: lib.ones(2, 2, dtype=lib.bool).softmax(0),
    "softmax int last dim": lambda lib: lib.tensor([1, 2]).softmax(0),
    "log_softmax int 0-d": lambda lib: lib.tensor(1).log_softmax(0),
    "mm bool": lambda lib: lib.ones(2, 2, dtype=lib.bool).mm(lib.ones(2, 2, dtype=lib.bool)),
    "addmm bool": lambda lib: lib.addmm(
        lib.ones(2, dtype=lib.bool), lib.ones(2, 2, dtype=lib.bool), lib.ones(2, 2, dtype=lib.bool)
    ),
    "dot bool": lambda lib: lib.ones(2, dtype=lib.bool) @ lib.ones(2, dtype=lib.bool),
    "mv bool": lambda lib: lib.ones(3, 2, 2, dtype=lib.bool) @ lib.ones(2, dtype=lib.bool),
    "bmm bool": lambda lib: lib.ones(2, dtype=lib.bool) @ lib.ones(3, 2, 2, dtype=lib.bool),
}
ACCEPTED_LIKE_TORCH = {
    "tensor uint8 -1 wraps": lambda lib: lib.tensor([-1, -255], dtype=lib.uint8),
    "tensor float32 2**70": lambda lib: lib.tensor([2**70], dtype=lib.float32),
    "full uint8 -1 wraps": lambda lib: lib.full((1,), -1, dtype=lib.uint8),
    "full int64 2.7": lambda lib: lib.full((1,), 2.7, dtype=lib.int64),
    "numpy uint8 300 wraps": lambda lib: lib.tensor(np.array([300]), dtype=lib.uint8),
    "int matmul": lambda lib: lib.tensor([[1, 2]]) @ lib.tensor([[3], [4]]),
    "max(dim) bool": lambda lib: lib.tensor([[True, False]]).max(1).values,
}


def test_dtype_ranges_and_kernels_refused_as_torch(call_outcomes):
    def calls(lib):
        return {case: lambda make=make: make(lib) for case, make in REFUSED_LIKE_TORCH.items()}

    ours = call_outcomes(calls(tg))
    assert "ok" not in ours.values()
    torch = pytest.importorskip("torch")
    assert ours == call_outcomes(calls(torch))


@pytest.mark.parametrize("case", ACCEPTED_LIKE_TORCH)
def test_dtype_edge_values_accepted_as_torch(case):
    ours = ACCEPTED_LIKE_TORCH[case](tg).tolist()
    torch = pytest.importorskip("torch")
    assert ours == ACCEPTED_LIKE_TORCH[case](torch).tolist()
