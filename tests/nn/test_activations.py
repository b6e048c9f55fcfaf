"""Activation modules and functions (GELU ... Unflatten) against torch.nn: values, gradients,
node names, in-place forms, reprs, dtypes and errors. The functional forms' gradcheck,
gradgradcheck and torch comparison on random samples are the registry's
(tests/ops/test_registry.py: gelu, silu, elu_inplace, ...)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

from ._helpers import assert_close, copy_weights, to_torch, tolerance

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [tg.float32, tg.float64]

# (module name, constructor args): every activation module, inplace forms included
MODULES = [
    ("GELU", ()),
    ("GELU", ("tanh",)),
    ("SiLU", ()),
    ("SiLU", (True,)),
    ("Mish", ()),
    ("Mish", (True,)),
    ("ELU", ()),
    ("ELU", (0.5, True)),
    ("CELU", (2.0,)),
    ("CELU", (0.5, True)),
    ("SELU", ()),
    ("SELU", (True,)),
    ("LeakyReLU", ()),
    ("LeakyReLU", (0.2, True)),
    ("LeakyReLU", (-0.3,)),
    ("ReLU6", ()),
    ("ReLU6", (True,)),
    ("Hardtanh", ()),
    ("Hardtanh", (-2.0, 3.5, True)),
    ("Hardsigmoid", ()),
    ("Hardsigmoid", (True,)),
    ("Hardswish", ()),
    ("Hardswish", (True,)),
    ("Softplus", ()),
    ("Softplus", (2.0, 3.0)),
    ("Softsign", ()),
    ("LogSigmoid", ()),
    ("Softmin", (1,)),
    ("Softmax", (-1,)),
    ("LogSoftmax", (0,)),
    ("Identity", (3,)),
    ("Flatten", ()),
    ("Flatten", (0, -2)),
    ("Unflatten", (1, (2, 3))),
    ("Tanh", ()),
    ("Sigmoid", ()),
    ("ReLU", (True,)),
]

KINKS = [-3.0, -1.0, 0.0, 1.0, 3.0, 6.0]


def _ids(case: tuple[str, tuple]) -> str:
    return f"{case[0]}{case[1]}" if case[1] else case[0]


def _input(dtype, shape=(4, 6), seed: int = 0) -> np.ndarray:
    """Values in (-8, 8), kept 0.1 away from every kink of the family."""
    x = np.random.default_rng(seed).uniform(-8, 8, shape)
    for kink in KINKS + [-6.0]:
        near = np.abs(x - kink) < 0.1
        x = np.where(near, x + 0.25, x)
    return x.astype(np.float32 if dtype is tg.float32 else np.float64)


def _run_both(module, tmodule, x: np.ndarray):
    """Module on a non-leaf (``x * 1``, so inplace forms are allowed) in both libraries."""
    leaf = tg.tensor(x, requires_grad=True)
    tleaf = torch.tensor(x, requires_grad=True)
    inp, tinp = leaf * 1, tleaf * 1
    out, tout = module(inp), tmodule(tinp)
    return leaf, tleaf, inp, tinp, out, tout


@pytest.mark.parametrize("case", MODULES, ids=_ids)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_module_matches_torch(case, dtype) -> None:
    name, args = case
    module, tmodule = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    leaf, tleaf, inp, tinp, out, tout = _run_both(module, tmodule, _input(dtype, (4, 6, 1)))
    assert_close(out, tout, tolerance(dtype))
    assert (out is inp) == (tout is tinp)  # inplace modules return their input
    if tout.grad_fn is not None:
        assert out.grad_fn.name() == type(tout.grad_fn).__name__
    upstream = (
        np.random.default_rng(1).standard_normal(tout.shape).astype(out.detach().numpy().dtype)
    )
    out.backward(tg.tensor(upstream))
    tout.backward(torch.tensor(upstream))
    assert_close(leaf.grad, tleaf.grad, tolerance(dtype))


@pytest.mark.parametrize("case", MODULES, ids=_ids)
def test_repr_matches_torch(case) -> None:
    name, args = case
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_every_module_is_exported() -> None:
    names = {name for name, _ in MODULES}
    assert names <= set(nn.__all__)
    assert all(getattr(nn, name).__module__.startswith("tapegrad.nn") for name in names)


def test_mlp_with_activations_matches_torch_parameters_and_input() -> None:
    tg.manual_seed(0)
    layers = ("GELU", "SiLU", "LeakyReLU", "ELU", "Hardswish", "Softplus")

    def build(ns):
        mods = [ns.Linear(3, 8, dtype=tg.float64 if ns is nn else torch.float64)]
        for name in layers:
            mods += [getattr(ns, name)(), ns.Linear(8, 8, dtype=mods[0].weight.dtype)]
        return ns.Sequential(*mods, ns.Flatten(0), ns.Unflatten(0, (4, 8)))

    model, tmodel = build(nn), build(torch.nn)
    copy_weights(torch, model, tmodel)
    x = tg.randn(4, 3, dtype=tg.float64, requires_grad=True)
    tx = to_torch(torch, x, requires_grad=True)
    out, tout = model(x), tmodel(tx)
    assert_close(out, tout, 1e-10)
    (out**2).sum().backward()
    (tout**2).sum().backward()
    assert_close(x.grad, tx.grad, 1e-10)
    grads = dict(tmodel.named_parameters())
    for name, param in model.named_parameters():
        assert_close(param.grad, grads[name].grad, 1e-10)


# ============================================================= functions at the edges


FUNCTIONS = {
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "silu": lambda F, x: F.silu(x),
    "mish": lambda F, x: F.mish(x),
    "elu": lambda F, x: F.elu(x, 2.0),
    "celu": lambda F, x: F.celu(x, 2.0),
    "selu": lambda F, x: F.selu(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2),
    "relu6": lambda F, x: F.relu6(x),
    "hardtanh": lambda F, x: F.hardtanh(x),
    "hardtanh_wide": lambda F, x: F.hardtanh(x, -3.0, 6.0),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "softplus": lambda F, x: F.softplus(x),
    "softplus_beta": lambda F, x: F.softplus(x, 2, 6),
    "softsign": lambda F, x: F.softsign(x),
    "logsigmoid": lambda F, x: F.logsigmoid(x),
    "softmin": lambda F, x: F.softmin(x, 0),
    "elu_inplace": lambda F, x: F.elu(x * 1, 2.0, inplace=True),
    "celu_inplace": lambda F, x: F.celu(x * 1, 2.0, inplace=True),
    "selu_inplace": lambda F, x: F.selu(x * 1, inplace=True),
    "leaky_relu_inplace": lambda F, x: F.leaky_relu(x * 1, 0.2, inplace=True),
    "hardtanh_inplace": lambda F, x: F.hardtanh(x * 1, inplace=True),
    "relu6_inplace": lambda F, x: F.relu6(x * 1, inplace=True),
    "hardsigmoid_inplace": lambda F, x: F.hardsigmoid(x * 1, inplace=True),
    "hardswish_inplace": lambda F, x: F.hardswish(x * 1, inplace=True),
    "silu_inplace": lambda F, x: F.silu(x * 1, inplace=True),
    "mish_inplace": lambda F, x: F.mish(x * 1, inplace=True),
    "elu_": lambda F, x: F.elu_(x * 1, 0.5),
    "celu_": lambda F, x: F.celu_(x * 1, 0.5),
    "selu_": lambda F, x: F.selu_(x * 1),
    "leaky_relu_": lambda F, x: F.leaky_relu_(x * 1, 0.3),
    "hardtanh_": lambda F, x: F.hardtanh_(x * 1, -0.5, 2.0),
}


def _compare(fn, values: list[float], dtype, atol: float) -> None:
    x = tg.tensor(values, dtype=dtype, requires_grad=True)
    tx = to_torch(torch, x, requires_grad=True)
    out, tout = fn(F, x), fn(TF, tx)
    assert_close(out, tout, atol)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    out.sum().backward()
    tout.sum().backward()
    assert_close(x.grad, tx.grad, atol)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_subgradients_at_the_kinks_are_torchs(name) -> None:
    _compare(FUNCTIONS[name], [-6.0, *KINKS, 20.0], tg.float64, 1e-12)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # see below
@pytest.mark.parametrize("name", FUNCTIONS)
def test_large_magnitudes_stay_finite_as_torchs(name) -> None:
    # exp overflows here in float32: results and gradients must still be torch's (the
    # overflow warning is silenced by tapegrad's filter, which pytest's capture overrides)
    _compare(FUNCTIONS[name], [-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0], tg.float32, 1e-5)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_zero_d_and_empty_inputs(name) -> None:
    fn = FUNCTIONS[name]
    if name == "softmin":
        return
    x0 = tg.tensor(-0.7, requires_grad=True)
    assert_close(fn(F, x0), fn(TF, to_torch(torch, x0)), 1e-6)
    empty = fn(F, tg.zeros(0, 3))
    assert empty.shape == (0, 3) and empty.dtype is tg.float32


@pytest.mark.parametrize(
    "name", ["gelu", "gelu_tanh", "silu", "mish", "elu", "celu", "selu", "softplus", "logsigmoid"]
)
def test_second_derivatives_match_torch(name) -> None:
    fn = FUNCTIONS[name]
    x = tg.tensor([-2.5, -0.7, 0.4, 1.9], dtype=tg.float64, requires_grad=True)
    tx = to_torch(torch, x, requires_grad=True)
    (g,) = tg.autograd.grad(fn(F, x).sum(), x, create_graph=True)
    (tgrad,) = torch.autograd.grad(fn(TF, tx).sum(), tx, create_graph=True)
    (gg,) = tg.autograd.grad((g * g).sum(), x)
    (tgg,) = torch.autograd.grad((tgrad * tgrad).sum(), tx)
    assert_close(gg, tgg, 1e-10)


# ==================================================================== in-place forms


@pytest.mark.parametrize(
    "call",
    [
        lambda F, x: F.elu(x, inplace=True),
        lambda F, x: F.celu(x, inplace=True),
        lambda F, x: F.selu(x, inplace=True),
        lambda F, x: F.leaky_relu(x, inplace=True),
        lambda F, x: F.hardtanh(x, inplace=True),
        lambda F, x: F.relu6(x, inplace=True),
        lambda F, x: F.hardsigmoid(x, inplace=True),
        lambda F, x: F.hardswish(x, inplace=True),
        lambda F, x: F.silu(x, inplace=True),
        lambda F, x: F.mish(x, inplace=True),
        lambda F, x: F.elu_(x),
        lambda F, x: F.leaky_relu_(x),
        lambda F, x: F.hardtanh_(x),
        lambda F, x: F.celu_(x),
        lambda F, x: F.selu_(x),
    ],
)
def test_inplace_changes_and_returns_the_input(call) -> None:
    values = _input(tg.float32, (3, 4))
    x, tx = tg.tensor(values), torch.tensor(values)
    version = x._version
    out, tout = call(F, x), call(TF, tx)
    assert out is x and tout is tx
    assert x._version == version + 1
    assert_close(x, tx, 1e-6)
    leaf = tg.tensor(values, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used"):
        call(F, leaf)
    with tg.no_grad():
        assert call(F, leaf) is leaf


def test_inplace_functions_of_the_tapegrad_namespace() -> None:
    values = _input(tg.float64, (5,))
    for name in ("selu", "celu"):
        assert_close(
            getattr(tg, name)(tg.tensor(values)), getattr(torch, name)(torch.tensor(values)), 1e-12
        )
    x, tx = tg.tensor(values), torch.tensor(values)
    assert tg.celu_(x, 0.5) is x
    torch.celu_(tx, 0.5)
    assert_close(x, tx, 1e-12)
    x, tx = tg.tensor(values), torch.tensor(values)
    assert tg.selu_(x) is x
    torch.selu_(tx)
    assert_close(x, tx, 1e-12)
    assert not hasattr(tg.Tensor, "gelu") and not hasattr(tg.Tensor, "selu")  # as torch


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda F, x: F.elu(x, -0.5, inplace=True), "In-place elu backward calculation"),
        (lambda F, x: F.leaky_relu(x, -0.1, inplace=True), "In-place leakyReLu backward"),
    ],
)
def test_inplace_negative_slope_fails_in_backward_as_torch(call, message) -> None:
    leaf = tg.randn(4, requires_grad=True)
    tleaf = to_torch(torch, leaf, requires_grad=True)
    out, tout = call(F, leaf * 1), call(TF, tleaf * 1)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    with pytest.raises(RuntimeError) as expected:
        tout.sum().backward()
    with pytest.raises(RuntimeError) as raised:
        out.sum().backward()
    assert str(raised.value) == str(expected.value)
    assert message in str(raised.value)


def test_inplace_on_a_view_rebases_the_base_as_torch() -> None:
    values = _input(tg.float64, (3, 4))
    leaf = tg.tensor(values, requires_grad=True)
    tleaf = to_torch(torch, leaf, requires_grad=True)
    base, tbase = leaf * 1, tleaf * 1
    F.elu(base[1], inplace=True)
    TF.elu(tbase[1], inplace=True)
    assert base.grad_fn.name() == type(tbase.grad_fn).__name__
    (base * base).sum().backward()
    (tbase * tbase).sum().backward()
    assert_close(leaf.grad, tleaf.grad, 1e-12)


# ============================================================================ dtypes


FLOAT_ONLY = [
    "gelu",
    "silu",
    "mish",
    "elu",
    "celu",
    "selu",
    "leaky_relu",
    "hardsigmoid",
    "hardswish",
    "softplus",
    "logsigmoid",
]


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the exception itself is compared
        return type(e), str(e)
    return None


@pytest.mark.parametrize("name", FLOAT_ONLY + ["softsign", "softmin", "hardtanh", "relu6"])
@pytest.mark.parametrize("values", [[-2, 0, 3], [True, False]], ids=["int64", "bool"])
def test_integer_and_bool_inputs_as_torch(name, values) -> None:
    fn = FUNCTIONS[name]
    x, tx = tg.tensor(values), torch.tensor(values)
    expected = _error(lambda: fn(TF, tx))
    if expected is None:
        out, tout = fn(F, x), fn(TF, tx)
        assert_close(out, tout, 1e-6)
    else:
        assert _error(lambda: fn(F, x)) == expected


def test_hardtanh_of_integers_truncates_its_bounds_as_torch() -> None:
    values = [1, -3, 9, -1, 2]
    out = F.hardtanh(tg.tensor(values), -1.5, 2.5)
    assert out.dtype is tg.int64
    assert out.tolist() == TF.hardtanh(torch.tensor(values), -1.5, 2.5).tolist()
    x = tg.tensor(values)
    F.relu6(x, inplace=True)
    assert x.tolist() == [1, 0, 6, 0, 2]


@pytest.mark.parametrize("name", ["gelu", "silu", "elu", "leaky_relu", "softplus", "hardswish"])
def test_non_tensor_input_error_is_torchs(name) -> None:
    fn = getattr(F, name)
    expected = _error(lambda: getattr(TF, name)(1.5))
    assert _error(lambda: fn(1.5)) == expected


# ============================================================================ errors


def test_gelu_arguments() -> None:
    x = tg.randn(3)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(x, approximate="exact")
    with pytest.raises(TypeError):
        F.gelu(x, "tanh")  # keyword-only, as torch
    with pytest.raises(RuntimeError, match="approximate argument"):
        nn.GELU("erf")(x)


def test_hardtanh_bounds() -> None:
    x = tg.randn(3)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    assert F.hardtanh(x, 0.5, 0.5).tolist() == [0.5] * 3
    with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than min_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        module = nn.Hardtanh(min_value=-0.5)
    assert module.min_val == -0.5
    with pytest.warns(FutureWarning, match="`max_value` is deprecated"):
        assert nn.Hardtanh(max_value=2.0).max_val == 2.0


def test_celu_alpha_zero() -> None:
    for call in (lambda: F.celu(tg.randn(2), 0.0), lambda: tg.celu(tg.randn(2), 0)):
        with pytest.raises(RuntimeError, match="ZeroDivisionError: alpha cannot be 0 for CELU"):
            call()


def test_unflatten_size_checks_are_torchs() -> None:
    for size in ((2, 2.5), 4, [2, "a"]):
        expected = _error(lambda s=size: torch.nn.Unflatten(1, s))
        assert expected is not None
        assert _error(lambda s=size: nn.Unflatten(1, s)) == expected
    assert nn.Unflatten(1, [2, 3])(tg.zeros(4, 6)).shape == (4, 2, 3)


def test_implicit_softmax_dims_warn_as_torch() -> None:
    for name in ("Softmin", "Softmax", "LogSoftmax"):
        for shape in ((5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)):
            x = _input(tg.float64, shape)
            with pytest.warns(UserWarning, match="Implicit dimension choice") as record:
                out = getattr(nn, name)()(tg.tensor(x))
            assert record[0].filename == __file__  # the caller's line, as torch
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = getattr(torch.nn, name)()(torch.tensor(x))
            assert_close(out, expected, 1e-12)


def test_softmin_dtype_argument() -> None:
    x = tg.tensor([[1, 2, 3]])
    tx = torch.tensor([[1, 2, 3]])
    out = F.softmin(x, 1, dtype=tg.float64)
    assert_close(out, TF.softmin(tx, 1, dtype=torch.float64), 1e-12)
    leaf = tg.randn(2, 3, requires_grad=True)
    out = F.softmin(leaf, -1, dtype=tg.float64)
    assert out.dtype is tg.float64
    assert out.grad_fn.name() == "SoftmaxBackward0"


def test_identity_returns_its_input() -> None:
    x = tg.randn(2)
    assert nn.Identity(54, unused="x")(x) is x
