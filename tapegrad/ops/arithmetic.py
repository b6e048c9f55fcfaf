"""Addition, subtraction, multiplication and negation: operators, named, reflected and
in-place forms.

Backward rules return gradients at the broadcast output shape; the engine sums them down to
each input's shape.
"""

from __future__ import annotations

import builtins
import functools
from typing import Any

import numpy as np

from tapegrad._array import wrapped_int
from tapegrad._dtypes import _FLOAT_KIND
from tapegrad.inplace import _inplace, _recorded_inplace
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, binary_samples, normal, unary_samples
from tapegrad.promotion import _SCALARS, _binary, _operand, _promote_scalar
from tapegrad.recording import _finish, _grad_state, _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class Add(Op):
    __slots__ = ()
    node_name = "AddBackward0"

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a + b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, g


class Sub(Op):
    __slots__ = ()
    node_name = "SubBackward0"

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a - b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, (-g if self._edges[1][0] is not None else None)


class AddScaled(Add):
    """``a + alpha * b`` (``add(..., alpha=)``): one AddBackward0 node, as torch."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: Any) -> None:
        self.alpha = alpha

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a + self.alpha * b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, (g * self.alpha if self._edges[1][0] is not None else None)


class SubScaled(Sub):
    """``a - alpha * b`` (``sub(..., alpha=)``): one SubBackward0 node, as torch."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: Any) -> None:
        self.alpha = alpha

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a - self.alpha * b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, (g * -self.alpha if self._edges[1][0] is not None else None)


class Rsub(Op):
    """``scalar - tensor``."""

    node_name = "RsubBackward1"

    def forward(self, a: np.ndarray, other: Any) -> np.ndarray:
        try:
            return other - a
        except OverflowError:
            return wrapped_int(other, a.dtype) - a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (-g,)


class Mul(Op):
    __slots__ = ()
    node_name = "MulBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a * b

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (g * b if na is not None else None, g * a if nb is not None else None)


class Neg(Op):
    __slots__ = ()
    node_name = "NegBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (-g,)


# ------------------------------------------------- Tensor methods and functions


@declare(
    tests=[
        OpInfo("add", "AddBackward0", lambda ns, a, b: a + b, np.add, binary_samples(normal)),
    ]
)
def add(self, other: Any, alpha: float = 1) -> Tensor:
    """``self + alpha * other``."""
    if alpha == 1:
        return _binary(Add, self, other)
    return _binary(functools.partial(AddScaled, _checked_alpha(alpha, self, other)), self, other)


@declare(
    tests=[
        OpInfo("sub", "SubBackward0", lambda ns, a, b: a - b, np.subtract, binary_samples(normal)),
    ]
)
def sub(self, other: Any, alpha: float = 1) -> Tensor:
    """``self - alpha * other``."""
    _check_bool_sub(self, other)
    if alpha == 1:
        return _binary(Sub, self, other)
    return _binary(functools.partial(SubScaled, _checked_alpha(alpha, self, other)), self, other)


@declare(
    tests=[
        OpInfo("mul", "MulBackward0", lambda ns, a, b: a * b, np.multiply, binary_samples(normal)),
    ]
)
def mul(self, other: Any) -> Tensor:
    """Elementwise product."""
    return _binary(Mul, self, other)


@declare(
    function=False,
    tests=[
        OpInfo(
            "add_scalar",
            "AddBackward0",
            lambda ns, a: a + 2.5,
            lambda a: a + 2.5,
            unary_samples(normal),
        ),
    ],
)
def __add__(self, other: Any) -> Tensor:
    return _binary(Add, self, other)


@declare(
    function=False,
    tests=[
        OpInfo(
            "radd_scalar",
            "AddBackward0",
            lambda ns, a: 2.5 + a,
            lambda a: 2.5 + a,
            unary_samples(normal),
        ),
    ],
)
def __radd__(self, other: Any) -> Tensor:
    # commutative: with a Python number torch records (self, number), no reflection
    return _binary(Add, self, other, reflected=not isinstance(other, _SCALARS))


@declare(
    function=False,
    tests=[
        OpInfo(
            "sub_scalar",
            "SubBackward0",
            lambda ns, a: a - 1.5,
            lambda a: a - 1.5,
            unary_samples(normal),
        ),
    ],
)
def __sub__(self, other: Any) -> Tensor:
    _check_bool_sub(self, other)
    return _binary(Sub, self, other)


@declare(
    function=False,
    tests=[
        OpInfo(
            "rsub_scalar",
            "RsubBackward1",
            lambda ns, a: 1.5 - a,
            lambda a: 1.5 - a,
            unary_samples(normal),
        ),
    ],
)
def __rsub__(self, other: Any) -> Tensor:
    _check_bool_sub(self, other)
    if isinstance(other, _SCALARS):
        return _run_op(Rsub(), (self,), (_promote_scalar(self, other)._data,), other=other)
    return _binary(Sub, self, other, reflected=True)


