"""Matrix products: mm, addmm (and linear's folded form), dot and matmul with torch's rules
for 1-D, 2-D and batched operands."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import broadcast_error, shape_str
from tapegrad._dtypes import _scalar_type_name, _torch_dtype_name
from tapegrad.engine.backward import run_folded
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.ops.shape import T
from tapegrad.promotion import _as_tensor, _tensor_arg
from tapegrad.recording import _anomaly_state, _finish, _grad_state, _record, _run_op
from tapegrad.tensor import Tensor


def _mm(a: Any, b: Any) -> Any:
    """``a @ b`` of two matrices. On arrays: ``ndarray.dot``, the same BLAS call with less
    overhead than the matmul ufunc (0.6 us a call, bit-identical results; the method also
    skips ``np.dot``'s dispatch through ``__array_function__``, 0.2 us); with an inner
    dimension of 1 (the gradient flowing into a layer of width 1), a broadcast multiply,
    which numpy does 2-4x faster than BLAS."""
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return a * b if a.shape[1] == 1 else a.dot(b)
    return a @ b


# -------------------------------------------------------------------------- ops


class Mm(Op):
    __slots__ = ()
    node_name = "MmBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.dot(b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (
            _mm(g, b.mT) if na is not None else None,
            _mm(a.mT, g) if nb is not None else None,
        )


class Addmm(Op):
    """``bias + a @ b`` as one node: what ``nn.Linear`` records (PyTorch's name, too)."""

    __slots__ = ()
    node_name = "AddmmBackward0"
    saves = (1, 2)
    saved_only_for = {1: 2, 2: 1}

    def forward(self, bias: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a.dot(b)
        out += bias  # NOTE: into the fresh product, so no second full-size temporary
        return out

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (nbias, ibias), (na, _), (nb, _) = self._edges
        return (
            # reduced here rather than by the engine (the same sum): one step less per layer
            xp.sum_to(g, nbias._meta(ibias)[0]) if nbias is not None else None,
            _mm(g, b.mT) if na is not None else None,
            _mm(a.mT, g) if nb is not None else None,
        )


class ScaledAddmm(Addmm):
    """``beta * bias + alpha * (a @ b)`` (``addmm(..., beta=, alpha=)``); with ``beta=0``
    the bias is ignored, its NaN and inf included, as torch."""

    __slots__ = ("beta", "alpha")

    def __init__(self, beta: float, alpha: float) -> None:
        self.beta, self.alpha = beta, alpha

    def forward(self, bias: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a.dot(b)
        out *= self.alpha
        if self.beta:
            out += self.beta * bias
        return out

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        grad_bias, grad_a, grad_b = super().backward(xp, g, a, b)
        return (
            None if grad_bias is None else grad_bias * self.beta,
            None if grad_a is None else grad_a * self.alpha,
            None if grad_b is None else grad_b * self.alpha,
        )


class LinearAddmm(Addmm):
    """The Addmm that ``F.linear`` records, with the weight's transpose folded in.

    torch records ``AddmmBackward0`` over ``TBackward0`` over the weight. Here the walked edge
    goes to the weight itself, and backward transposes the weight's gradient: one node fewer
    to record and to run per layer (about 4 us, a seventh of a narrow layer's cost).
    ``next_functions`` still shows the ``TBackward0`` node (made on first look), and hooks
    registered on it run as the engine would run them.
    """

    __slots__ = ()
    _t_node: T | None = None  # set (in the instance dict) once someone looks

    @property
    def next_functions(self) -> tuple[Any, ...]:
        """As torch shows them: the weight's edge goes through a ``TBackward0`` node."""
        bias_edge, input_edge, weight_edge = self._edges
        if weight_edge[0] is None:
            return self._edges
        if self._t_node is None:
            t_node = T()
            t_node._edges = (weight_edge,)
            weight_shape, dtype = weight_edge[0]._meta(weight_edge[1])
            t_node._shape, t_node._dtype = weight_shape[::-1], dtype
            self._t_node = t_node
        return bias_edge, input_edge, (self._t_node, 0)

    # ``backward`` is Addmm's: the gradients for ``next_functions`` (mat2 is ``weight.t()``).

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        return self._refold(super()._run(grad, create_graph), create_graph)

    def _run_once(self, grad: Any) -> tuple[Any, ...]:
        return self._refold(super()._run_once(grad), False)

    def _run_unfolded(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        return super()._run(grad, create_graph)

    def _refold(self, outputs: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
        """Run the folded ``TBackward0`` on the gradient for ``weight.t()``."""
        grad_bias, grad_input, grad_weight_t = outputs
        if grad_weight_t is None:
            return outputs
        t_node = self._t_node
        if t_node is None or (t_node._pre_hooks is None and t_node._post_hooks is None):
            return grad_bias, grad_input, grad_weight_t.T  # what TBackward0 computes
        return grad_bias, grad_input, run_folded(t_node, grad_weight_t, create_graph)

    def _saved_tensor(self, pos: int, value: Any) -> Any:
        if pos != 2 or value is None:
            return super()._saved_tensor(pos, value)
        # the weight joins the recorded graph, transposed as torch's saved ``weight.t()``
        return super()._saved_tensor(pos, value.T).t()


class Dot(Op):
    """1-D @ 1-D."""

    __slots__ = ()
    node_name = "DotBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.dot(b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        return (None if b is None else g * b, None if a is None else g * a)


class Matmul(Op):
    """Every other matmul form (matrix-vector, batched). One node where PyTorch records a
    short chain; it carries the name of PyTorch's top node for the same call."""

    node_name = "UnsafeViewBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = (a.shape, b.shape)
        if a.ndim == 2 and b.ndim == 1:
            self.node_name = "MvBackward0"
        elif a.ndim == 1:
            self.node_name = "SqueezeBackward4" if b.ndim == 2 else "UnsafeViewBackward0"
        return np.matmul(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        # Promote 1-D operands to matrices (as matmul does), then undo it on the gradients.
        a_shape, b_shape = self.shapes
        a2_shape = (1,) + a_shape if len(a_shape) == 1 else a_shape
        b2_shape = b_shape + (1,) if len(b_shape) == 1 else b_shape
        g_shape = g.shape
        if len(a_shape) == 1:
            g_shape = g_shape[:-1] + (1,) + g_shape[-1:]
        if len(b_shape) == 1:
            g_shape = g_shape + (1,)
        g2 = xp.reshape(g, g_shape)
        ga = gb = None
        if b is not None:
            ga = xp.reshape(xp.sum_to(g2 @ xp.reshape(b, b2_shape).mT, a2_shape), a_shape)
        if a is not None:
            gb = xp.reshape(xp.sum_to(xp.reshape(a, a2_shape).mT @ g2, b2_shape), b_shape)
        return ga, gb


# ------------------------------------------------- Tensor methods and functions


@declare(
    tests=[
        OpInfo(
            "mm",
            "MmBackward0",
            lambda ns, a, b: a.mm(b),
            np.matmul,
            fixed((((3, 4), (4, 2)), "3x4 @ 4x2", {}), (((1, 5), (5, 1)), "row @ column", {})),
        ),
    ]
)
def mm(self, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors."""
    a, b = self, mat2 if type(mat2) is Tensor else _as_tensor(mat2)
    ad, bd = a._data, b._data
    sa, sb = ad.shape, bd.shape
    if len(sa) != 2 or len(sb) != 2:
        bad = "self" if len(sa) != 2 else "mat2"
        raise RuntimeError(f"{bad} must be a matrix")
    if sa[1] != sb[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({sa[0]}x{sa[1]} and {sb[0]}x{sb[1]})"
        )
    if ad.dtype is not bd.dtype or ad.dtype.kind != "f":  # the checks, for the rare cases
        a, b = _same_dtype(a, b, "mm")
        _refuse_bool_product(a, b)
    op = Mm()
    return _finish(op, (a, b), (ad, bd), op.forward(ad, bd))


@declare(
    tests=[
        OpInfo(
            "addmm",
            "AddmmBackward0",
            lambda ns, c, a, b: ns.addmm(c, a, b),
            lambda c, a, b: c + a @ b,
            fixed(
                (((4,), (3, 5), (5, 4)), "row bias (nn.Linear)", {}),
                (((1, 4), (3, 5), (5, 4)), "1xN bias", {}),
                (((3, 4), (3, 5), (5, 4)), "full bias", {}),
            ),
        ),
    ]
)
def addmm(self, mat1: Tensor, mat2: Tensor, beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * self + alpha * (mat1 @ mat2)`` (self broadcast to the product's shape), in
    one node."""
    a = mat1 if isinstance(mat1, Tensor) else _as_tensor(mat1)
    b = mat2 if isinstance(mat2, Tensor) else _as_tensor(mat2)
    bias = self
    ad, bd = a._data, b._data
    if ad.ndim != 2 or bd.ndim != 2 or ad.shape[1] != bd.shape[0]:
        a.mm(b)  # raises mm's own message
    if bias._data.ndim > 2:
        _addmm_shape_error(self, (ad.shape[0], bd.shape[1]))
    if not bias._data.dtype == ad.dtype == bd.dtype:
        _addmm_dtype_error(bias._data.dtype, ad.dtype, bd.dtype)
    _refuse_bool_product(a, b)
    op = Addmm() if beta == 1 and alpha == 1 else ScaledAddmm(beta, alpha)
    try:
        out = op.forward(bias._data, a._data, b._data)
    except ValueError:  # the bias does not broadcast to the product
        _addmm_shape_error(self, (ad.shape[0], bd.shape[1]))
    return _finish(op, (bias, a, b), (bias._data, a._data, b._data), out)


def _addmm_shape_error(self, product: tuple[int, int]) -> None:
    raise RuntimeError(
        f"The expanded size of the tensor must match the product: self of shape "
        f"{shape_str(self.shape)} can't be broadcast to {shape_str(product)}"
    )


@declare(
    aliases=("__matmul__",),
    tests=[
        OpInfo(
            "matmul_2d",
            "MmBackward0",
            lambda ns, a, b: a @ b,
            np.matmul,
            fixed((((4, 3), (3, 2)), "2-d @ 2-d", {})),
        ),
        OpInfo(
            "matmul_mv",
            "MvBackward0",
            lambda ns, a, b: a @ b,
            np.matmul,
            fixed((((4, 3), (3,)), "matrix @ vector", {})),
        ),
        OpInfo(
            "matmul_vm",
            "SqueezeBackward4",
            lambda ns, a, b: a @ b,
            np.matmul,
            fixed((((3,), (3, 4)), "vector @ matrix", {})),
        ),
        OpInfo(
            "matmul_dot",
            "DotBackward0",
            lambda ns, a, b: a @ b,
            np.matmul,
            fixed((((5,), (5,)), "vector @ vector", {})),
        ),
        OpInfo(
            "matmul_batched",
            "UnsafeViewBackward0",
            lambda ns, a, b: a @ b,
            np.matmul,
            fixed(
                (((2, 3, 4), (2, 4, 5)), "batched", {}),
                (((2, 3, 4), (4, 5)), "batched @ 2-d", {}),
                (((3, 1, 2, 4), (2, 4, 3)), "broadcast batch", {}),
                (((2, 3, 4), (4,)), "batched @ vector", {}),
            ),
        ),
    ],
)
def matmul(self, other: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D, 2-D and batched operands."""
    a, b = self, _as_tensor(other)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    if a.ndim == 2 and b.ndim == 2:
        return a.mm(b)
    _check_matmul(a.shape, b.shape)
    a, b = _same_dtype(a, b, "matmul")
    _refuse_bool_product(a, b)
    if a.ndim == 1 and b.ndim == 1:
        return _run_op(Dot(), (a, b), (a._data, b._data))
    return _run_op(Matmul(), (a, b), (a._data, b._data))


@declare(function=False)
def __rmatmul__(self, other: Any) -> Tensor:
    return _as_tensor(other).matmul(self)


@declare()
def dot(self, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors."""
    if self.ndim != 1 or _as_tensor(other).ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {self.ndim}D and {_as_tensor(other).ndim}D tensors"
        )
    return self.matmul(other)


@declare(functional=True)
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    input = _tensor_arg(input, "input", "linear")  # noqa: A001
    weight = _tensor_arg(weight, "weight", "linear")
    if isinstance(bias, Tensor) and input.ndim == 2:
        return _linear(bias, input, weight)  # AddmmBackward0 over TBackward0, as torch
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def _linear(self: Tensor, input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """``self.addmm(input, weight.t())``: what ``F.linear`` records for a 2-D input, with
    the transpose folded into the Addmm node (``LinearAddmm``) when that is exact: same
    dtypes and shapes, and no anomaly trace to keep for the ``TBackward0`` node."""
    bias, x, w = self._data, input._data, weight._data
    if (
        weight._requires_grad
        and _grad_state.enabled
        and not _anomaly_state.enabled
        and x.ndim == w.ndim == 2
        and x.shape[1] == w.shape[1]
        and bias.ndim <= 2
        and bias.dtype == x.dtype == w.dtype
    ):
        op, w_t = LinearAddmm(), w.T
        try:
            out = op.forward(bias, x, w_t)
        except ValueError:
            pass  # a bias that does not broadcast: addmm below raises torch's message
        else:
            return _record(op, (self, input, weight), (bias, x, w_t), out)
    return self.addmm(input, weight.t())


# -------------------------------------------------------------- argument checks


def _same_dtype(a: Tensor, b: Tensor, name: str) -> tuple[Tensor, Tensor]:
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: "
            f"{_torch_dtype_name(a._data.dtype)} != {_torch_dtype_name(b._data.dtype)}"
        )
    return a, b


def _addmm_dtype_error(bias: np.dtype, mat1: np.dtype, mat2: np.dtype) -> None:
    """torch's addmm (and so linear) never promotes: its error, in its order of checks."""
    first, name = (bias, "self") if bias != mat2 else (mat1, "mat1")
    raise RuntimeError(
        f"{name} and mat2 must have the same dtype, but got {_scalar_type_name(first)} and "
        f"{_scalar_type_name(mat2)}"
    )


def _refuse_bool_product(a: Tensor, b: Tensor) -> None:
    """torch multiplies integer matrices but not bool ones; its message names the kernel the
    operand shapes lead to."""
    if a._data.dtype != np.bool_:
        return
    if b.ndim == 2:
        kernel = "addmm_impl_cpu_"
    elif b.ndim == 1:
        kernel = "dot" if a.ndim == 1 else "addmv_impl_cpu"
    else:
        kernel = "bmm"
    raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _check_matmul(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    if len(sa) == 1 and len(sb) == 1:
        if sa != sb:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have "
                f"the same number of elements, but got {sa[0]} and {sb[0]} elements respectively"
            )
        return
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        rows = int(np.prod(sa[:-1])) if len(sa) > 1 else 1
        cols = sb[-1] if len(sb) > 1 else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{k_a} and {k_b}x{cols})"
        )
    batch_a, batch_b = sa[:-2], sb[:-2]
    if broadcast_error(batch_a, batch_b) is not None:
        raise RuntimeError(
            f"The size of tensor a ({shape_str(batch_a)}) must match the size of tensor b "
            f"({shape_str(batch_b)}) in matmul's batch dimensions"
        )
