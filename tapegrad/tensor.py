"""Tensor: a numpy array plus what autograd needs (requires_grad, grad, grad_fn, version).

Every differentiable method runs one primitive op from ``tapegrad.ops`` through ``_run_op``,
which records a node when grad mode is on and some input requires grad.
"""

from __future__ import annotations

import builtins
import copy
import functools
import numbers
import operator
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import (
    broadcast_error,
    floor_divide,
    normalize_dim,
    normalize_dims,
    shape_str,
    wrapped_int,
)
from tapegrad._printing import format_tensor
from tapegrad.autograd import anomaly, grad_mode
from tapegrad.autograd.engine import run_backward
from tapegrad.autograd.function import AccumulateGrad, Node, _RemovableHandle, op_name
from tapegrad.ops import elementwise as E
from tapegrad.ops import linalg as L
from tapegrad.ops import reduce as R
from tapegrad.ops import shape as S
from tapegrad.ops.base import OUT, Op, register_tensor_namespace

_grad_state = grad_mode._state
_anomaly_state = anomaly._state
_NO_EDGE = (None, 0)
_SCALARS = (int, float, bool)
# torch words its requires_grad errors by the call: factories, the setter, requires_grad_()
FLOAT_OR_COMPLEX_ONLY = "Only Tensors of floating point and complex dtype can require gradients"
SETTER_FLOAT_OR_COMPLEX_ONLY = (
    "only Tensors of floating point and complex dtype can require gradients"
)
FLOAT_ONLY = "only Tensors of floating point dtype can require gradients"
NO_GRAD_VIEW_INPLACE = (
    "and is being modified inplace with grad mode enabled. "
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify "
    "your code by moving both the view and the inplace either both inside the no_grad block "
    "(if you don't want the inplace to be tracked) or both outside (if you want the inplace "
    "to be tracked)."
)
NON_LEAF_REQUIRES_GRAD = "you can only change requires_grad flags of leaf variables."
NON_LEAF_NO_GRAD = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = "
    "var.detach()."
)
_FLOAT_KIND = "f"
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes defined in Python, named without module

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
DEEPCOPY_NON_LEAF = (
    "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at "
    "the moment. Use t.detach().clone() to copy a computed tensor."
)
# What autograd keeps in a tensor's __dict__: never copied or pickled (user attributes are).
_AUTOGRAD_ATTRIBUTES = frozenset({"_grad", "_acc", "_hooks", "_retains_grad", "_is_view", "_views"})


