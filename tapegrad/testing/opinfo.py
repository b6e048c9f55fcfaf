"""The op registry: every differentiable op once, with a numpy reference and sample inputs.

The tests parametrize over ``OPS`` and ``tapegrad gradcheck`` iterates over it. An entry's
``fn(ns, *tensors, **sample.kwargs)`` is written so that ``ns`` can be the ``tapegrad`` module
or ``torch``: the same call then runs on both, which is how the tests compare with PyTorch.
Samples keep away from kinks (|x| small for abs/relu, values at clamp bounds, ties for max)
and from the domain edges of log/sqrt/pow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Sample:
    """One input case: float64 arrays for the tensor arguments, plus fixed keyword args."""

    args: tuple[Array, ...]
    desc: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpInfo:
    """A registered op: how to call it, its numpy reference, its samples, its node name."""

    name: str
    node_name: str
    fn: Callable[..., Any]
    ref: Callable[..., Array]
    samples: Callable[[np.random.Generator], list[Sample]]
    second_order: bool = True

    def apply(self, ns: Any, tensors: tuple[Any, ...], sample: Sample) -> Any:
        """Run the op on ``tensors`` (tapegrad's or torch's, per ``ns``)."""
        return self.fn(ns, *tensors, **sample.kwargs)


def sample_tensors(
    sample: Sample, dtype: Any = None, requires_grad: bool = True
) -> tuple[Any, ...]:
    """The sample's arrays as fresh tapegrad leaves (float64 unless ``dtype`` is given)."""
    import tapegrad

    dtype = tapegrad.float64 if dtype is None else dtype
    return tuple(tapegrad.tensor(a, dtype=dtype, requires_grad=requires_grad) for a in sample.args)


def get_op(name: str) -> OpInfo:
    """The registered op called ``name`` (KeyError listing close names otherwise)."""
    for op in OPS:
        if op.name == name:
            return op
    import difflib

    close = difflib.get_close_matches(name, [op.name for op in OPS], n=3)
    raise KeyError(
        f"no op named {name!r}" + (f"; did you mean {', '.join(close)}?" if close else "")
    )


# ============================================================================ sample makers


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.standard_normal(shape)


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Normal values pushed at least 0.2 from 0 (keeps relu/abs/clamp(0) off their kink)."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + 0.2, x - 0.2)


