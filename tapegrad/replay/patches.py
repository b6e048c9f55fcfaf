"""While a step is recorded (and only then), tapegrad's entry points report to the recorder.

The recording functions (``_run_op``, ``_finish``, ``_inplace``, the ``_foreach`` updates,
``run_backward``) are swapped, in every tapegrad module that imported them, for versions that
do the same work and tell the recorder; ``Tensor.backward`` and the methods that turn a tensor
into a Python value are wrapped likewise. Everything is put back when the step returns, so the
eager path pays nothing for compile.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from tapegrad import inplace, promotion, recording
from tapegrad._flat import FlatGrads
from tapegrad.engine import backward as engine_backward
from tapegrad.ops import arithmetic, conversion, dropout, normalization, reduce
from tapegrad.ops.copying import _fill_kernel
from tapegrad.promotion import _operand
from tapegrad.replay.backward_trace import BackwardTrace, supported_backward
from tapegrad.replay.recorder import Recorder, new_array
from tapegrad.tensor import Tensor, _wrap

_VALUE_METHODS = (
    "item",
    "tolist",
    "numpy",
    "__float__",
    "__int__",
    "__bool__",
    "__index__",
    "__array__",
    "__complex__",
)

_active: list[Recorder] = []  # the recorder of the step being recorded (one at a time)

# Methods a replay calls again rather than recording what they do: ``(class, name)``. Such a
# method may change tensors only in place and must read its state when it runs (the
# optimizers register ``step``; their ``state`` is left out of the guards).
HOST_METHODS: list[tuple[type, str]] = [(FlatGrads, "sgd_step")]


def replayed_by_calling(cls: type, name: str) -> None:
    """Register ``cls.name`` as a method each replay calls again (see ``HOST_METHODS``)."""
    if (cls, name) not in HOST_METHODS:
        HOST_METHODS.append((cls, name))


def _host_method(original: Any) -> Any:
    def method(self: Any, *args: Any) -> Any:
        rec = _active[-1]
        if rec.paused:
            return original(self, *args)
        before = rec.counters()
        rec.depth += 1
        try:
            result = original(self, *args)
        finally:
            rec.depth -= 1
        if result is not None:
            rec.fail(f"{type(self).__name__}.{original.__name__} returned a value")
        rec.host_call(self, original, args, before)
        return result

    method.__name__ = original.__name__
    method.__wrapped__ = original  # type: ignore[attr-defined]  # (see optim's _wrap_step)
    return method


def callback(fn: Any, *tensors: Tensor) -> None:
    """Call ``fn`` with the arrays of ``tensors``, now and again at this point of every replay
    of a compiled step (e.g. a check that raises). ``fn`` must not change the arrays."""
    if _active and not _active[-1].paused:
        _active[-1].callback(fn, tensors)
    fn(*(t._data for t in tensors))


def _run_op(op: Any, inputs: Any, arrays: Any, **meta: Any) -> Tensor:
    result = _ORIGINAL["_finish"](op, inputs, arrays, op.forward(*arrays, **meta))
    if not _active[-1].paused:
        _active[-1].forward(op, inputs, arrays, result, meta)
    return result


def _finish(op: Any, inputs: Any, arrays: Any, out: Any) -> Tensor:
    result = _ORIGINAL["_finish"](op, inputs, arrays, out)
    if not _active[-1].paused:
        _active[-1].forward(op, inputs, arrays, result, {})
    return result


def _record(op: Any, inputs: Any, arrays: Any, out: Any) -> Tensor:
    result = _ORIGINAL["_record"](op, inputs, arrays, out)
    if not _active[-1].paused:
        _active[-1].forward(op, inputs, arrays, result, {})
    return result


def _inplace(t: Tensor, ufunc: Any, record: Any, other: Any) -> Tensor:
    rec = _active[-1]
    if rec.paused:
        return _ORIGINAL["_inplace"](t, ufunc, record, other)
    if inplace._recorded_inplace(t, other):
        rec.fail("an in-place change recorded in the graph")
        return _ORIGINAL["_inplace"](t, ufunc, record, other)
    if isinstance(other, Tensor) and np.may_share_memory(other._data, t._data):
        rec.fail("an in-place change reading its own target")
        return _ORIGINAL["_inplace"](t, ufunc, record, other)
    # a numpy ufunc or a fill repeats by construction; another kernel is checked by the
    # recorder, which runs it again on the values from before
    before = None if isinstance(ufunc, np.ufunc) or ufunc is _fill_kernel else t._data.copy()
    result = _ORIGINAL["_inplace"](t, ufunc, record, other)
    rec.inplace(t, ufunc, other, before)
    return result


def _apply_mask(x: Tensor, p: float, training: bool, inplace: bool, shape: Any) -> Tensor:
    """Dropout, with its mask drawn by a line of the program (each replay draws a new one
    from the default generator at the same point, as eager does)."""
    rec = _active[-1]
    if rec.paused or inplace or p in (0, 1) or not training or x.numel() == 0:
        return _ORIGINAL["_apply_mask"](x, p, training, inplace, shape)
    dtype = x._data.dtype
    mask = _wrap(dropout.draw_mask(shape, p, dtype))
    name = rec.var()
    args = ", ".join(rec.const(value) for value in (shape, p, dtype))
    rec.emit(f"{name} = {rec.const(dropout.draw_mask)}({args})", new_array(mask._data))
    rec.draws.append(shape)
    rec.produce(mask, name)
    return x * mask


def _batch_stats(x: Any, running_mean: Any, running_var: Any, momentum: Any) -> None:
    """Batch norm's update of its running statistics (numpy on the batch, ``copy_`` into the
    buffers), called again by each replay at this point."""
    rec = _active[-1]
    name = None if rec.paused else rec.array_name(x)
    buffers = [t for t in (running_mean, running_var) if t is not None]
    if name is None or any(id(t) not in rec.walked for t in buffers):
        if not rec.paused:
            rec.fail("batch norm statistics the recorder cannot name")
        return _ORIGINAL["_batch_stats"](x, running_mean, running_var, momentum)
    before = rec.counters()
    rec.depth += 1
    try:
        _ORIGINAL["_batch_stats"](x, running_mean, running_var, momentum)
    finally:
        rec.depth -= 1
    args = [name, *(rec.const(value) for value in (running_mean, running_var, momentum))]
    rec.call_again(_ORIGINAL["_batch_stats"], args, before)


def _compare(ufunc: Any, a: Tensor, b: Any) -> Tensor:
    """A comparison (a bool tensor outside the graph), written as its ufunc on the arrays."""
    result = _ORIGINAL["_compare"](ufunc, a, b)
    rec = _active[-1]
    if not rec.paused:
        b = _operand(b)
        operands = [rec.operand(v, v._data if isinstance(v, Tensor) else v) for v in (a, b)]
        _produced_by(rec, result, f"{rec.const(ufunc)}({', '.join(operands)})")
    return result


def _arg_extreme(self: Tensor, find: Any, name: str, dim: Any, keepdim: bool) -> Tensor:
    """``argmax``/``argmin`` along a dimension, written as the numpy call it makes."""
    result = _ORIGINAL["_arg_extreme"](self, find, name, dim, keepdim)
    rec = _active[-1]
    if not rec.paused and dim is not None and self.ndim:
        axis = rec.const(dim % self.ndim)
        call = f"{rec.const(find)}({rec.tensor_name(self)}, axis={axis}, keepdims={keepdim})"
        _produced_by(rec, result, f"_asarray({call}, dtype={rec.const(np.dtype(np.int64))})")
    return result


def _cast(t: Tensor, target: Any, copy: bool) -> Tensor:
    """A dtype cast; one to an integer or bool dtype (outside the graph) written as astype."""
    result = _ORIGINAL["_cast"](t, target, copy)
    rec = _active[-1]
    if not rec.paused and result is not t and not rec.is_produced(result):
        _produced_by(rec, result, f"{rec.tensor_name(t)}.astype({rec.const(target)})")
    return result


def _produced_by(rec: Recorder, result: Tensor, expr: str) -> None:
    name = rec.var()
    rec.emit(f"{name} = {expr}", new_array(result._data))
    rec.produce(result, name)


def _scaled(other: Any, alpha: Any) -> Any:
    """``arithmetic._scaled`` as a recorded product (the same numbers, seen by the recorder)."""
    return _operand(other) * alpha


def _foreach_sub_(tensors: Any, others: Any, alpha: float = 1) -> None:
    if _active[-1].paused:
        return _ORIGINAL["foreach_sub_"](tensors, others, alpha=alpha)
    for t, other in zip(tensors, others):  # the general path of ``foreach_sub_``
        t.sub_(other, alpha=alpha)


def _foreach_zero_(tensors: Any) -> None:
    if _active[-1].paused:
        return _ORIGINAL["foreach_zero_"](tensors)
    for t in tensors:
        t.zero_()


def _run_backward(*args: Any, **kwargs: Any) -> Any:
    if not _active[-1].paused:
        _active[-1].fail("a backward pass other than loss.backward() (autograd.grad, hooks...)")
    return _ORIGINAL["run_backward"](*args, **kwargs)


def _backward(
    self: Tensor, gradient: Any = None, retain_graph: Any = None, create_graph: bool = False
) -> None:
    rec = _active[-1]
    if not rec.paused and supported_backward(rec, self, gradient, retain_graph, create_graph):
        BackwardTrace(rec).run(self)
        return
    _ORIGINAL_METHODS["backward"](self, gradient, retain_graph, create_graph)


def _grad_property() -> property:
    """``Tensor.grad`` whose setter and deleter tell the recorder (``zero_grad()`` sets None)."""
    original = Tensor.__dict__["grad"]

    def set_grad(self: Tensor, value: Any) -> None:
        if not _active[-1].paused:
            _active[-1].grad_set(self, value)
        original.fset(self, value)

    def del_grad(self: Tensor) -> None:
        if not _active[-1].paused:
            _active[-1].grad_set(self, None)
        original.fdel(self)

    return property(original.fget, set_grad, del_grad, original.__doc__)


def _value_method(name: str) -> Any:
    original = _ORIGINAL_METHODS[name]

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not _active[-1].paused:
            _active[-1].fail(f"Tensor.{name}() inside the step (a value Python reads)")
        return original(self, *args, **kwargs)

    method.__name__ = name
    return method


_ORIGINAL: dict[str, Any] = {
    "_run_op": recording._run_op,
    "_finish": recording._finish,
    "_record": recording._record,
    "_inplace": inplace._inplace,
    "foreach_sub_": inplace.foreach_sub_,
    "foreach_zero_": inplace.foreach_zero_,
    "run_backward": engine_backward.run_backward,
    "_scaled": arithmetic._scaled,
    "_apply_mask": dropout._apply_mask,
    "_batch_stats": normalization._batch_stats,
    "_compare": promotion._compare,
    "_arg_extreme": reduce._arg_extreme,
    "_cast": conversion._cast,
}
_REPLACEMENT: dict[int, Any] = {
    id(recording._run_op): _run_op,
    id(recording._finish): _finish,
    id(recording._record): _record,
    id(inplace._inplace): _inplace,
    id(inplace.foreach_sub_): _foreach_sub_,
    id(inplace.foreach_zero_): _foreach_zero_,
    id(engine_backward.run_backward): _run_backward,
    id(arithmetic._scaled): _scaled,
    id(dropout._apply_mask): _apply_mask,
    id(normalization._batch_stats): _batch_stats,
    id(promotion._compare): _compare,
    id(reduce._arg_extreme): _arg_extreme,
    id(conversion._cast): _cast,
}
_ORIGINAL_METHODS: dict[str, Any] = {
    name: Tensor.__dict__[name]
    for name in ("backward", "grad", *_VALUE_METHODS)
    if name in Tensor.__dict__
}


_site_cache: dict[str, Any] = {"modules": -1, "sites": []}


def _sites() -> list[tuple[Any, str]]:
    """Where tapegrad's modules hold the functions to swap (found once, again when modules
    were imported since)."""
    if _site_cache["modules"] == len(sys.modules):
        sites = _site_cache["sites"]
        if all(id(getattr(module, attr, None)) in _ORIGINAL_BY_ID for module, attr in sites):
            return sites
    sites = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "tapegrad" or name.startswith("tapegrad.")):
            continue
        if name.startswith("tapegrad.replay"):
            continue
        for attr, value in list(vars(module).items()):
            if name == "tapegrad.recording" and attr == "_record":
                continue  # ``_finish`` calls it: recorded there already
            if id(value) in _REPLACEMENT and _ORIGINAL_BY_ID.get(id(value)) is value:
                sites.append((module, attr))
    _site_cache.update(modules=len(sys.modules), sites=sites)
    return sites


@contextlib.contextmanager
def recording_into(rec: Recorder) -> Iterator[None]:
    """Report every tapegrad operation to ``rec`` inside the block."""
    swapped = [(module, attr, getattr(module, attr)) for module, attr in _sites()]
    for module, attr, value in swapped:
        setattr(module, attr, _REPLACEMENT[id(value)])
    methods: dict[str, Any] = {"backward": _backward, "grad": _grad_property()}
    methods.update({n: _value_method(n) for n in _VALUE_METHODS if n in _ORIGINAL_METHODS})
    hosts = [(cls, name, cls.__dict__[name]) for cls, name in HOST_METHODS]
    _active.append(rec)
    try:
        for name, method in methods.items():
            setattr(Tensor, name, method)
        for cls, name, original in hosts:
            setattr(cls, name, _host_method(original))
        yield
    finally:
        _active.pop()
        for cls, name, original in hosts:
            setattr(cls, name, original)
        for name in methods:
            setattr(Tensor, name, _ORIGINAL_METHODS[name])
        for module, attr, value in swapped:
            setattr(module, attr, value)


_ORIGINAL_BY_ID = {id(fn): fn for fn in _ORIGINAL.values()}
