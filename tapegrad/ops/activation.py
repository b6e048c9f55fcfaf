"""Smooth activation functions (``nn.functional``): gelu, silu, mish, softplus, logsigmoid,
softsign and softmin, each one node with torch's closed-form backward (the piecewise ones,
elu... hardswish, are in ``activation_piecewise.py``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad._dtypes import _FLOAT_KIND, _scalar_type_name
from tapegrad.inplace import _inplace
from tapegrad.ops.base import ARRAY_NS, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import Array, OpInfo, Sample, functional, normal, unary_samples
from tapegrad.ops.special import np_erf
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

_SQRT1_2 = 1 / math.sqrt(2.0)
_GELU_PDF = 1 / math.sqrt(2.0 * math.pi)  # torch's M_2_SQRTPI * M_SQRT1_2 * 0.5
_GELU_BETA = math.sqrt(2.0) * (2 / math.sqrt(math.pi)) * 0.5  # sqrt(2 / pi)
_GELU_KAPPA = 0.044715

# -------------------------------------------------------------------------- ops


class Gelu(Op):
    node_name = "GeluBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, approximate: str) -> np.ndarray:
        self.approximate = approximate
        if approximate == "tanh":
            inner = _GELU_BETA * (a + _GELU_KAPPA * (a * a * a))
            return 0.5 * a * (1 + np.tanh(inner))
        return a * 0.5 * (1 + np_erf(a * _SQRT1_2))

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        if self.approximate == "tanh":
            x_sq = a * a
            t = xp.tanh(_GELU_BETA * (a + _GELU_KAPPA * x_sq * a))
            right_derivative = 0.5 * a * (1 - t * t) * _GELU_BETA * (1 + 3 * _GELU_KAPPA * x_sq)
            return (g * (0.5 * (1 + t) + right_derivative),)
        cdf = 0.5 * (1 + _erf(xp, a * _SQRT1_2))
        pdf = xp.exp(-0.5 * (a * a)) * _GELU_PDF
        return (g * (cdf + a * pdf),)


def _erf(xp: Any, a: Any) -> Any:
    """erf in a backward rule: numpy has none, so the arrays' is ``Tensor.erf``'s kernel."""
    return np_erf(a) if xp is ARRAY_NS else xp.erf(a)


class Silu(Op):
    node_name = "SiluBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a / (1 + np.exp(-a))

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        s = 1 / (1 + xp.exp(-a))
        return (g * s * (1 + a * (1 - s)),)


class Mish(Op):
    node_name = "MishBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a * np.tanh(np.log1p(np.exp(a)))

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        s = 1 / (1 + xp.exp(-a))
        t = xp.tanh(xp.log1p(xp.exp(a)))
        return (g * (t + a * s * (1 - t * t)),)


class Softplus(Op):
    """``log1p(exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""

    node_name = "SoftplusBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        self.beta, self.threshold = beta, threshold
        scaled = a * beta
        return np.where(scaled > threshold, a, np.log1p(np.exp(scaled)) / beta)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        scaled = a * self.beta
        z = xp.exp(scaled)
        return (xp.where(scaled > self.threshold, g, g * z / (z + 1)),)


class LogSigmoid(Op):
    node_name = "LogSigmoidBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.minimum(a, 0) - np.log1p(np.exp(-np.abs(a)))

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        z = xp.exp(-xp.abs(a))
        s = z / (1 + z)  # sigmoid(-|x|), so no exp overflows
        return (g * xp.where(a < 0, 1 - s, s),)


# ------------------------------------------------------------ shared by the family


def activation_input(value: Any, fn: str) -> Tensor:
    """``value``, checked to be a Tensor, in torch's words for a kernel's ``input``."""
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(value).__name__}"
        )
    return value


def float_only(t: Tensor, kernel: str) -> None:
    """torch's error for a float-only activation kernel given an integer or bool tensor."""
    if t._data.dtype.kind != _FLOAT_KIND:
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{_scalar_type_name(t._data.dtype)}'"
        )


def apply_activation(
    op_cls: type[Op],
    x: Tensor,
    inplace: bool = False,
    inplace_cls: type[Op] | None = None,
    **params: Any,
) -> Tensor:
    """Run ``op_cls`` on ``x``; ``inplace=True`` writes into ``x`` and returns it, recorded on
    a non-leaf as ``inplace_cls`` (torch's result-based node, e.g. ``EluBackward1``) or, by
    default, as ``op_cls`` itself."""
    if not inplace:
        return _run_op(op_cls(), (x,), (x._data,), **params)

    def kernel(a: np.ndarray, _: Any, out: np.ndarray) -> None:
        out[...] = op_cls().forward(a, **params)

    def record(before: Tensor, _: Any) -> Tensor:
        return _run_op((inplace_cls or op_cls)(), (before,), (before._data,), **params)

    return _inplace(x, kernel, record, None)


def activation_entry(
    name: str,
    node_name: str,
    ref: Callable[..., Array],
    samples: Callable[[np.random.Generator], list[Sample]],
    inplace: bool = False,
    second_order: bool = True,
) -> OpInfo:
    """The registry entry of ``F.<name>``; ``inplace=True``: ``F.<name>(x.clone(),
    inplace=True)``, the in-place form recorded on a non-leaf."""
    if inplace:
        return OpInfo(
            f"{name}_inplace",
            node_name,
            lambda ns, a, **kw: getattr(functional(ns), name)(a.clone(), inplace=True, **kw),
            ref,
            samples,
            second_order,
        )
    return OpInfo(
        name,
        node_name,
        lambda ns, a, **kw: getattr(functional(ns), name)(a, **kw),
        ref,
        samples,
        second_order,
    )


