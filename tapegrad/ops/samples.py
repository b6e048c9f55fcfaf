"""What the op registry is made of: sample inputs and registry entries (``OpInfo``).

Each op family declares its entries beside its ops (``declare(tests=...)``); the tests and
``tapegrad gradcheck`` read them through ``tapegrad.testing.opinfo``. An entry's
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


def normal(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.standard_normal(shape)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Normal values pushed at least 0.2 from 0 (keeps relu/abs/clamp(0) off their kink)."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + 0.2, x - 0.2)


def positive(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.uniform(0.5, 2.0, shape)


BROADCAST_PAIRS = [
    ((2, 3), (2, 3), "same shape"),
    ((2, 3), (3,), "row broadcast"),
    ((4, 1), (1, 3), "outer broadcast"),
    ((2, 1, 3), (4, 1), "3-d broadcast"),
    ((), (2, 3), "0-d with matrix"),
    ((1,), (), "size-1 with 0-d"),
]


def binary_samples(
    make: Callable[..., Array], make_b: Callable[..., Array] | None = None
) -> Callable[[np.random.Generator], list[Sample]]:
    make_b = make_b or make

    def samples(rng: np.random.Generator) -> list[Sample]:
        return [Sample((make(rng, sa), make_b(rng, sb)), d) for sa, sb, d in BROADCAST_PAIRS]

    return samples


def unary_samples(
    make: Callable[..., Array], **kwargs: Any
) -> Callable[[np.random.Generator], list[Sample]]:
    def samples(rng: np.random.Generator) -> list[Sample]:
        shapes = [((3, 4), "matrix"), ((5,), "vector"), ((), "0-d"), ((2, 1, 3), "size-1 dim")]
        return [Sample((make(rng, s),), d, dict(kwargs)) for s, d in shapes]

    return samples


def reduce_samples(keep: bool = True) -> Callable[[np.random.Generator], list[Sample]]:
    """Samples for ops with ``dim``/``keepdim`` keyword arguments."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        out = [
            Sample((normal(rng, (3, 4)),), "dim=1", {"dim": 1}),
            Sample((normal(rng, (3, 4)),), "dim=0", {"dim": 0}),
            Sample((normal(rng, (2, 3, 4)),), "dim=-1", {"dim": -1}),
            Sample((normal(rng, (5,)),), "vector dim=0", {"dim": 0}),
        ]
        if keep:
            out.append(Sample((normal(rng, (3, 4)),), "dim=1 keepdim", {"dim": 1, "keepdim": True}))
        return out

    return samples


def whole_samples(
    make: Callable[..., Array] = normal,
) -> Callable[[np.random.Generator], list[Sample]]:
    def samples(rng: np.random.Generator) -> list[Sample]:
        return [
            Sample((make(rng, (3, 4)),), "matrix"),
            Sample((make(rng, (5,)),), "vector"),
            Sample((make(rng, ()),), "0-d"),
            Sample((make(rng, (2, 1, 3)),), "3-d"),
        ]

    return samples


def fixed(
    *cases: tuple[tuple[tuple[int, ...], ...], str, dict[str, Any]],
    make: Callable[..., Array] = normal,
) -> Callable[[np.random.Generator], list[Sample]]:
    """Samples with fixed shapes (one tuple of shapes per case) and keyword arguments."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        return [Sample(tuple(make(rng, s) for s in shapes), d, dict(kw)) for shapes, d, kw in cases]

    return samples


def np_reduce(fn: Callable[..., Array]) -> Callable[..., Array]:
    def ref(a: Array, dim: Any = None, keepdim: bool = False) -> Array:
        return fn(a, axis=dim, keepdims=keepdim)

    return ref


def functional(ns: Any) -> Any:
    """``tapegrad.nn.functional`` or ``torch.nn.functional``, for the module ``ns``."""
    return importlib.import_module(f"{ns.__name__}.nn.functional")