class Tensor:
    """An n-dimensional array that can record the operations applied to it."""

    # Hot fields are slots; rarely set ones (grad, hooks, accumulator...) are class defaults
    # shadowed in a lazily created __dict__, so making a tensor sets only five fields.
    __slots__ = (
        "_data",
        "_requires_grad",
        "grad_fn",
        "_output_nr",
        "_vc",
        "__dict__",
        "__weakref__",
    )
    _grad: Tensor | None = None
    _acc: AccumulateGrad | None = None  # kept for the leaf's life (it refers back weakly)
    _hooks: list[Any] | None = None
    _retains_grad = False
    _is_view = False
    # a view of a tensor that requires grad, made under no_grad (True; or the name of the op
    # that made a view of such a view): torch forbids changing it in place with grad mode on
    _no_grad_view_of_grad: bool | str = False
    __array_priority__ = 1000
    __array_ufunc__ = None  # numpy defers to our reflected operators (ndarray * Tensor)

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self._data = _to_array(data, dtype)
        self._requires_grad = False
        self.grad_fn = None
        self._output_nr = 0
        self._vc = [0]
        if requires_grad:
            self._set_requires_grad(True, FLOAT_OR_COMPLEX_ONLY)

    # ------------------------------------------------------------------ attributes

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension."""
        return self._data.shape

    @property
    def dtype(self) -> _dtypes.dtype:
        """The element type, e.g. ``tapegrad.float32``."""
        return _dtypes._BY_NP[self._data.dtype]

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the size of one dimension."""
        if dim is None:
            return self._data.shape
        if not self.ndim:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return self._data.shape[normalize_dim(dim, self.ndim)]

    def dim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    def numel(self) -> int:
        """Number of elements."""
        return self._data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation."""
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to (or through) this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, builtins.bool):
            raise RuntimeError("requires_grad must be a bool")
        self._set_requires_grad(value, SETTER_FLOAT_OR_COMPLEX_ONLY)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self (a no-op on a non-leaf asked for
        True, as torch)."""
        if not (requires_grad and self.grad_fn is not None):
            self._set_requires_grad(requires_grad, FLOAT_ONLY)
        return self

    def _set_requires_grad(self, value: bool, dtype_message: str) -> None:
        """torch's checks, each with the wording of the call that reached it."""
        if self.grad_fn is not None:
            raise RuntimeError(NON_LEAF_REQUIRES_GRAD if value else NON_LEAF_NO_GRAD)
        if value and self._data.dtype.kind != _FLOAT_KIND:
            raise RuntimeError(dtype_message)
        self._requires_grad = bool(value)

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (leaves, and non-leaves after ``retain_grad()``)."""
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size"
                )
            if value._data.dtype != self._data.dtype:
                # torch's words, without its hint about grad_dtype (tapegrad has none)
                raise RuntimeError(
                    "attempting to assign a gradient with dtype "
                    f"'{_torch_dtype_name(value._data.dtype)}' to a tensor with grad_dtype "
                    f"'{_scalar_type_name(self._data.dtype)}'. The gradient must match the "
                    "tensor's grad_dtype (defaults to the tensor's dtype)."
                )
        self._grad = value

    @property
    def _version(self) -> int:
        return self._vc[0]

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """Dimensions reversed (the transpose of a matrix)."""
        return self.permute(*reversed(range(self.ndim)))  # PermuteBackward0, as torch

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The last two dimensions swapped."""
        return self.transpose(-2, -1)

    # ------------------------------------------------------------------ conversion

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared memory)."""
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.item()

    def tolist(self) -> Any:
        """The data as (nested) Python lists."""
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def detach(self) -> Tensor:
        """A tensor sharing this data and version counter, outside the graph."""
        return _wrap(self._data, vc=self._vc)

    @property
    def data(self) -> Tensor:
        """A tensor sharing this data, outside the graph, as torch's ``.data``: unlike
        ``detach()`` it has its own version counter, so autograd does not see in-place
        changes made through it (``p.data -= lr * p.grad``, ``p.grad.data.zero_()``)."""
        return _wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {_type_name(value)}")
        if self._requires_grad and value._data.dtype.kind != _FLOAT_KIND:
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or "
                "complex dtype"
            )
        self._data = value._data

    def clone(self) -> Tensor:
        """A copy that stays in the graph (CloneBackward0)."""
        return _run_op(E.Clone(), (self,), (self._data,))

    def to(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (ToCopyBackward0 when recorded); self if already that dtype."""
        target = _dtypes.to_numpy_dtype(dtype)
        if target == self._data.dtype:
            return self
        if target.kind != _FLOAT_KIND:
            return _wrap(self._data.astype(target))
        return _run_op(E.ToDtype(), (self,), (self._data,), np_dtype=target)

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.to(_dtypes.float64)

    def long(self) -> Tensor:
        """Cast to int64."""
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        """Cast to int32."""
        return self.to(_dtypes.int32)

    def bool(self) -> Tensor:
        """Cast to bool."""
        return self.to(_dtypes.bool)

    def __repr__(self) -> str:
        if self.grad_fn is not None:
            suffix: str | None = f"grad_fn=<{self.grad_fn.name()}>"
        else:
            suffix = "requires_grad=True" if self._requires_grad else None
        return format_tensor(self._data, self._data.dtype.name, suffix)

    __str__ = __repr__

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Any:
        if not self._data.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            amount = "more than one value" if self._data.size else "no values"
            raise RuntimeError(f"Boolean value of Tensor with {amount} is ambiguous")
        return bool(self._data.item())

    def __float__(self) -> float:
        return builtins.float(self._python_scalar())

    def __int__(self) -> int:
        return builtins.int(self._python_scalar())

    def _python_scalar(self) -> Any:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._data.item()

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ copy and pickle

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """A new leaf with copies of the data, ``requires_grad``, ``.grad`` and user attributes,
        as torch: no graph, no hooks, its own version counter."""
        if self.grad_fn is not None:
            raise RuntimeError(DEEPCOPY_NON_LEAF)
        new = _rebuild_tensor(type(self), copy.deepcopy(self._data, memo), self._requires_grad, {})
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = copy.deepcopy(self._grad, memo)
        for name, value in _user_attributes(self).items():
            setattr(new, name, copy.deepcopy(value, memo))
        return new

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickle the data, ``requires_grad`` and user attributes, as torch: not the graph,
        ``.grad`` or hooks (a non-leaf comes back as a leaf that requires grad)."""
        if self._hooks:
            warnings.warn(
                "backward hooks on a tensor are not serialized; the unpickled tensor has none",
                UserWarning,
                stacklevel=2,
            )
        attributes = _user_attributes(self)
        return (_rebuild_tensor, (type(self), self._data, self._requires_grad, attributes))

    # ------------------------------------------------------------------ autograd

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Compute the gradient of this tensor with respect to the leaves of its graph."""
        if gradient is None and not create_graph and self.grad_fn and self._data.size == 1:
            # the common case, ``loss.backward()``: straight to the engine
            seed = np.ones(self._data.shape, self._data.dtype)
            run_backward(((self.grad_fn, self._output_nr),), (seed,), bool(retain_graph), False)
            return
        from tapegrad.autograd import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor during backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def retain(grad: Any) -> None:
            tensor = ref()
            if tensor is not None:
                tensor._store_grad(grad)

        retain._retain = True  # type: ignore[attr-defined]
        self._node_hooks().append((self._output_nr, retain))

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")

        def call(grad: Any) -> Any:
            wrapped = grad if isinstance(grad, Tensor) else _wrap(np.asarray(grad))
            result = hook(wrapped)
            if result is None:
                return None
            _check_hook_result(hook, result, wrapped)
            return result if isinstance(grad, Tensor) else result._data

        hooks = self._node_hooks()
        handle = _RemovableHandle(hooks, (self._output_nr, call))
        hooks.remove(handle._item)
        retain_at = next((i for i, (_, f) in enumerate(hooks) if hasattr(f, "_retain")), None)
        hooks.insert(len(hooks) if retain_at is None else retain_at, handle._item)
        return handle

    def _node_hooks(self) -> list[Any]:
        if self.grad_fn is not None:
            if self.grad_fn._pre_hooks is None:
                self.grad_fn._pre_hooks = []
            return self.grad_fn._pre_hooks
        if self._hooks is None:
            self._hooks = []
            if self._acc is not None:
                self._acc._pre_hooks = self._hooks
        return self._hooks

    def _store_grad(self, grad: Any) -> None:
        """Retained gradient of a non-leaf: accumulated out of place, as torch (a ``.grad``
        read after one backward keeps its values through the next)."""
        current = self._grad
        if isinstance(grad, Tensor):
            self._grad = grad if current is None else current + grad
        elif current is None:
            self._grad = _wrap(np.array(grad, dtype=self._data.dtype))
        else:
            self._grad = _wrap(current._data + grad)

    def _accumulate_grad(self, grad: Any, create_graph: bool) -> None:
        """Add an incoming gradient into ``.grad`` (called by AccumulateGrad)."""
        if grad.shape != self._data.shape:
            raise RuntimeError(
                f"the gradient of a leaf has shape {tuple(grad.shape)} but the leaf now has "
                f"shape {self._data.shape}: was its .data replaced between forward and backward?"
            )
        current = self._grad
        if create_graph:
            self._grad = grad if current is None else current + grad
        elif current is None:
            self._grad = _wrap(np.array(grad, dtype=self._data.dtype))
        elif current.grad_fn is None and current._data.flags.writeable:
            data = current._data
            try:
                np.add(data, grad, data)  # ``out`` positionally: keywords cost 0.3 us a call
            except ValueError:  # a .grad left from before .data changed shape
                raise RuntimeError(_inplace_shape_error(data.shape, grad.shape)) from None
            current._vc[0] += 1
        else:
            self._grad = _wrap(current._data + grad)

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other: Any) -> Tensor:
        return _binary(E.Add, self, other)

    def __radd__(self, other: Any) -> Tensor:
        # commutative: with a Python number torch records (self, number), no reflection
        return _binary(E.Add, self, other, reflected=not isinstance(other, _SCALARS))

    def __sub__(self, other: Any) -> Tensor:
        _check_bool_sub(self, other)
        return _binary(E.Sub, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        _check_bool_sub(self, other)
        if isinstance(other, _SCALARS):
            return _run_op(E.Rsub(), (self,), (_promote_scalar(self, other)._data,), other=other)
        return _binary(E.Sub, self, other, reflected=True)

    def __mul__(self, other: Any) -> Tensor:
        return _binary(E.Mul, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _binary(E.Mul, self, other, reflected=not isinstance(other, _SCALARS))

    def __truediv__(self, other: Any) -> Tensor:
        return _binary(E.Div, self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        if isinstance(other, _SCALARS):
            return self.reciprocal() * other
        return _binary(E.Div, self, other, reflected=True)

    def __pow__(self, exponent: Any) -> Tensor:
        return self.pow(exponent)

    def __rpow__(self, base: Any) -> Tensor:
        if isinstance(base, _SCALARS):
            me = (
                self
                if self._data.dtype.kind == _FLOAT_KIND or isinstance(base, int)
                else (self.float())
            )
            return _run_op(E.Rpow(), (me,), (me._data,), base=base)
        return _binary(E.PowTensor, self, base, reflected=True)

    # Augmented assignment is in place, as torch: ``p -= lr * p.grad`` updates ``p`` itself.
    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __neg__(self) -> Tensor:
        return self.neg()

    def __pos__(self) -> Tensor:
        return self

    def __matmul__(self, other: Tensor) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _as_tensor(other).matmul(self)

    def __abs__(self) -> Tensor:
        return self.abs()

    def add(self, other: Any, alpha: float = 1) -> Tensor:
        """``self + alpha * other``."""
        if alpha == 1:
            return _binary(E.Add, self, other)
        return _binary(
            functools.partial(E.AddScaled, _checked_alpha(alpha, self, other)), self, other
        )

    def sub(self, other: Any, alpha: float = 1) -> Tensor:
        """``self - alpha * other``."""
        _check_bool_sub(self, other)
        if alpha == 1:
            return _binary(E.Sub, self, other)
        return _binary(
            functools.partial(E.SubScaled, _checked_alpha(alpha, self, other)), self, other
        )

    def mul(self, other: Any) -> Tensor:
        """Elementwise product."""
        return _binary(E.Mul, self, other)

    def div(self, other: Any, rounding_mode: str | None = None) -> Tensor:
        """Elementwise division: true, or rounded by ``'floor'`` or ``'trunc'``."""
        if rounding_mode is None:
            return _binary(E.Div, self, other)
        if rounding_mode not in ("floor", "trunc"):
            raise RuntimeError(
                "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"'{rounding_mode}'"
            )
        return _binary(functools.partial(E.DivRounded, rounding_mode), self, other)

    def neg(self) -> Tensor:
        """``-self``."""
        if self._data.dtype == np.bool_:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                "to invert a mask, use the `~` or `logical_not()` operator instead."
            )
        return _run_op(E.Neg(), (self,), (self._data,))

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent`` for a number or a tensor exponent."""
        if isinstance(exponent, Tensor):
            return _binary(E.PowTensor, self, exponent)
        exponent = _scalar(exponent, "exponent")
        me = _promote_scalar(self, exponent)
        if me._data.dtype.kind in "iu" and isinstance(exponent, int) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return _run_op(E.Pow(), (me,), (me._data,), exponent=exponent)

    def reciprocal(self) -> Tensor:
        """``1 / self``."""
        return _unary(E.Reciprocal, self)

    # ------------------------------------------------------------------ unary math

    def exp(self) -> Tensor:
        """Elementwise e**x."""
        return _unary(E.Exp, self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return _unary(E.Log, self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return _unary(E.Sqrt, self)

    def abs(self) -> Tensor:
        """Elementwise absolute value; abs'(0) = 0."""
        if self._data.dtype == np.bool_:
            raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
        return _run_op(E.Abs(), (self,), (self._data,))

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return _unary(E.Tanh, self)

    def sigmoid(self) -> Tensor:
        """Elementwise logistic function."""
        return _unary(E.Sigmoid, self)

    def relu(self) -> Tensor:
        """``max(x, 0)``; relu'(0) = 0."""
        if self._data.dtype == np.bool_:
            raise RuntimeError("Boolean inputs not supported for relu")
        op = E.Relu()
        return _finish(op, (self,), (self._data,), op.forward(self._data))

    def relu_(self) -> Tensor:
        """``relu`` in place (recorded as ``ReluBackward0`` on a non-leaf, as torch)."""
        return _inplace(self, _relu_kernel, _relu_recorded, None)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Limit values to [min, max]; the gradient passes on the closed interval."""
        if min is None and max is None:
            raise RuntimeError("tapegrad.clamp: At least one of 'min' or 'max' must not be None")
        lo = None if min is None else _scalar(min, "min")
        hi = None if max is None else _scalar(max, "max")
        me = _promote_scalar(self, lo if lo is not None else hi)
        return _run_op(E.Clamp(), (me,), (me._data,), min=lo, max=hi)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        """Elementwise maximum of two tensors; ties split the gradient."""
        return _binary(E.Maximum, self, _as_tensor(other))

    def minimum(self, other: Tensor) -> Tensor:
        """Elementwise minimum of two tensors; ties split the gradient."""
        return _binary(E.Minimum, self, _as_tensor(other))

    def sum_to_size(self, *size: Any) -> Tensor:
        """Sum broadcast dimensions so the result has ``size``."""
        shape = _shape_arg(size)
        if shape == self.shape:
            return self
        return _run_op(R.SumToSize(), (self,), (self._data,), shape=shape)

    # ------------------------------------------------------------------ reductions

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Sum of all elements, or over ``dim`` (int or tuple); ``dtype``: computed in it
        (no cast node; the gradient comes back in the input's dtype), as torch."""
        me, data = self, self._data
        if dtype is not None:
            data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
        elif data.dtype.kind in "bui":
            me = self.long()
            data = me._data
        if dim is None:
            return _run_op(R.Sum(), (me,), (data,))
        axes = normalize_dims(dim, me.ndim) or tuple(range(me.ndim))  # torch: () means all
        return _run_op(R.SumDim(), (me,), (data,), axes=axes, keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Mean of all elements, or over ``dim``; ``dtype`` as in ``sum``."""
        data = self._data
        if dtype is not None:
            data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
        if data.dtype.kind != _FLOAT_KIND:
            which = "Input" if dtype is None else "Optional"
            raise RuntimeError(
                f"mean(): could not infer output dtype. {which} dtype must be either a floating "
                f"point or complex dtype. Got: {_scalar_type_name(data.dtype)}"
            )
        if dim is None:
            return _run_op(R.Mean(), (self,), (data,))
        axes = normalize_dims(dim, self.ndim) or tuple(range(self.ndim))  # () means all
        return _run_op(R.MeanDim(), (self,), (data,), axes=axes, keepdim=keepdim)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Maximum of everything, ``(values, indices)`` along ``dim``, or ``maximum(other)``."""
        return self._extreme(R.Max, R.MaxDim, E.Maximum, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Minimum of everything, ``(values, indices)`` along ``dim``, or ``minimum(other)``."""
        return self._extreme(R.Min, R.MinDim, E.Minimum, dim, keepdim)

    def _extreme(
        self, whole: type[Op], along: type[Op], pairwise: type[Op], dim: Any, keepdim: bool
    ) -> Any:
        if isinstance(dim, Tensor):
            return _binary(pairwise, self, dim)
        if dim is None:
            return _run_op(whole(), (self,), (self._data,))
        axis = normalize_dim(dim, self.ndim)
        op = along()
        values = _run_op(op, (self,), (self._data,), axis=axis, keepdim=keepdim)
        result = _Min if whole is R.Min else _MinMax
        return result(values, _wrap(np.asarray(op.indices, dtype=np.int64)))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the maximum (flattened when ``dim`` is None)."""
        _refuse_bool(self, "argmax")
        if dim is None:
            return self._flat_index(np.argmax, "argmax", keepdim)
        return self.max(dim, keepdim).indices

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the minimum (flattened when ``dim`` is None)."""
        _refuse_bool(self, "argmin")
        if dim is None:
            return self._flat_index(np.argmin, "argmin", keepdim)
        return self.min(dim, keepdim).indices

    def _flat_index(self, find: Callable[..., Any], name: str, keepdim: bool) -> Tensor:
        if not self._data.size:
            raise IndexError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        index = np.asarray(find(self._data), dtype=np.int64)
        return _wrap(index.reshape((1,) * self.ndim) if keepdim else index)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        """``log(sum(exp(x), dim))``, computed stably."""
        axes = normalize_dims(dim, self.ndim)
        return _run_op(R.Logsumexp(), (self,), (_float_data(self),), axes=axes, keepdim=keepdim)

    def softmax(self, dim: int) -> Tensor:
        """Softmax along ``dim``."""
        axes = _softmax_axes(dim, self.ndim)
        _check_softmax_dtype(self, axes, "softmax")
        return _run_op(R.Softmax(), (self,), (self._data,), axes=axes)

    def log_softmax(self, dim: int) -> Tensor:
        """Log of softmax along ``dim``, computed stably."""
        axes = _softmax_axes(dim, self.ndim)
        _check_softmax_dtype(self, axes, "log_softmax")
        return _run_op(R.LogSoftmax(), (self,), (self._data,), axes=axes)

    # ------------------------------------------------------------------ linear algebra

    def mm(self, mat2: Tensor) -> Tensor:
        """Matrix product of two 2-D tensors."""
        a, b = self, _as_tensor(mat2)
        if a.ndim != 2 or b.ndim != 2:
            bad = "self" if a.ndim != 2 else "mat2"
            raise RuntimeError(f"{bad} must be a matrix")
        if a.shape[1] != b.shape[0]:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied "
                f"({a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]})"
            )
        a, b = _same_dtype(a, b, "mm")
        _refuse_bool_product(a, b)
        return _run_op(L.Mm(), (a, b), (a._data, b._data))

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
            self._addmm_shape_error((ad.shape[0], bd.shape[1]))
        if not bias._data.dtype == ad.dtype == bd.dtype:
            _addmm_dtype_error(bias._data.dtype, ad.dtype, bd.dtype)
        _refuse_bool_product(a, b)
        op = L.Addmm() if beta == 1 and alpha == 1 else L.ScaledAddmm(beta, alpha)
        try:
            out = op.forward(bias._data, a._data, b._data)
        except ValueError:  # the bias does not broadcast to the product
            self._addmm_shape_error((ad.shape[0], bd.shape[1]))
        return _finish(op, (bias, a, b), (bias._data, a._data, b._data), out)

    def _linear(self, input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
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
            op, w_t = L.LinearAddmm(), w.T
            try:
                out = op.forward(bias, x, w_t)
            except ValueError:
                pass  # a bias that does not broadcast: addmm below raises torch's message
            else:
                return _record(op, (self, input, weight), (bias, x, w_t), out)
        return self.addmm(input, weight.t())

    def _mse_loss(self, target: Tensor, reduction: str) -> Tensor:
        """``F.mse_loss``: one ``MseLossBackward0`` node, as torch; shapes that differ are
        broadcast by expanding both first, dtypes that differ computed in the promoted one."""
        a, t = self, target
        if a.shape != t.shape:
            message = broadcast_error(a.shape, t.shape)
            if message:
                raise RuntimeError(message)
            shape = np.broadcast_shapes(a.shape, t.shape)
            a = a if a.shape == shape else a.expand(shape)
            t = t if t.shape == shape else t.expand(shape)
        ad, td = a._data, t._data
        if ad.dtype != td.dtype:
            dtype = _result_dtype(a, t)
            ad, td = ad.astype(dtype, copy=False), td.astype(dtype, copy=False)
        return _run_op(R.MseLoss(), (a, t), (ad, td), reduction=reduction)

    def _div_scalar(self, divisor: float) -> Tensor:
        """``self / divisor`` recorded as ``DivBackward1`` (how torch's losses divide)."""
        return _run_op(E.DivScalar(), (self,), (self._data,), divisor=divisor)

    def _nll_loss(self, target: Tensor, ignore_index: int, reduction: str) -> Tensor:
        """``F.nll_loss`` of (N, C) or (C,) log-probabilities: one ``NllLossBackward0`` node.
        Targets were checked by the caller (dtype, shape, range)."""
        return _run_op(
            R.NllLoss(),
            (self,),
            (self._data,),
            labels=target._data.astype(np.int64, copy=False),
            ignore_index=ignore_index,
            reduction=reduction,
        )

    def _addmm_shape_error(self, product: tuple[int, int]) -> None:
        raise RuntimeError(
            f"The expanded size of the tensor must match the product: self of shape "
            f"{shape_str(self.shape)} can't be broadcast to {shape_str(product)}"
        )

    def matmul(self, other: Tensor) -> Tensor:
        """Matrix product with PyTorch's rules for 1-D, 2-D and batched operands."""
        a, b = self, _as_tensor(other)
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError(
                f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                f"{b.ndim}D"
            )
        if a.ndim == 2 and b.ndim == 2:
            return a.mm(b)
        _check_matmul(a.shape, b.shape)
        a, b = _same_dtype(a, b, "matmul")
        _refuse_bool_product(a, b)
        if a.ndim == 1 and b.ndim == 1:
            return _run_op(L.Dot(), (a, b), (a._data, b._data))
        return _run_op(L.Matmul(), (a, b), (a._data, b._data))

    def dot(self, other: Tensor) -> Tensor:
        """Inner product of two 1-D tensors."""
        if self.ndim != 1 or _as_tensor(other).ndim != 1:
            raise RuntimeError(
                f"1D tensors expected, but got {self.ndim}D and {_as_tensor(other).ndim}D tensors"
            )
        return self.matmul(other)

    # ------------------------------------------------------------------ shape

    def t(self) -> Tensor:
        """Transpose of a tensor with at most 2 dimensions."""
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        op = S.T()
        return _finish(op, (self,), (self._data,), op.forward(self._data))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        d0, d1 = normalize_dim(dim0, self.ndim), normalize_dim(dim1, self.ndim)
        if not self.ndim:  # dims 0 and -1 are valid on a 0-d tensor: nothing to swap
            return _run_op(S.Transpose(), (self,), (self._data,), axes=())
        axes = list(range(self.ndim))
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return _run_op(S.Transpose(), (self,), (self._data,), axes=tuple(axes))

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions."""
        axes = tuple(normalize_dim(d, self.ndim) for d in _shape_arg(dims))
        if sorted(axes) != list(range(self.ndim)):
            raise RuntimeError(
                "permute(sparse_coo): number of dimensions in the tensor input does not match "
                "the length of the desired ordering of dimensions i.e. input.dim() = "
                f"{self.ndim} is not equal to len(dims) = {len(axes)}"
                if len(axes) != self.ndim
                else "permute(): duplicate dims are not allowed."
            )
        return _run_op(S.Permute(), (self,), (self._data,), axes=axes)

    def reshape(self, *shape: Any) -> Tensor:
        """Same data, new shape (a view when possible); one dimension may be -1."""
        return _run_op(S.View(), (self,), (self._data,), shape=self._target_shape(shape))

    def view(self, *shape: Any) -> Tensor:
        """A view with a new shape; fails when the data would have to be copied."""
        target = self._target_shape(shape)
        op = S.View()
        out = _run_op(op, (self,), (self._data,), shape=target)
        if op.node_name != "ViewBackward0":
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            )
        return out

    def _target_shape(self, shape: Any) -> tuple[int, ...]:
        target = _shape_arg(shape)
        known = int(np.prod([s for s in target if s != -1]))
        bad = target.count(-1) > 1 or any(s < -1 for s in target)
        if not bad and -1 in target:
            bad = known == 0 or self._data.size % known != 0
        elif not bad:
            bad = known != self._data.size
        if bad:
            raise RuntimeError(
                f"shape '{shape_str(target)}' is invalid for input of size {self._data.size}"
            )
        return target

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dimensions ``start_dim..end_dim`` into one."""
        if self.ndim <= 1:
            return self if self.ndim == 1 else self.reshape(1)
        lo, hi = normalize_dim(start_dim, self.ndim), normalize_dim(end_dim, self.ndim)
        if lo > hi:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if lo == hi:
            return self
        merged = int(np.prod(self.shape[lo : hi + 1]))
        return self.reshape(self.shape[:lo] + (merged,) + self.shape[hi + 1 :])

    def squeeze(self, dim: Any = None) -> Tensor:
        """Remove dimensions of size 1 (all, or the given one)."""
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
            return _run_op(S.Squeeze(), (self,), (self._data,), shape=shape)
        axes = normalize_dims(dim, self.ndim)
        shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
        return _run_op(S.SqueezeDim(), (self,), (self._data,), shape=shape)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a dimension of size 1 at ``dim``."""
        axis = normalize_dim(dim, self.ndim + 1)
        shape = self.shape[:axis] + (1,) + self.shape[axis:]
        return _run_op(S.Unsqueeze(), (self,), (self._data,), shape=shape)

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to a larger shape without copying; -1 keeps a dimension."""
        target = list(_shape_arg(sizes))
        lead = len(target) - self.ndim
        if lead < 0:
            raise RuntimeError(
                f"expand(tapegrad.{_scalar_type_name(self._data.dtype)}Tensor"
                f"{{{shape_str(self.shape)}}}, "
                f"size={shape_str(tuple(target))}): the number of sizes provided "
                f"({len(target)}) must be greater or equal to the number of dimensions in the "
                f"tensor ({self.ndim})"
            )
        for i, want in enumerate(target[:lead]):
            if want < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor ({want}) isn't allowed in a leading, "
                    f"non-existing dimension {i}"
                )
        for i in reversed(range(self.ndim)):  # torch checks from the last dimension
            s, want = self.shape[i], target[lead + i]
            if want == -1:
                target[lead + i] = s
            elif s != 1 and s != want:
                raise RuntimeError(
                    f"The expanded size of the tensor ({want}) must match the existing size "
                    f"({s}) at non-singleton dimension {lead + i}.  Target sizes: "
                    f"{shape_str(tuple(target))}.  Tensor sizes: {shape_str(self.shape)}"
                )
        return _run_op(S.Expand(), (self,), (self._data,), shape=tuple(target))

    def expand_as(self, other: Tensor) -> Tensor:
        """Expand to ``other``'s shape."""
        return self.expand(other.shape)

    def __getitem__(self, key: Any) -> Tensor:
        from tapegrad._indexing import getitem

        return getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        from tapegrad._indexing import setitem

        setitem(self, key, value)

    # ------------------------------------------------------------------ comparisons

    def __lt__(self, other: Any) -> Tensor:
        return _compare(np.less, self, other)

    def __le__(self, other: Any) -> Tensor:
        return _compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        if not isinstance(other, _COMPARABLE):
            return NotImplemented  # as torch: t == None is False, t != 'a' is True
        return _compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        if not isinstance(other, _COMPARABLE):
            return NotImplemented
        return _compare(np.not_equal, self, other)

    # bitwise, as torch: logical on bool tensors, bit by bit on integer ones
    def __and__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_and, "bitwise_and", self, other)

    def __or__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_or, "bitwise_or", self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_xor, "bitwise_xor", self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __floordiv__(self, other: Any) -> Tensor:
        """``floor(self / other)``; not differentiable (torch has no derivative for it)."""
        return _compare(floor_divide, self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _compare(lambda a, b: floor_divide(b, a), self, other)

    def __mod__(self, other: Any) -> Tensor:
        """Python's (and torch's) remainder: the sign of the divisor."""
        if isinstance(other, _SCALARS):
            return _run_op(E.RemainderScalar(), (self,), (self._data,), divisor=other)
        return _binary(E.Remainder, self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _binary(E.Remainder, self, other, reflected=True)

    def __invert__(self) -> Tensor:
        if self._data.dtype != np.bool_:
            return _wrap(np.invert(self._data))
        return _wrap(np.logical_not(self._data))

    def eq(self, other: Any) -> Tensor:
        """Elementwise ``==`` as a bool tensor."""
        return self == other

    def allclose(self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        """True when all elements are close, as ``numpy.allclose``."""
        return bool(np.allclose(self._data, _as_tensor(other)._data, rtol=rtol, atol=atol))

    def sign(self) -> Tensor:
        """Elementwise sign; its gradient is 0 (``SignBackward0``)."""
        if self._data.dtype == np.bool_:
            return _wrap(self._data.copy())
        return _run_op(E.Sign(), (self,), (self._data,))

    # ------------------------------------------------------------------ in place

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """In-place ``self += alpha * other``."""
        if alpha == 1:
            return _inplace(self, np.add, Tensor.add, other)
        if _recorded_inplace(self, other):
            return _inplace(self, np.add, functools.partial(Tensor.add, alpha=alpha), other)
        return _inplace(self, np.add, Tensor.add, _scaled(other, alpha))

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """In-place ``self -= alpha * other`` (the blog's weight update)."""
        if alpha == 1:
            return _inplace(self, np.subtract, Tensor.sub, other)
        if _recorded_inplace(self, other):
            return _inplace(self, np.subtract, functools.partial(Tensor.sub, alpha=alpha), other)
        return _inplace(self, np.subtract, Tensor.sub, _scaled(other, alpha))

    def mul_(self, other: Any) -> Tensor:
        """In-place ``self *= other``."""
        return _inplace(self, np.multiply, Tensor.mul, other)

    def div_(self, other: Any) -> Tensor:
        """In-place ``self /= other``."""
        return _inplace(self, np.true_divide, Tensor.div, other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """In-place clamp."""
        return _inplace(self, _clip_kernel, _clamp_recorded, (min, max))

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return _inplace(self, _fill_kernel, _zero_recorded, 0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value`` (a number or a 0-d tensor, whose gradient is kept) in place."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        return _inplace(self, _fill_kernel, _fill_recorded, value)

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast) into self in place."""
        return _inplace(self, _copy_kernel, _copy_recorded, src)


class _MinMax(tuple):
    """``(values, indices)`` as returned by ``max(dim)``/``min(dim)``."""

    __slots__ = ()
    _name = "max"

    def __new__(cls, values: Tensor, indices: Tensor) -> _MinMax:
        return super().__new__(cls, (values, indices))

    def __repr__(self) -> str:
        return (
            f"tapegrad.return_types.{self._name}(\nvalues={self.values!r},\n"
            f"indices={self.indices!r})"
        )

    __str__ = __repr__

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


class _Min(_MinMax):
    __slots__ = ()
    _name = "min"


# ============================================================================ construction


def _wrap(
    data: np.ndarray,
    grad_fn: Node | None = None,
    output_nr: int = 0,
    vc: list[int] | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Make a Tensor around an existing array without copying (internal fast path)."""
    t = _new_tensor(Tensor)
    t._data = data if type(data) is np.ndarray else np.asarray(data)
    t._requires_grad = requires_grad or grad_fn is not None
    t.grad_fn = grad_fn
    t._output_nr = output_nr
    t._vc = [0] if vc is None else vc
    return t


_new_tensor = object.__new__
_COMPARABLE = (Tensor, numbers.Number, np.ndarray, np.generic)  # what == compares with


def _user_attributes(t: Tensor) -> dict[str, Any]:
    """Attributes a user set on a tensor (``t.name = ...``), without autograd's own."""
    extra = getattr(t, "__dict__", None) or {}
    return {k: v for k, v in extra.items() if k not in _AUTOGRAD_ATTRIBUTES}


def _rebuild_tensor(
    cls: type[Tensor], data: np.ndarray, requires_grad: bool, attributes: dict[str, Any]
) -> Tensor:
    """Unpickle a tensor: a leaf of class ``cls`` around ``data``."""
    t = _wrap(data, requires_grad=requires_grad)
    t.__class__ = cls
    for name, value in attributes.items():
        setattr(t, name, value)
    return t


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """Convert user data to an array with PyTorch's dtype inference (floats -> float32)."""
    target = None if dtype is None else _dtypes.to_numpy_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, np.ndarray | np.generic):  # numpy data keeps its dtype, as in torch
        _dtypes.from_numpy_dtype(data.dtype)
        return np.array(data, dtype=target)
    try:
        arr = np.array(data)
    except ValueError:
        raise ValueError(_ragged_message(data)) from None
    if arr.dtype == np.uint64 or arr.dtype == object and _all_ints(arr):  # beyond int64
        if target is None or target.kind in "iub":
            raise ValueError("Overflow when unpacking long long")
        arr = arr.astype(np.float64)  # for a float tensor, as torch
    if arr.dtype == object or arr.dtype.kind in "USV":
        kind = type(data).__name__ if arr.ndim == 0 else "a ragged or non-numeric sequence"
        raise TypeError(
            f"Could not infer dtype of {kind}: tensor() takes numbers, nested lists of numbers "
            "or numpy arrays"
        )
    if arr.dtype.kind == "c":
        raise TypeError(
            "tapegrad has no complex dtype: tensor() takes real numbers (float, int, bool)"
        )
    if target is not None:
        _check_int_range(arr, target)
        return arr.astype(target)
    if isinstance(data, list | tuple):  # (an empty list is float32, as torch)
        return arr.astype(_sequence_dtype(data) or _dtypes.DEFAULT_FLOAT.np)
    if arr.dtype.kind == _FLOAT_KIND:
        return arr.astype(_dtypes.DEFAULT_FLOAT.np)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr


def _all_ints(arr: np.ndarray) -> bool:
    return arr.size > 0 and all(isinstance(v, numbers.Integral) for v in arr.flat)


def _check_int_range(values: np.ndarray, target: np.dtype, type_name: str | None = None) -> None:
    """torch's refusal of Python numbers that an integer dtype cannot hold (numpy would wrap
    300 to 44 in uint8). As in torch, an unsigned type takes negatives down to -max (they
    wrap), and a float is checked before it is truncated."""
    if target.kind not in "iu" or not values.size or values.dtype.kind not in "iuf":
        return
    info = np.iinfo(target)
    low = info.min if target.kind == "i" else -int(info.max)
    if np.isnan(values).any() or values.min() < low or values.max() > info.max:
        name = type_name or target.name
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")


def _sequence_dtype(data: Any) -> np.dtype | None:
    """torch's dtype for nested lists: Python floats count as float32, ints as int64, numpy
    scalars and tensors as their own dtype, all promoted together (``[np.float64(1.5)]`` is
    float64, ``[tensor(1, dtype=int32)]`` int32)."""
    found: set[np.dtype] = set()
    _collect_scalar_types(data, found)
    return _join_dtype(list(found)) if found else None


def _collect_scalar_types(data: Any, found: set[np.dtype]) -> None:
    for item in data:
        if isinstance(item, list | tuple):
            _collect_scalar_types(item, found)
        elif isinstance(item, Tensor):
            found.add(item._data.dtype)
        elif isinstance(item, np.ndarray | np.generic):
            found.add(item.dtype)
        elif isinstance(item, builtins.bool):
            found.add(np.dtype(np.bool_))
        elif isinstance(item, numbers.Integral):
            found.add(np.dtype(np.int64))
        else:
            found.add(_dtypes.DEFAULT_FLOAT.np)


def _ragged_message(data: Any) -> str:
    """Why nested lists do not make a tensor, in torch's words: the shape comes from the first
    element at each depth, and the first sequence of another length is reported."""
    sizes = []
    first = data
    while isinstance(first, list | tuple):
        sizes.append(len(first))
        first = first[0] if first else None
    return _ragged_at(data, sizes, 0) or "could not build a tensor from this data"


def _ragged_at(seq: Any, sizes: list[int], dim: int) -> str | None:
    if len(seq) != sizes[dim]:
        return f"expected sequence of length {sizes[dim]} at dim {dim} (got {len(seq)})"
    for item in seq:
        if dim + 1 < len(sizes):
            if not isinstance(item, list | tuple):
                raise TypeError("not a sequence")
            message = _ragged_at(item, sizes, dim + 1)
            if message:
                return message
        elif isinstance(item, list | tuple):  # a number was expected here
            if isinstance(seq[0], builtins.float):
                raise TypeError(f"must be real number, not {type(item).__name__}")
            raise TypeError(f"'{type(item).__name__}' object cannot be interpreted as an integer")
    return None


def _edge_of(t: Any) -> tuple[Node | None, int]:
    """The graph edge an input contributes: its grad_fn, its accumulator, or none."""
    if not isinstance(t, Tensor) or not t._requires_grad:
        return _NO_EDGE
    if t.grad_fn is not None:
        return t.grad_fn, t._output_nr
    return _leaf_edge(t)


def _leaf_edge(t: Tensor) -> tuple[Node, int]:
    """The edge to a leaf's AccumulateGrad: made on first use and kept by the leaf, so every
    graph reuses it; made again if ``.data`` was replaced by one of another shape or dtype."""
    acc = t._acc
    if acc is None or acc._shape != t._data.shape or acc._dtype != t._data.dtype:
        acc = AccumulateGrad(t)
        if t._hooks is not None:
            acc._pre_hooks = t._hooks
        t._acc = acc
    return acc, 0


def _run_op(op: Op, inputs: Sequence[Any], arrays: Sequence[Any], **meta: Any) -> Tensor:
    """Run ``op.forward`` on arrays; record it when grad mode is on and an input needs grad."""
    return _finish(op, inputs, arrays, op.forward(*arrays, **meta))


def _finish(op: Op, inputs: Sequence[Any], arrays: Sequence[Any], out: Any) -> Tensor:
    """Wrap an op's result; record the op when grad mode is on and an input needs grad."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if _grad_state.enabled:
        for t in inputs:
            if isinstance(t, Tensor) and t._requires_grad:
                return _record(op, inputs, arrays, out)
    if op.is_view:
        base = inputs[0]
        result = _wrap(out, None, 0, base._vc)
        result._is_view = True
        if base._requires_grad:  # so this ran under no_grad
            result._no_grad_view_of_grad = True
        elif base._no_grad_view_of_grad:  # a view of such a view: torch names this op
            result._no_grad_view_of_grad = op_name(op)
        return result
    return _wrap(out)


def _record(op: Op, inputs: Sequence[Any], arrays: Sequence[Any], out: np.ndarray) -> Tensor:
    """Make ``op`` the grad_fn of a new tensor holding ``out``, saving what backward needs."""
    edges = []
    for t in inputs:  # _edge_of, inlined: this loop runs for every recorded op
        if not isinstance(t, Tensor) or not t._requires_grad:
            edges.append(_NO_EDGE)
        elif t.grad_fn is not None:
            edges.append((t.grad_fn, t._output_nr))
        else:  # _leaf_edge, its common case inlined
            acc = t._acc
            if acc is None or acc._shape != t._data.shape or acc._dtype != t._data.dtype:
                acc = _leaf_edge(t)[0]
            edges.append((acc, 0))
    op._edges = edges = tuple(edges)
    op._shape = out.shape
    op._dtype = out.dtype
    if _anomaly_state.enabled:
        op._trace = anomaly.forward_trace()
    vc = inputs[0]._vc if op.is_view else [0]
    if op.saves:
        _save(op, inputs, arrays, out, vc, edges)
    result = _new_tensor(Tensor)
    result._data = out
    result._requires_grad = True
    result.grad_fn = op
    result._output_nr = 0
    result._vc = vc
    if op.is_view:
        result._is_view = True
        base = inputs[0]
        if base.grad_fn is not None:  # only a non-leaf can change in place while recorded
            _keep_view(base, result)
    return result


def _save(
    op: Op,
    inputs: Sequence[Any],
    arrays: Sequence[Any],
    out: np.ndarray,
    vc: list[int],
    edges: tuple[tuple[Node | None, int], ...],
) -> None:
    """Keep what backward needs, with the version of each saved tensor."""
    saved, versions = [], []
    for pos, needed_by in op._save_plan:
        if needed_by is not None and edges[needed_by][0] is None:
            saved.append(None)
            versions.append(None)
        elif pos == OUT:
            saved.append(out if op.pack_out is None else op.pack_out(out))
            versions.append((vc, vc[0]))
        else:
            saved.append(arrays[pos])
            t = inputs[pos]
            if isinstance(t, Tensor):
                counter = t._vc
                versions.append((counter, counter[0]))
            else:
                versions.append(None)
    # Tuples: fewer containers left for the garbage collector to scan in a long-lived graph
    op.saved = tuple(saved)
    op._versions = tuple(versions)


# ============================================================================ dtype promotion


def _category(kind: str) -> int:
    return 2 if kind == _FLOAT_KIND else 0 if kind == "b" else 1


def _join_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """torch's promotion over tensors of equal standing (``cat``, ``stack``): a higher
    category wins outright (float32 with int64 is float32); within one, numpy's rule."""
    target = dtypes[0]
    for d in dtypes[1:]:
        ct, cd = _category(target.kind), _category(d.kind)
        target = d if cd > ct else target if cd < ct else np.promote_types(target, d)
    return target


def _result_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """PyTorch's promotion: higher category wins; within it, dimensioned tensors beat 0-d."""
    da, db = a._data.dtype, b._data.dtype
    ca, cb = _category(da.kind), _category(db.kind)
    if ca != cb:
        winner = da if ca > cb else db
        return winner
    if a.ndim and not b.ndim:
        return da
    if b.ndim and not a.ndim:
        return db
    return np.promote_types(da, db)


def _promote_scalar(t: Tensor, scalar: Any) -> Tensor:
    """Cast an integer/bool tensor when a Python scalar of a higher category meets it."""
    kind = t._data.dtype.kind
    if kind == _FLOAT_KIND or scalar is None:
        return t
    if isinstance(scalar, float):
        return t.float()
    if kind == "b" and not isinstance(scalar, bool):
        return t.long()
    return t


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if not isinstance(value, _SCALARS):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return value


def _operand(x: Any) -> Any:
    """A binary op's other side: a Tensor, or an exact Python bool/int/float."""
    if isinstance(x, Tensor) or type(x) in (int, float, bool):
        return x
    if isinstance(x, np.ndarray):
        return _wrap(x)
    if isinstance(x, np.generic | numbers.Number):
        value = x.item() if isinstance(x, np.generic) else x
        if isinstance(value, bool | int | float):
            return bool(value) if isinstance(value, bool) else type(value)(value)
        if isinstance(value, numbers.Real):
            return float(value)
    raise TypeError(f"unsupported operand type for a tensor operation: {type(x).__name__}")


def _as_tensor(x: Any) -> Tensor:
    x = _operand(x)
    return x if isinstance(x, Tensor) else _wrap(np.asarray(x))


def _binary(op_cls: type[Op], a: Tensor, b: Any, reflected: bool = False) -> Tensor:
    """Run a two-input op with PyTorch's type promotion and broadcasting errors."""
    ad = a._data
    if isinstance(b, Tensor):
        bd = b._data
        if ad.dtype is not bd.dtype and ad.dtype != bd.dtype:
            # the op computes in the promoted dtype; its edges still go to the inputs (torch
            # records no cast), and the engine casts each gradient back to its input's dtype
            target = _result_dtype(a, b)
            ad, bd = ad.astype(target, copy=False), bd.astype(target, copy=False)
    elif type(b) is float or type(b) is int or type(b) is bool:
        bd = b  # numpy keeps a tensor's dtype against a Python scalar (NEP 50), as PyTorch
        if ad.dtype.kind != _FLOAT_KIND:
            a = _promote_scalar(a, b)
            ad = a._data
    else:
        return _binary(op_cls, a, _operand(b), reflected)
    if op_cls is _DIV and ad.dtype.kind != _FLOAT_KIND:
        a, ad = a.float(), ad.astype(np.float32)  # true division of integers gives float32
        if isinstance(b, Tensor) and bd.dtype.kind != _FLOAT_KIND:
            b, bd = b.float(), bd.astype(np.float32)
    if reflected:
        a, b, ad, bd = b, a, bd, ad
    op = op_cls()
    try:
        out = op.forward(ad, bd)
    except ValueError:
        message = broadcast_error(np.shape(ad), np.shape(bd))
        if message is None:
            raise
        raise RuntimeError(message) from None
    except OverflowError:  # a Python int beyond the other operand's integer range
        if type(bd) is builtins.int:
            bd = wrapped_int(bd, ad.dtype)
        else:
            ad = wrapped_int(ad, bd.dtype)
        out = op.forward(ad, bd)
    return _finish(op, (a, b), (ad, bd), out)


_DIV = E.Div


def _unary(op_cls: type[Op], a: Tensor) -> Tensor:
    """Run a one-input float op; integer inputs are cast to float32 first, as PyTorch."""
    data = _float_data(a)
    op = op_cls()
    return _finish(op, (a,), (data,), op.forward(data))


def _check_hook_result(hook: Any, result: Any, grad: Tensor) -> None:
    """torch's checks on what a tensor hook returned: a Tensor of the gradient's size and type."""
    if not isinstance(result, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    name = getattr(hook, "__name__", repr(hook))
    if result.shape != grad.shape:
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    if result._data.dtype != grad._data.dtype:
        raise RuntimeError(
            f"hook '{name}' has changed the type of value (was tapegrad.{grad._data.dtype.name} "
            f"got tapegrad.{result._data.dtype.name})"
        )


def _softmax_axes(dim: int, ndim: int) -> tuple[int, ...]:
    """The softmax dim as a tuple of axes: () for a 0-d tensor (dim 0 or -1, as torch)."""
    axis = normalize_dim(dim, ndim)
    return (axis,) if ndim else ()


def _refuse_bool(t: Tensor, name: str) -> None:
    if t._data.dtype == np.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")


def _check_softmax_dtype(t: Tensor, axes: tuple[int, ...], name: str) -> None:
    """torch has no integer or bool softmax (``F.softmax(x, dim, dtype=...)`` casts first);
    its message names the kernel: the last dimension's own, or the general one."""
    if t._data.dtype.kind != _FLOAT_KIND:
        kernel = "lastdim_kernel_impl" if not axes or axes[0] == t.ndim - 1 else "kernel_impl"
        type_name = _scalar_type_name(t._data.dtype)
        raise NotImplementedError(f"\"{name}_{kernel}\" not implemented for '{type_name}'")


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


def _float_data(a: Tensor) -> np.ndarray:
    return a._data if a._data.dtype.kind == _FLOAT_KIND else a._data.astype(np.float32)


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


def _inplace_shape_error(out: tuple[int, ...], other: tuple[int, ...]) -> str:
    """torch's message for ``out += other`` when ``other`` does not fit into ``out``."""
    message = broadcast_error(out, other)
    if message is None:
        wanted = shape_str(np.broadcast_shapes(out, other))
        message = f"output with shape {shape_str(out)} doesn't match the broadcast shape {wanted}"
    return message


def _type_name(obj: Any) -> str:
    """CPython's ``tp_name``: ``float``, ``numpy.float32``, or a Python class's own name."""
    cls = type(obj)
    if cls.__flags__ & _HEAP_TYPE or cls.__module__ == "builtins":
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def _scalar_type_name(np_dtype: np.dtype) -> str:
    """PyTorch's ScalarType name (``Float``, ``Long``...) used in some of its messages."""
    return {
        "float32": "Float",
        "float64": "Double",
        "float16": "Half",
        "int64": "Long",
        "int32": "Int",
        "int16": "Short",
        "int8": "Char",
        "uint8": "Byte",
        "bool": "Bool",
    }.get(np_dtype.name, np_dtype.name)


def _torch_dtype_name(np_dtype: np.dtype) -> str:
    return {
        "float32": "float",
        "float64": "double",
        "int64": "long int",
        "int32": "int",
        "bool": "bool",
        "float16": "c10::Half",
    }.get(np_dtype.name, np_dtype.name)


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


def _compare(ufunc: Any, a: Tensor, b: Any) -> Tensor:
    """Comparisons and logical ops: a bool tensor outside the graph."""
    b = _operand(b)
    bd = b._data if isinstance(b, Tensor) else b
    try:
        return _wrap(ufunc(a._data, bd))
    except ValueError:
        message = broadcast_error(a.shape, np.shape(bd))
        if message is None:
            raise
        raise RuntimeError(message) from None


def _bitwise(ufunc: Any, name: str, a: Tensor, b: Any) -> Tensor:
    """``& | ^`` on bool or integer tensors, outside the graph; torch refuses floats."""
    kinds = {a._data.dtype.kind, b._data.dtype.kind if isinstance(b, Tensor) else "i"}
    if isinstance(b, float) or kinds & {"f", "c"}:
        dtype = a._data.dtype if a._data.dtype.kind == "f" else np.dtype(np.float32)
        raise NotImplementedError(
            f"\"{name}_cpu\" not implemented for '{_scalar_type_name(dtype)}'"
        )
    return _compare(ufunc, a, b)


def _shape_arg(args: Any) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``."""
    if len(args) == 1 and isinstance(args[0], list | tuple):
        args = args[0]
    try:
        return tuple(operator.index(s) for s in args)  # ints only, as torch: 2.0 is refused
    except TypeError:
        raise TypeError(f"a shape must be a sequence of ints, got {args!r}") from None


# ============================================================================ in place


def _recorded_inplace(t: Tensor, other: Any) -> bool:
    """Whether an in-place op on ``t`` with ``other`` will be recorded (see ``_inplace``)."""
    return _grad_state.enabled and (
        t._requires_grad or (isinstance(other, Tensor) and other._requires_grad)
    )


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


def _inplace(
    t: Tensor, ufunc: Callable[..., Any], record: Callable[..., Tensor], other: Any
) -> Tensor:
    """Apply an in-place op; rebase the graph when the result must be recorded."""
    if t._no_grad_view_of_grad and _grad_state.enabled:
        inherited = t._no_grad_view_of_grad
        prefix = "" if inherited is True else f"Output 0 of {inherited} is a view of a view which"
        raise RuntimeError(
            f"{prefix or 'A view'} was created in no_grad mode {NO_GRAD_VIEW_INPLACE}"
        )
    if _recorded_inplace(t, other):
        if t.grad_fn is None and t._requires_grad:
            raise RuntimeError(
                LEAF_INPLACE
                if not t._is_view
                else "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )
        return _inplace_recorded(t, record, other)
    other_data = other._data if isinstance(other, Tensor) else other
    try:
        ufunc(t._data, other_data, t._data)  # ``out`` positionally (casting "same_kind")
    except TypeError:
        result = (
            _result_dtype(t, other)
            if isinstance(other, Tensor)
            else _promote_scalar(t, other).dtype
        )
        raise RuntimeError(
            f"result type {_scalar_type_name(result)} can't be cast to the desired output type "
            f"{_scalar_type_name(t._data.dtype)}"
        ) from None
    except ValueError:
        if not t._data.flags.writeable:
            raise RuntimeError(
                "unsupported operation: more than one element of the written-to tensor refers to "
                "a single memory location. Please clone() the tensor before performing the "
                "operation."
            ) from None
        raise RuntimeError(_inplace_shape_error(t.shape, np.shape(other_data))) from None
    t._vc[0] += 1
    return t


def foreach_sub_(tensors: Sequence[Tensor], others: Sequence[Any], alpha: float = 1) -> None:
    """``t.sub_(o, alpha=alpha)`` for each pair (torch's ``_foreach_sub_``): an optimizer's
    whole update in one call. Outside grad mode, pairs of same-shape float tensors of one
    dtype skip the per-call checks; anything else takes ``sub_`` itself, with its errors."""
    fast = not _grad_state.enabled and type(alpha) in _SCALARS
    for t, other in zip(tensors, others):
        if fast and isinstance(other, Tensor):
            data, delta = t._data, other._data
            if data.shape == delta.shape and data.dtype is delta.dtype and data.dtype.kind == "f":
                try:
                    np.subtract(data, delta * alpha if alpha != 1 else delta, data)
                except ValueError:  # read-only: sub_ raises the clear error
                    pass
                else:
                    t._vc[0] += 1
                    continue
        t.sub_(other, alpha=alpha)


def foreach_zero_(tensors: Sequence[Tensor]) -> None:
    """``t.zero_()`` for each tensor (torch's ``_foreach_zero_``)."""
    if _grad_state.enabled:
        for t in tensors:
            t.zero_()
        return
    for t in tensors:
        try:
            t._data.fill(0)
        except ValueError:  # read-only: zero_ raises the clear error
            t.zero_()
        else:
            t._vc[0] += 1


def _clip_kernel(a: np.ndarray, bounds: tuple[Any, Any], out: np.ndarray) -> None:
    np.clip(a, bounds[0], bounds[1], out=out, casting="same_kind")


def _clamp_recorded(t: Tensor, bounds: tuple[Any, Any]) -> Tensor:
    return t.clamp(*bounds)


def _relu_kernel(a: np.ndarray, _: Any, out: np.ndarray) -> None:
    np.maximum(a, 0, out)


def _relu_recorded(t: Tensor, _: Any) -> Tensor:
    return t.relu()


def _fill_kernel(a: np.ndarray, value: Any, out: np.ndarray) -> None:
    out.fill(value)


def _fill_recorded(t: Tensor, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return _run_op(E.FillTensor(), (t, value), (t._data, value._data))
    return _run_op(E.Fill(), (t,), (t._data,), value=value)


def _zero_recorded(t: Tensor, value: Any) -> Tensor:
    return _run_op(E.Zero(), (t,), (t._data,), value=0)


def _copy_kernel(a: np.ndarray, src: Any, out: np.ndarray) -> None:
    np.copyto(out, src, casting="unsafe")


def _copy_recorded(t: Tensor, src: Any) -> Tensor:
    src = _as_tensor(src)
    return _run_op(E.CopyInto(), (t, src), (t._data, src._data))


def _inplace_recorded(t: Tensor, record: Callable[..., Tensor], other: Any) -> Tensor:
    if t._is_view:
        raise RuntimeError(
            "tapegrad does not record in-place operations on views of tensors that require "
            "grad; use the out-of-place form instead (e.g. y = y + 1 rather than y.add_(1))."
        )
    # The op's backward may need the value before the change (``mul_``'s other gradient):
    # a copy, as torch keeps the original self for such in-place ops.
    before = _wrap(t._data.copy(), t.grad_fn, t._output_nr, None, t._requires_grad)
    if t.grad_fn is None:
        before._acc = t._acc
    result = record(before, other)
    if result.shape != t.shape:
        raise RuntimeError(
            f"output with shape {shape_str(t.shape)} doesn't match the broadcast shape "
            f"{shape_str(result.shape)}"
        )
    np.copyto(t._data, result._data, casting="unsafe")
    old_fn, old_nr = t.grad_fn, t._output_nr
    t.grad_fn, t._output_nr, t._requires_grad = result.grad_fn, 0, True
    t._vc[0] += 1
    if t._retains_grad and old_fn is not None:
        _move_retain_hook(old_fn, old_nr, t)
    _rebase_views(t)
    return t


def _move_retain_hook(old_fn: Node, output_nr: int, t: Tensor) -> None:
    """``retain_grad`` follows the tensor to its new version, as torch (other hooks stay)."""
    hooks = old_fn._pre_hooks or []
    for item in [h for h in hooks if h[0] == output_nr and hasattr(h[1], "_retain")]:
        hooks.remove(item)
        t._node_hooks().append((0, item[1]))


def _keep_view(base: Tensor, view: Tensor) -> None:
    """The base keeps its views, weakly, so a recorded in-place change can rebase them; a
    view keeps its base (a view of a temporary view still reaches the root)."""
    views = base.__dict__.get("_views")
    if views is None:
        views = base.__dict__["_views"] = weakref.WeakSet()
    views.add(view)
    view.__dict__["_base"] = base


def _rebase_views(base: Tensor) -> None:
    """After a recorded in-place change of ``base``, its views read the new values, so their
    gradient must flow through the change too: each view's node is remade on the base's new
    node (torch regenerates them as AsStridedBackward0), views of views in turn."""
    for view in list(base.__dict__.get("_views", ())):
        if view.grad_fn is None or not view.grad_fn.is_view:
            continue
        node = copy.copy(view.grad_fn)
        node._edges = ((base.grad_fn, base._output_nr), *node._edges[1:])
        view.grad_fn = node
        _rebase_views(view)


# ============================================================================ tensor namespace


class _TensorNamespace:
    """The functions backward rules call, on Tensors, so the backward pass is recorded."""

    @staticmethod
    def from_edge(array: np.ndarray, node: Node, index: int) -> Tensor:
        return _wrap(array, node, index)

    exp = staticmethod(Tensor.exp)
    log = staticmethod(Tensor.log)
    sqrt = staticmethod(Tensor.sqrt)

    @staticmethod
    def matmul(a: Tensor, b: Tensor) -> Tensor:
        return a.matmul(b)

    @staticmethod
    def sign(a: Tensor) -> Tensor:
        return a.sign()

    @staticmethod
    def zeros_like(a: Tensor) -> Tensor:
        return _wrap(np.zeros_like(a._data))

    @staticmethod
    def floor_divide(a: Tensor, b: Tensor) -> Tensor:
        return a // b  # piecewise constant: no graph

    @staticmethod
    def sum(a: Tensor, axis: tuple[int, ...], keepdims: bool = True) -> Tensor:
        return a.sum(axis, keepdim=keepdims)

    @staticmethod
    def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
        return a.reshape(shape)

    @staticmethod
    def permute(a: Tensor, axes: tuple[int, ...]) -> Tensor:
        return a.permute(axes)

    @staticmethod
    def expand(a: Tensor, shape: tuple[int, ...]) -> Tensor:
        return a.expand(shape)

    @staticmethod
    def sum_to(a: Tensor, shape: tuple[int, ...]) -> Tensor:
        return a.sum_to_size(shape)

    @staticmethod
    def index(a: Tensor, key: Any) -> Tensor:
        return a[key]

    @staticmethod
    def index_into_zeros(g: Tensor, shape: tuple[int, ...], key: Any, accumulate: bool) -> Tensor:
        return _run_op(
            S.IndexIntoZeros(), (g,), (g._data,), shape=shape, key=key, accumulate=accumulate
        )

    @staticmethod
    def cat(parts: list[Tensor], axis: int) -> Tensor:
        from tapegrad.functional import cat

        return cat(parts, axis)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Tensor:
        from tapegrad.functional import where

        return where(cond if isinstance(cond, Tensor) else _wrap(np.asarray(cond)), a, b)

    @staticmethod
    def mul_const(g: Tensor, const: Any) -> Tensor:
        if isinstance(const, Tensor):  # relu's mask, standing for its result
            return _run_op(E.ThresholdBackward(), (g, const), (g._data, const._data))
        return g * _wrap(const)


register_tensor_namespace(_TensorNamespace())