def few_samples(
    make: Callable[..., Array], *kwargs: dict[str, Any]
) -> Callable[[np.random.Generator], list[Sample]]:
    """A matrix, a 0-d and a size-1-dim input, each with every keyword set in ``kwargs``."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        shapes = [((3, 4), "matrix"), ((), "0-d"), ((2, 1, 3), "size-1 dim")]
        return [
            Sample((make(rng, s),), f"{d} {kw}" if kw else d, dict(kw))
            for kw in (kwargs or ({},))
            for s, d in shapes
        ]

    return samples


def wide(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Normal values spread to about +-6 (reach the saturated parts of the functions)."""
    return 3 * rng.standard_normal(shape)


# ------------------------------------------------------------- numpy references

_np_erf = np.vectorize(math.erf, otypes=[np.float64])


def _np_gelu(a: Array, approximate: str = "none") -> Array:
    if approximate == "tanh":
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
    return 0.5 * a * (1 + _np_erf(a / math.sqrt(2)))


def _np_softplus(a: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
    return np.where(a * beta > threshold, a, np.log(1 + np.exp(a * beta)) / beta)


def _np_softmin(a: Array, dim: int) -> Array:
    e = np.exp(a.min(axis=dim, keepdims=True) - a)
    return e / e.sum(axis=dim, keepdims=True)


# -------------------------------------------------------------- nn.functional forms


@declare(
    functional="gelu",
    tests=[
        activation_entry(
            "gelu", "GeluBackward0", _np_gelu, few_samples(wide, {}, {"approximate": "tanh"})
        )
    ],
)
def gelu(input: Tensor, *, approximate: str = "none") -> Tensor:  # noqa: A002 - torch's name
    """``x * Phi(x)`` (Phi the normal CDF); ``approximate='tanh'``: its tanh approximation."""
    x = activation_input(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    float_only(x, "GeluKernelImpl")
    return apply_activation(Gelu, x, approximate=approximate)


@declare(
    functional="silu",
    tests=[
        activation_entry(
            "silu", "SiluBackward0", lambda a: a / (1 + np.exp(-a)), few_samples(wide)
        ),
        activation_entry(
            "silu",
            "SiluBackward0",
            lambda a: a / (1 + np.exp(-a)),
            unary_samples(normal),
            inplace=True,
        ),
    ],
)
def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * sigmoid(x)`` (swish)."""
    x = activation_input(input, "silu")
    float_only(x, "silu_cpu")
    return apply_activation(Silu, x, inplace)


@declare(
    functional="mish",
    tests=[
        activation_entry(
            "mish", "MishBackward0", lambda a: a * np.tanh(np.log(1 + np.exp(a))), few_samples(wide)
        ),
    ],
)
def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * tanh(softplus(x))``."""
    x = activation_input(input, "mish")
    float_only(x, "mish_cpu")
    return apply_activation(Mish, x, inplace)


@declare(
    functional="softplus",
    tests=[
        activation_entry(
            "softplus",
            "SoftplusBackward0",
            _np_softplus,
            few_samples(wide, {}, {"beta": 2.0, "threshold": 3.0}, {"beta": 0.5}),
        ),
    ],
)
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta * x)) / beta``; linear (``x``) where ``beta * x > threshold``."""
    x = activation_input(input, "softplus")
    float_only(x, "softplus_cpu")
    return apply_activation(Softplus, x, beta=beta, threshold=threshold)


@declare(
    functional="logsigmoid",
    tests=[
        activation_entry(
            "logsigmoid",
            "LogSigmoidBackward0",
            lambda a: -np.log(1 + np.exp(-a)),
            few_samples(wide),
        ),
    ],
)
def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """``log(sigmoid(x))``, computed without overflow."""
    x = activation_input(input, "log_sigmoid")
    float_only(x, "log_sigmoid_cpu")
    return apply_activation(LogSigmoid, x)


@declare(
    functional="softsign",
    tests=[
        activation_entry(
            "softsign", "DivBackward0", lambda a: a / (1 + np.abs(a)), few_samples(wide)
        )
    ],
)
def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """``x / (1 + |x|)``, recorded as its abs, add and div (as torch)."""
    return input / (input.abs() + 1)


@declare(
    functional="softmin",
    tests=[
        OpInfo(
            "softmin",
            "SoftmaxBackward0",
            lambda ns, a, **kw: functional(ns).softmin(a, **kw),
            _np_softmin,
            lambda rng: [
                Sample((normal(rng, (3, 4)),), "dim=1", {"dim": 1}),
                Sample((normal(rng, (2, 3, 4)),), "dim=-2", {"dim": -2}),
                Sample((normal(rng, (5,)),), "vector dim=0", {"dim": 0}),
            ],
        )
    ],
)
def softmin(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
) -> Tensor:
    """``softmax(-x, dim)`` (torch's implicit-dim rule, with its warning, when omitted)."""
    if dim is None:
        dim = implicit_softmax_dim("softmin", input.dim(), _stacklevel)
    negated = -input
    return (negated if dtype is None else negated.to(dtype)).softmax(dim)


def implicit_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """torch's ``_get_softmax_dim``: the dim softmax-like functions use when none is given,
    with its deprecation warning (``stacklevel`` counted from here)."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1
