"""``loss.backward()`` while recording: the engine's plain pass, run node by node as the engine
runs it (same order, same sums, same reductions), writing the replay's lines as it goes.

Each node's gradient rule is called on the program's arrays (``op.backward(xp, g, *saved)``,
with what the op saved named by its forward line), so the replay computes exactly what the
engine computes, with the planning (dependency counts, the ready stack, shape checks) done
once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import sum_to
from tapegrad.engine import grad_mode
from tapegrad.engine.backward import _count_dependencies, _one_per_edge, _propagate_plain
from tapegrad.engine.node import AccumulateGrad, Node
from tapegrad.ops.base import ARRAY_NS, Op
from tapegrad.ops.linalg import LinearAddmm
from tapegrad.ops.pointwise import Relu
from tapegrad.recording import OUT
from tapegrad.replay.kernels import FOLDABLE, backward_exprs
from tapegrad.replay.recorder import READS, Recorder, new_array
from tapegrad.tensor import Tensor, _wrap


def fit(grad: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``engine.backward._fit`` on the fast path: sum to the input's shape, cast to its dtype."""
    if grad.shape != shape:
        grad = sum_to(grad, shape)
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def new_grad(leaf: Tensor, grad: np.ndarray) -> np.ndarray:
    """A leaf's first gradient, as ``Tensor._accumulate_grad`` makes it; returns its array."""
    leaf._grad = made = _wrap(np.array(grad, dtype=leaf._data.dtype))
    return made._data


def supported_backward(rec: Recorder, t: Tensor, gradient: Any, retain: Any, create: bool) -> bool:
    """Whether ``t.backward(...)`` is the plain call the recorder can replay."""
    from tapegrad.engine import anomaly, backward

    if gradient is not None or create or retain:
        rec.fail("backward with a gradient, retain_graph or create_graph")
        return False
    if anomaly._state.enabled or backward._observer is not None:
        rec.fail("backward under anomaly mode or a trace")
        return False
    if not rec.is_produced(t) or t.grad_fn is None or t._data.size != 1:
        rec.fail("backward of a tensor the step did not make")
        return False
    return True