def _positive(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.uniform(0.5, 2.0, shape)


BROADCAST_PAIRS = [
    ((2, 3), (2, 3), "same shape"),
    ((2, 3), (3,), "row broadcast"),
    ((4, 1), (1, 3), "outer broadcast"),
    ((2, 1, 3), (4, 1), "3-d broadcast"),
    ((), (2, 3), "0-d with matrix"),
    ((1,), (), "size-1 with 0-d"),
]


def _binary_samples(
    make: Callable[..., Array], make_b: Callable[..., Array] | None = None
) -> Callable[[np.random.Generator], list[Sample]]:
    make_b = make_b or make

    def samples(rng: np.random.Generator) -> list[Sample]:
        return [Sample((make(rng, sa), make_b(rng, sb)), d) for sa, sb, d in BROADCAST_PAIRS]

    return samples


def _remainder_samples(rng: np.random.Generator) -> list[Sample]:
    """Dividends whose quotient sits mid-way between integers, so ``a % b`` is smooth there."""
    samples = []
    for shape, desc in (((2, 3), "same shape"), ((3,), "vector")):
        b = rng.uniform(1.5, 2.5, shape) * rng.choice([-1.0, 1.0], shape)
        a = b * (rng.integers(-2, 3, shape) + rng.uniform(0.25, 0.75, shape))
        samples.append(Sample((a, b), desc))
    return samples


def _unary_samples(
    make: Callable[..., Array], **kwargs: Any
) -> Callable[[np.random.Generator], list[Sample]]:
    def samples(rng: np.random.Generator) -> list[Sample]:
        shapes = [((3, 4), "matrix"), ((5,), "vector"), ((), "0-d"), ((2, 1, 3), "size-1 dim")]
        return [Sample((make(rng, s),), d, dict(kwargs)) for s, d in shapes]

    return samples


def _reduce_samples(keep: bool = True) -> Callable[[np.random.Generator], list[Sample]]:
    """Samples for ops with ``dim``/``keepdim`` keyword arguments."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        out = [
            Sample((_normal(rng, (3, 4)),), "dim=1", {"dim": 1}),
            Sample((_normal(rng, (3, 4)),), "dim=0", {"dim": 0}),
            Sample((_normal(rng, (2, 3, 4)),), "dim=-1", {"dim": -1}),
            Sample((_normal(rng, (5,)),), "vector dim=0", {"dim": 0}),
        ]
        if keep:
            out.append(
                Sample((_normal(rng, (3, 4)),), "dim=1 keepdim", {"dim": 1, "keepdim": True})
            )
        return out

    return samples


def _whole_samples(
    make: Callable[..., Array] = _normal,
) -> Callable[[np.random.Generator], list[Sample]]:
    def samples(rng: np.random.Generator) -> list[Sample]:
        return [
            Sample((make(rng, (3, 4)),), "matrix"),
            Sample((make(rng, (5,)),), "vector"),
            Sample((make(rng, ()),), "0-d"),
            Sample((make(rng, (2, 1, 3)),), "3-d"),
        ]

    return samples


def _fixed(
    *cases: tuple[tuple[tuple[int, ...], ...], str, dict[str, Any]],
    make: Callable[..., Array] = _normal,
) -> Callable[[np.random.Generator], list[Sample]]:
    """Samples with fixed shapes (one tuple of shapes per case) and keyword arguments."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        return [Sample(tuple(make(rng, s) for s in shapes), d, dict(kw)) for shapes, d, kw in cases]

    return samples


# ============================================================================ numpy references


def _np_reduce(fn: Callable[..., Array]) -> Callable[..., Array]:
    def ref(a: Array, dim: Any = None, keepdim: bool = False) -> Array:
        return fn(a, axis=dim, keepdims=keepdim)

    return ref


def _np_logsumexp(a: Array, dim: Any, keepdim: bool = False) -> Array:
    m = np.max(a, axis=dim, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


def _np_softmax(a: Array, dim: int) -> Array:
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _np_sigmoid(a: Array) -> Array:
    return 1 / (1 + np.exp(-a))


def _np_mse_loss(a: Array, b: Array, reduction: str = "mean") -> Array:
    squared = (a - b) ** 2
    return squared if reduction == "none" else getattr(squared, reduction)()


def _np_nll_loss(logp: Array, labels: Array, reduction: str) -> Array:
    picked = -logp[np.arange(len(labels)), labels]
    return picked if reduction == "none" else getattr(picked, reduction)()


def _functional(ns: Any) -> Any:
    """``tapegrad.nn.functional`` or ``torch.nn.functional``, for the module ``ns``."""
    return importlib.import_module(f"{ns.__name__}.nn.functional")


def _np_clamp(a: Array, min: float | None = None, max: float | None = None) -> Array:  # noqa: A002
    return np.clip(a, min, max)


# ============================================================================ the registry


def _op(
    name: str,
    node: str,
    fn: Callable[..., Any],
    ref: Callable[..., Array],
    samples: Callable[[np.random.Generator], list[Sample]],
    **kw: Any,
) -> OpInfo:
    return OpInfo(name, node, fn, ref, samples, **kw)


_pos = _binary_samples(_positive)

OPS: list[OpInfo] = [
    # ---- arithmetic, with broadcasting
    _op("add", "AddBackward0", lambda ns, a, b: a + b, np.add, _binary_samples(_normal)),
    _op("sub", "SubBackward0", lambda ns, a, b: a - b, np.subtract, _binary_samples(_normal)),
    _op("mul", "MulBackward0", lambda ns, a, b: a * b, np.multiply, _binary_samples(_normal)),
    _op(
        "div",
        "DivBackward0",
        lambda ns, a, b: a / b,
        np.divide,
        _binary_samples(_normal, _positive),
    ),
    _op(
        "add_scalar",
        "AddBackward0",
        lambda ns, a: a + 2.5,
        lambda a: a + 2.5,
        _unary_samples(_normal),
    ),
    _op(
        "radd_scalar",
        "AddBackward0",
        lambda ns, a: 2.5 + a,
        lambda a: 2.5 + a,
        _unary_samples(_normal),
    ),
    _op(
        "sub_scalar",
        "SubBackward0",
        lambda ns, a: a - 1.5,
        lambda a: a - 1.5,
        _unary_samples(_normal),
    ),
    _op(
        "rsub_scalar",
        "RsubBackward1",
        lambda ns, a: 1.5 - a,
        lambda a: 1.5 - a,
        _unary_samples(_normal),
    ),
    _op(
        "mul_scalar",
        "MulBackward0",
        lambda ns, a: a * 3.0,
        lambda a: a * 3.0,
        _unary_samples(_normal),
    ),
    _op(
        "rmul_scalar",
        "MulBackward0",
        lambda ns, a: 3.0 * a,
        lambda a: 3.0 * a,
        _unary_samples(_normal),
    ),
    _op(
        "div_scalar",
        "DivBackward0",
        lambda ns, a: a / 4.0,
        lambda a: a / 4.0,
        _unary_samples(_normal),
    ),
    _op(
        "rdiv_scalar",
        "MulBackward0",
        lambda ns, a: 2.0 / a,
        lambda a: 2.0 / a,
        _unary_samples(_positive),
    ),
    _op("neg", "NegBackward0", lambda ns, a: -a, np.negative, _unary_samples(_normal)),
    _op(
        "pow_scalar",
        "PowBackward0",
        lambda ns, a, p: a**p,
        lambda a, p: a**p,
        lambda rng: [
            Sample((_positive(rng, (3, 4)),), f"p={p}", {"p": p}) for p in (2, 3, 0.5, -1.5, 0)
        ],
    ),
    _op("pow_tensor", "PowBackward1", lambda ns, a, b: a**b, np.power, _pos),
    _op(
        "rpow_scalar",
        "PowBackward2",
        lambda ns, a: 2.0**a,
        lambda a: 2.0**a,
        _unary_samples(_normal),
    ),
    # ---- unary math
    _op("exp", "ExpBackward0", lambda ns, a: a.exp(), np.exp, _unary_samples(_normal)),
    _op("log", "LogBackward0", lambda ns, a: a.log(), np.log, _unary_samples(_positive)),
    _op("sqrt", "SqrtBackward0", lambda ns, a: a.sqrt(), np.sqrt, _unary_samples(_positive)),
    _op("abs", "AbsBackward0", lambda ns, a: a.abs(), np.abs, _unary_samples(_away_from_zero)),
    _op("sign", "SignBackward0", lambda ns, a: a.sign(), np.sign, _unary_samples(_away_from_zero)),
    _op(
        "reciprocal",
        "ReciprocalBackward0",
        lambda ns, a: a.reciprocal(),
        np.reciprocal,
        _unary_samples(_away_from_zero),
    ),
    _op("tanh", "TanhBackward0", lambda ns, a: a.tanh(), np.tanh, _unary_samples(_normal)),
    _op(
        "sigmoid",
        "SigmoidBackward0",
        lambda ns, a: a.sigmoid(),
        _np_sigmoid,
        _unary_samples(_normal),
    ),
    _op(
        "relu",
        "ReluBackward0",
        lambda ns, a: a.relu(),
        lambda a: np.maximum(a, 0),
        _unary_samples(_away_from_zero),
    ),
    _op(
        "clamp",
        "ClampBackward1",
        lambda ns, a, **kw: a.clamp(**kw),
        _np_clamp,
        lambda rng: [
            Sample((_away_from_zero(rng, (3, 4)),), "min=0 (the blog)", {"min": 0.0}),
            Sample((_away_from_zero(rng, (3, 4)),), "max=0", {"max": 0.0}),
            Sample((_away_from_zero(rng, (4, 5)),), "min=-0.1 max=0.1", {"min": -0.1, "max": 0.1}),
        ],
    ),
    _op(
        "maximum",
        "MaximumBackward0",
        lambda ns, a, b: ns.maximum(a, b),
        np.maximum,
        _binary_samples(_normal),
    ),
    _op(
        "minimum",
        "MinimumBackward0",
        lambda ns, a, b: ns.minimum(a, b),
        np.minimum,
        _binary_samples(_normal),
    ),
    _op(
        "where",
        "WhereBackward0",
        lambda ns, a, b: ns.where(a > 0, a, b),
        lambda a, b: np.where(a > 0, a, b),
        _binary_samples(_away_from_zero, _normal),
    ),
    # ---- reductions
    _op("sum", "SumBackward0", lambda ns, a: a.sum(), np.sum, _whole_samples()),
    _op(
        "sum_dim",
        "SumBackward1",
        lambda ns, a, **kw: a.sum(**kw),
        _np_reduce(np.sum),
        lambda rng: (
            _reduce_samples()(rng)
            + [Sample((_normal(rng, (2, 3, 4)),), "dim=(0,2)", {"dim": (0, 2)})]
        ),
    ),
    _op("mean", "MeanBackward0", lambda ns, a: a.mean(), np.mean, _whole_samples()),
    _op(
        "mean_dim",
        "MeanBackward1",
        lambda ns, a, **kw: a.mean(**kw),
        _np_reduce(np.mean),
        lambda rng: (
            _reduce_samples()(rng)
            + [
                Sample(
                    (_normal(rng, (2, 3, 4)),),
                    "dim=(1,2) keepdim",
                    {"dim": (1, 2), "keepdim": True},
                )
            ]
        ),
    ),
    _op("max", "MaxBackward1", lambda ns, a: a.max(), np.max, _whole_samples()),
    _op("min", "MinBackward1", lambda ns, a: a.min(), np.min, _whole_samples()),
    _op(
        "max_dim",
        "MaxBackward0",
        lambda ns, a, **kw: a.max(**kw)[0],
        _np_reduce(np.max),
        _reduce_samples(),
    ),
    _op(
        "min_dim",
        "MinBackward0",
        lambda ns, a, **kw: a.min(**kw)[0],
        _np_reduce(np.min),
        _reduce_samples(),
    ),
    _op(
        "logsumexp",
        "LogsumexpBackward0",
        lambda ns, a, **kw: a.logsumexp(**kw),
        _np_logsumexp,
        _reduce_samples(),
    ),
    _op(
        "softmax",
        "SoftmaxBackward0",
        lambda ns, a, dim: a.softmax(dim),
        _np_softmax,
        _reduce_samples(keep=False),
    ),
    _op(
        "log_softmax",
        "LogSoftmaxBackward0",
        lambda ns, a, dim: a.log_softmax(dim),
        lambda a, dim: np.log(_np_softmax(a, dim)),
        _reduce_samples(keep=False),
    ),
    # ---- matrix products
    _op(
        "mm",
        "MmBackward0",
        lambda ns, a, b: a.mm(b),
        np.matmul,
        _fixed((((3, 4), (4, 2)), "3x4 @ 4x2", {}), (((1, 5), (5, 1)), "row @ column", {})),
    ),
    _op(
        "remainder", "RemainderBackward1", lambda ns, a, b: a % b, np.remainder, _remainder_samples
    ),
    _op(
        "mse_loss",
        "MseLossBackward0",
        lambda ns, a, b, **kw: _functional(ns).mse_loss(a, b, **kw),
        _np_mse_loss,
        _fixed(
            (((3, 4), (3, 4)), "mean", {"reduction": "mean"}),
            (((3, 4), (3, 4)), "sum", {"reduction": "sum"}),
            (((3, 4), (3, 4)), "none", {"reduction": "none"}),
        ),
    ),
    _op(
        "nll_loss",
        "NllLossBackward0",
        lambda ns, a, **kw: _functional(ns).nll_loss(a, ns.tensor([2, 0, 3]), **kw),
        lambda a, reduction="mean": _np_nll_loss(a, np.array([2, 0, 3]), reduction),
        _fixed(
            (((3, 4),), "mean", {"reduction": "mean"}),
            (((3, 4),), "sum", {"reduction": "sum"}),
            (((3, 4),), "none", {"reduction": "none"}),
        ),
    ),
    _op(
        "addmm",
        "AddmmBackward0",
        lambda ns, c, a, b: ns.addmm(c, a, b),
        lambda c, a, b: c + a @ b,
        _fixed(
            (((4,), (3, 5), (5, 4)), "row bias (nn.Linear)", {}),
            (((1, 4), (3, 5), (5, 4)), "1xN bias", {}),
            (((3, 4), (3, 5), (5, 4)), "full bias", {}),
        ),
    ),
    _op(
        "matmul_2d",
        "MmBackward0",
        lambda ns, a, b: a @ b,
        np.matmul,
        _fixed((((4, 3), (3, 2)), "2-d @ 2-d", {})),
    ),
    _op(
        "matmul_mv",
        "MvBackward0",
        lambda ns, a, b: a @ b,
        np.matmul,
        _fixed((((4, 3), (3,)), "matrix @ vector", {})),
    ),
    _op(
        "matmul_vm",
        "SqueezeBackward4",
        lambda ns, a, b: a @ b,
        np.matmul,
        _fixed((((3,), (3, 4)), "vector @ matrix", {})),
    ),
    _op(
        "matmul_dot",
        "DotBackward0",
        lambda ns, a, b: a @ b,
        np.matmul,
        _fixed((((5,), (5,)), "vector @ vector", {})),
    ),
    _op(
        "matmul_batched",
        "UnsafeViewBackward0",
        lambda ns, a, b: a @ b,
        np.matmul,
        _fixed(
            (((2, 3, 4), (2, 4, 5)), "batched", {}),
            (((2, 3, 4), (4, 5)), "batched @ 2-d", {}),
            (((3, 1, 2, 4), (2, 4, 3)), "broadcast batch", {}),
            (((2, 3, 4), (4,)), "batched @ vector", {}),
        ),
    ),
    # ---- shape
    _op("t", "TBackward0", lambda ns, a: a.t(), np.transpose, _fixed((((3, 4),), "matrix", {}))),
    _op(
        "transpose",
        "TransposeBackward0",
        lambda ns, a, d0, d1: a.transpose(d0, d1),
        lambda a, d0, d1: np.swapaxes(a, d0, d1),
        _fixed(
            (((2, 3, 4),), "dims 0,2", {"d0": 0, "d1": 2}),
            (((3, 4),), "dims -1,-2", {"d0": -1, "d1": -2}),
        ),
    ),
    _op(
        "permute",
        "PermuteBackward0",
        lambda ns, a, dims: a.permute(*dims),
        lambda a, dims: np.transpose(a, dims),
        _fixed((((2, 3, 4),), "2,0,1", {"dims": (2, 0, 1)})),
    ),
    _op(
        "reshape",
        "ViewBackward0",
        lambda ns, a, shape: a.reshape(shape),
        lambda a, shape: np.reshape(a, shape),
        _fixed(
            (((3, 4),), "to 2x6", {"shape": (2, 6)}),
            (((3, 4),), "to -1", {"shape": (-1,)}),
            (((2, 3, 4),), "to 4,-1", {"shape": (4, -1)}),
        ),
    ),
    _op(
        "view",
        "ViewBackward0",
        lambda ns, a, shape: a.view(shape),
        lambda a, shape: np.reshape(a, shape),
        _fixed((((3, 4),), "to 12", {"shape": (12,)})),
    ),
    _op(
        "flatten",
        "ViewBackward0",
        lambda ns, a: a.flatten(),
        np.ravel,
        _fixed((((2, 3, 4),), "3-d", {})),
    ),
    _op(
        "squeeze",
        "SqueezeBackward0",
        lambda ns, a: a.squeeze(),
        np.squeeze,
        _fixed((((3, 1, 4, 1),), "two size-1 dims", {})),
    ),
    _op(
        "squeeze_dim",
        "SqueezeBackward1",
        lambda ns, a, dim: a.squeeze(dim),
        lambda a, dim: np.squeeze(a, dim),
        _fixed((((3, 1, 4),), "dim=1", {"dim": 1})),
    ),
    _op(
        "unsqueeze",
        "UnsqueezeBackward0",
        lambda ns, a, dim: a.unsqueeze(dim),
        lambda a, dim: np.expand_dims(a, dim),
        _fixed((((3, 4),), "dim=1", {"dim": 1}), (((3, 4),), "dim=-1", {"dim": -1})),
    ),
    _op(
        "expand",
        "ExpandBackward0",
        lambda ns, a, shape: a.expand(*shape),
        lambda a, shape: np.broadcast_to(
            a, [s if s != -1 else a.shape[i - len(shape) + a.ndim] for i, s in enumerate(shape)]
        ),
        _fixed(
            (((3, 1),), "3x1 to 3x4", {"shape": (3, 4)}),
            (((1, 4),), "new leading dim", {"shape": (2, 3, 4)}),
            (((3, 1),), "-1 keeps", {"shape": (-1, 5)}),
        ),
    ),
    _op(
        "cat",
        "CatBackward0",
        lambda ns, a, b, dim: ns.cat([a, b], dim),
        lambda a, b, dim: np.concatenate([a, b], dim),
        _fixed((((2, 3), (4, 3)), "dim=0", {"dim": 0}), (((2, 3), (2, 1)), "dim=1", {"dim": 1})),
    ),
    _op(
        "stack",
        "StackBackward0",
        lambda ns, a, b, dim: ns.stack([a, b], dim),
        lambda a, b, dim: np.stack([a, b], dim),
        _fixed((((2, 3), (2, 3)), "dim=0", {"dim": 0}), (((2, 3), (2, 3)), "dim=-1", {"dim": -1})),
    ),
    _op("clone", "CloneBackward0", lambda ns, a: a.clone(), np.copy, _whole_samples()),
    # ---- indexing
    _op(
        "select",
        "SelectBackward0",
        lambda ns, a, i: a[i],
        lambda a, i: a[i],
        _fixed(
            (((3, 4),), "a[1]", {"i": 1}),
            (((3, 4),), "a[-1]", {"i": -1}),
            (((3, 4),), "a[:, 2]", {"i": (slice(None), 2)}),
            (((2, 3, 4),), "a[..., 1]", {"i": (Ellipsis, 1)}),
        ),
    ),
    _op(
        "slice",
        "SliceBackward0",
        lambda ns, a, i: a[i],
        lambda a, i: a[i],
        _fixed(
            (((5, 4),), "a[1:4]", {"i": slice(1, 4)}),
            (((5, 4),), "a[:, ::2]", {"i": (slice(None), slice(None, None, 2))}),
            (((5, 4),), "a[-3:]", {"i": slice(-3, None)}),
        ),
    ),
    _op(
        "index_none",
        "UnsqueezeBackward0",
        lambda ns, a, i: a[i],
        lambda a, i: a[i],
        _fixed(
            (((4, 3),), "a[:, 0, None] (the blog)", {"i": (slice(None), 0, None)}),
            (((4, 3),), "a[None]", {"i": None}),
        ),
    ),
    _op(
        "index_array",
        "IndexBackward0",
        lambda ns, a, i: a[i],
        lambda a, i: a[i],
        _fixed(
            (((5, 3),), "a[[0, 2, 4]]", {"i": [0, 2, 4]}),
            (((5, 3),), "repeated a[[1, 1, 3]]", {"i": [1, 1, 3]}),
            (((5, 3),), "a[[0, 1], [2, 0]]", {"i": ([0, 1], [2, 0])}),
        ),
    ),
    _op(
        "index_mask",
        "IndexBackward0",
        lambda ns, a, m: a[m],
        lambda a, m: a[m],
        _fixed(
            (
                ((4, 3),),
                "a[mask]",
                {"m": np.array([[True, False, True]] * 2 + [[False, True, False]] * 2)},
            )
        ),
    ),
]

# torch needs its own tensor for a boolean mask argument (numpy bool arrays are not accepted)
# and tuples of lists as advanced indices; the tests convert ``kwargs`` with this helper.


def torch_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments with numpy arrays turned into torch tensors (for the oracle)."""
    import torch

    def convert(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v)
        if isinstance(v, tuple):
            return tuple(convert(x) for x in v)
        return v

    return {k: convert(v) for k, v in kwargs.items()}
