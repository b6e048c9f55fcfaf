"""Tensor: a numpy array plus what autograd needs (requires_grad, grad, grad_fn, version).

This module holds the data, the attributes and the autograd methods. Operations are bound
onto the class by ``tapegrad.ops`` from their declarations; recording lives in
``tapegrad.recording``.
"""

from __future__ import annotations

import builtins
import copy
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import _inplace_shape_error, _type_name, normalize_dim
from tapegrad._conversion import _to_array
from tapegrad._dtypes import _FLOAT_KIND, _scalar_type_name, _torch_dtype_name
from tapegrad._printing import format_tensor
from tapegrad.engine.backward import run_backward
from tapegrad.engine.node import AccumulateGrad, Node, _RemovableHandle, register_tensor_adapter

# torch words its requires_grad errors by the call: factories, the setter, requires_grad_()
FLOAT_OR_COMPLEX_ONLY = "Only Tensors of floating point and complex dtype can require gradients"
SETTER_FLOAT_OR_COMPLEX_ONLY = (
    "only Tensors of floating point and complex dtype can require gradients"
)
FLOAT_ONLY = "only Tensors of floating point dtype can require gradients"
NON_LEAF_REQUIRES_GRAD = "you can only change requires_grad flags of leaf variables."
NON_LEAF_NO_GRAD = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = "
    "var.detach()."
)
NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)
DEEPCOPY_NON_LEAF = (
    "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at "
    "the moment. Use t.detach().clone() to copy a computed tensor."
)
# What autograd keeps in a tensor's __dict__: never copied or pickled (user attributes are).
_AUTOGRAD_ATTRIBUTES = frozenset(
    {"_grad", "_acc", "_hooks", "_retains_grad", "_is_view", "_views", "_base"}
)


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

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

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
        _general_backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

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
        elif current.grad_fn is None:
            data = current._data
            try:
                np.add(data, grad, data)  # ``out`` positionally: keywords cost 0.3 us a call
            except ValueError:
                if not data.flags.writeable:  # checked only now: ``flags`` costs a call
                    self._grad = _wrap(data + grad)
                    return
                # a .grad left from before .data changed shape
                raise RuntimeError(_inplace_shape_error(data.shape, grad.shape)) from None
            current._vc[0] += 1
        else:
            self._grad = _wrap(current._data + grad)


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


def _general_backward(*args: Any, **kwargs: Any) -> None:
    """``tapegrad.autograd.backward``, handed down by it (``register_backward``)."""
    raise RuntimeError("tapegrad.autograd is not imported")


def register_backward(backward: Callable[..., None]) -> None:
    """Called by ``tapegrad.autograd``: what ``Tensor.backward`` runs beyond the common case."""
    global _general_backward
    _general_backward = backward


register_tensor_adapter(Tensor, _wrap)