class BackwardTrace:
    """One plain backward pass, run and written down."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.buffers: dict[Node, tuple[np.ndarray, str]] = {}
        # constants of the program that no replay changes (the seed, gradients folded from it),
        # by name: whether every element is 1
        self.pure: dict[str, bool] = {}

    def run(self, t: Tensor) -> None:
        """Run ``t.backward()`` (``t`` a scalar made by the step) as the engine would."""
        rec = self.rec
        root = t.grad_fn
        seed = np.ones(t._data.shape, t._data.dtype)
        self.buffers[root] = (seed, rec.const(seed))
        self.pure[self.buffers[root][1]] = True
        deps = _count_dependencies([root])
        ready = [root] if root not in deps else []
        mode = grad_mode._state
        previous, mode.enabled = mode.enabled, False
        rec.emit("_quiet_token = _quiet()")  # np.errstate(all="ignore"), as the engine runs
        rec.emit("try:")
        rec.indent += "    "
        try:
            with np.errstate(all="ignore"):
                while ready and rec.unsupported is None:
                    self._node(ready.pop(), deps, ready)
                if ready and rec.unsupported is not None:
                    # what the recorder gave up on, the engine finishes, from the same state
                    buffers = {node: value for node, (value, _) in self.buffers.items()}
                    _propagate_plain(ready, buffers, deps, False)
        finally:
            mode.enabled = previous
            rec.emit("pass")
            rec.indent = rec.indent[:-4]
            rec.emit("finally:")
            rec.emit("    _loud(_quiet_token)")

    def _node(self, node: Node, deps: dict[Node, int], ready: list[Node]) -> None:
        entry = self.buffers.pop(node, None)
        if entry is not None and not self._node_ok(node):
            self.buffers[node] = entry
            ready.append(node)
            return
        if entry is None:
            outputs: Any = ()
            names: list[str | None] = []
        elif isinstance(node, AccumulateGrad):
            self._accumulate(node, entry)
            return
        else:
            outputs, names = self._op(node, entry)
            if outputs is None:
                return
        if len(outputs) != len(node._edges):
            outputs = _one_per_edge(node, outputs)
            names = [*names, *(None,) * (len(outputs) - len(names))]
        for (child, _), g, name in zip(node._edges, outputs, names):
            if child is None:
                continue
            remaining = deps[child] - 1
            if g is not None:
                if g.shape != child._shape or g.dtype != child._dtype:
                    g_shape, g_dtype = g.shape, g.dtype
                    g = fit(g, child._shape, child._dtype)
                    name = self._emit_fit(name, g_shape, child._shape, child._dtype, g_dtype)
                old = self.buffers.get(child)
                if old is not None:
                    g = old[0] + g
                    total = self.rec.var()
                    self.rec.emit(f"{total} = {old[1]} + {name}", new_array(g))
                    name = total
                if remaining or type(child) is not AccumulateGrad:
                    self.buffers[child] = (g, name)
                else:
                    self.buffers.pop(child, None)
                    self._accumulate(child, (g, name))
                    continue
            deps[child] = remaining
            if not remaining:
                ready.append(child)

    def _emit_fit(
        self, name: str, shape: tuple[int, ...], target: tuple[int, ...], dtype: Any, g_dtype: Any
    ) -> str:
        """A gradient summed to its input's shape: a bias's (rows summed) as one BLAS call
        with a vector of ones (``ones.dot(g)``), any other through ``_fit``."""
        rec = self.rec
        fitted = rec.var()
        if len(shape) == 2 and g_dtype == dtype and dtype.kind == "f":
            rows, cols = shape
            if target in ((1, cols), (cols,)):
                # the engine's own sum (``_array._sum_leading``): a gemv, bit for bit
                ones = rec.const(np.ones(rows, dtype))
                shape = f".reshape({target!r})" if len(target) == 2 else ""
                rec.emit(f"{fitted} = {ones}.dot({name}){shape}", READS)
                return fitted
        rec.emit(f"{fitted} = _fit({name}, {rec.const(target)}, {rec.const(dtype)})")
        return fitted

    def _node_ok(self, node: Node) -> bool:
        """Whether the node and every node it feeds can be written down (checked before it
        runs, so a refusal leaves the pass where the engine can take it over)."""
        rec = self.rec
        if isinstance(node, AccumulateGrad):
            return self._child_ok(node)
        if not isinstance(node, Op) or id(node) not in rec.ops:
            rec.fail(f"{type(node).__name__} was not recorded by the step")
            return False
        if node._pre_hooks or node._post_hooks:
            rec.fail("a hook on the graph")
            return False
        return all(child is None or self._child_ok(child) for child, _ in node._edges)

    def _child_ok(self, child: Node) -> bool:
        rec = self.rec
        if child._pre_hooks or child._post_hooks:
            rec.fail("a hook on the graph")
            return False
        if child._n_out != 1:
            rec.fail("a node with several outputs")
            return False
        if isinstance(child, AccumulateGrad):
            leaf = child._variable()
            if leaf is None or id(leaf) not in rec.walked or leaf._acc is not child:
                rec.fail("a gradient for a tensor the step cannot reach")
                return False
            return True
        if id(child) not in rec.ops:
            rec.fail("a graph recorded before the step")
            return False
        return True

    def _op(self, node: Node, entry: tuple[np.ndarray, str]) -> tuple[Any, list[Any]]:
        rec = self.rec
        saved = self._saved_names(node)
        grad, gname = entry
        outputs = node._run_once(grad)  # what the engine runs, version checks included
        call = f"{rec.const(node.backward)}(_XP, {gname}{''.join(', ' + s for s in saved)})"
        if type(node) is LinearAddmm:
            call = f"{rec.const(node._refold)}({call}, False)"
        if not isinstance(outputs, tuple):
            rec.fail("a backward rule that does not return a tuple")
            return None, []
        names: list[str | None] = []
        for g in outputs:
            if g is not None and not isinstance(g, np.ndarray):
                rec.fail("a gradient that is not an array")
                return None, []
            names.append(None if g is None else rec.var())
        if type(node) in FOLDABLE and gname in self.pure:
            return outputs, self._folded(outputs)
        unit = self.pure.get(gname) is True and all(
            g is None or (g.shape == grad.shape and g.dtype == grad.dtype) for g in outputs
        )
        exprs = backward_exprs(node, gname, saved, outputs, rec.const, unit)
        if id(node) in rec.masks:  # Clamp's mask, made in the forward pass (as eager keeps it)
            exprs = [f"{gname} * {rec.masks[id(node)]}"]
        if exprs is not None and len(exprs) == len(outputs):
            for i, (expr, g) in enumerate(zip(exprs, outputs)):
                if g is None or expr is None:
                    names[i] = None
                elif expr == gname:
                    names[i] = gname  # the incoming gradient passed on (add's rule)
                else:
                    rec.emit(f"{names[i]} = {expr}", new_array(g))
            return outputs, names
        targets = "".join(f"{'_' if n is None else n}, " for n in names)
        rec.emit(f"{targets or '_'} = {call}" if targets else call)
        return outputs, names

    def _folded(self, outputs: tuple[Any, ...]) -> list[str | None]:
        """Gradients computed from a constant gradient alone: constants of the program."""
        names: list[str | None] = []
        for g in outputs:
            name = None if g is None else self.rec.const(g)
            if name is not None:
                self.pure[name] = bool((g == 1).all())
            names.append(name)
        return names

    def _saved_names(self, op: Op) -> list[str]:
        args, out = self.rec.ops[id(op)]
        names = []
        for pos, needed_by in op._save_plan:
            if needed_by is not None and op._edges[needed_by][0] is None:
                names.append("None")
            elif pos == OUT and op.pack_out is Relu.pack_out:
                names.append(f"({out} != 0)")  # what ``Relu.pack_out`` computes
            elif pos == OUT:
                names.append(
                    out if op.pack_out is None else f"{self.rec.const(op.pack_out)}({out})"
                )
            else:
                names.append(args[pos])
        return names

    def _accumulate(self, node: AccumulateGrad, entry: tuple[np.ndarray, str]) -> None:
        rec = self.rec
        grad, gname = entry
        leaf = node._variable()
        if leaf is None:
            return
        current = leaf._grad
        if current is None:
            node._run(grad, False)
            name = rec.var()
            rec.emit(f"{name} = _new_grad({rec.const(leaf)}, {gname})", READS)
            rec.produce(leaf._grad, name)
            return
        if current.grad_fn is not None or not current._data.flags.writeable:
            rec.fail("a .grad that is not a plain writeable tensor")
            node._run(grad, False)
            return
        target = rec.tensor_name(current)
        node._run(grad, False)
        rec.emit(f"_add({target}, {gname}, {target})", READS)
        rec.bump(current._vc)


XP = ARRAY_NS