@declare(
    function=False,
    tests=[
        OpInfo(
            "mul_scalar",
            "MulBackward0",
            lambda ns, a: a * 3.0,
            lambda a: a * 3.0,
            unary_samples(normal),
        ),
    ],
)
def __mul__(self, other: Any) -> Tensor:
    return _binary(Mul, self, other)


@declare(
    function=False,
    tests=[
        OpInfo(
            "rmul_scalar",
            "MulBackward0",
            lambda ns, a: 3.0 * a,
            lambda a: 3.0 * a,
            unary_samples(normal),
        ),
    ],
)
def __rmul__(self, other: Any) -> Tensor:
    if type(other) is float and not (self._requires_grad and _grad_state.enabled):
        return _unrecorded_scale(self, other)  # the optimizer's ``lr * p.grad``
    return _binary(Mul, self, other, reflected=not isinstance(other, _SCALARS))


def _unrecorded_scale(t: Tensor, factor: float) -> Tensor:
    """``t * factor`` when nothing records it: what ``_binary(Mul, t, factor)`` computes (the
    same multiply, in the same order), without its dispatch."""
    data = t._data
    if data.dtype.kind != _FLOAT_KIND:
        return _binary(Mul, t, factor)
    return _finish(Mul(), (t, factor), (data, factor), data * factor)


@declare(function=False)
def __pos__(self) -> Tensor:
    return self


@declare(
    aliases=("__neg__",),
    tests=[
        OpInfo("neg", "NegBackward0", lambda ns, a: -a, np.negative, unary_samples(normal)),
    ],
)
def neg(self) -> Tensor:
    """``-self``."""
    if self._data.dtype == np.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
            "to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _run_op(Neg(), (self,), (self._data,))


@declare(function=False, aliases=("__iadd__",))
def add_(self, other: Any, alpha: float = 1) -> Tensor:
    """In-place ``self += alpha * other``."""
    if alpha == 1:
        return _inplace(self, np.add, Tensor.add, other)
    if _recorded_inplace(self, other):
        return _inplace(self, np.add, functools.partial(Tensor.add, alpha=alpha), other)
    return _inplace(self, np.add, Tensor.add, _scaled(other, alpha))


# ``_inplace`` as imported, out of reach of the swap ``tapegrad.replay`` makes while it
# records a step (it replaces module attributes holding the function, not tuple items)
_EAGER_INPLACE = (_inplace,)


@declare(function=False, aliases=("__isub__",))
def sub_(self, other: Any, alpha: float = 1) -> Tensor:
    """In-place ``self -= alpha * other`` (the blog's weight update)."""
    if (
        alpha == 1
        and not _grad_state.enabled
        and type(other) is Tensor
        and _inplace is _EAGER_INPLACE[0]  # not while ``tapegrad.compile`` records a step
    ):
        data, other_data = self._data, other._data
        # ``_inplace``'s work when nothing records (no view checks needed then): under
        # no_grad, ``p.sub_(lr * p.grad)`` for every parameter of every step
        if (
            data.dtype is other_data.dtype
            and data.shape == other_data.shape
            and data.flags.writeable
        ):
            np.subtract(data, other_data, data)
            self._vc[0] += 1
            return self
    if alpha == 1:
        return _inplace(self, np.subtract, Tensor.sub, other)
    if _recorded_inplace(self, other):
        return _inplace(self, np.subtract, functools.partial(Tensor.sub, alpha=alpha), other)
    return _inplace(self, np.subtract, Tensor.sub, _scaled(other, alpha))


@declare(function=False, aliases=("__imul__",))
def mul_(self, other: Any) -> Tensor:
    """In-place ``self *= other``."""
    return _inplace(self, np.multiply, Tensor.mul, other)


# -------------------------------------------------------------- argument checks


def _check_bool_sub(a: Tensor, other: Any) -> None:
    """torch refuses subtraction with a bool operand (and says what to use instead)."""
    a_bool = a._data.dtype == np.bool_
    b_bool = type(other) is builtins.bool or (
        isinstance(other, Tensor) and other._data.dtype == np.bool_
    )
    if a_bool and b_bool:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead."
        )
    if a_bool or b_bool:
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )


def _checked_alpha(alpha: Any, a: Tensor, other: Any) -> Any:
    """``alpha`` checked as torch checks it: no float scale for integer inputs."""
    if not isinstance(alpha, float) or a._data.dtype.kind not in "iub":
        return alpha
    other_is_int = (
        other._data.dtype.kind in "iub" if isinstance(other, Tensor) else type(other) is not float
    )
    if other_is_int:
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )
    return alpha


def _scaled(other: Any, alpha: Any) -> Any:
    """``other * alpha`` for ``add_``/``sub_``: a plain array when nothing needs recording
    (the optimizer's update), a recorded product otherwise."""
    if (
        isinstance(other, Tensor)
        and (type(alpha) is float or type(alpha) is int)
        and other._data.dtype.kind == _FLOAT_KIND
        and not (other._requires_grad and _grad_state.enabled)
    ):
        return other._data * alpha
    return _operand(other) * alpha
