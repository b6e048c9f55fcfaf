"""Walk a backward graph into plain data (``walk``): the records, their plain-data summaries
of saved values and attributes, the names given to tensors and the per-node descriptions.

``tapegrad.autograd.graph`` re-exports everything public here; import from there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tapegrad.autograd.function import BackwardCFunction
from tapegrad.autograd.graph_model import (
    BACKWARD,
    INPUT,
    LEAF,
    OUTPUT,
    Graph,
    GraphEdge,
    GraphNode,
    SavedValue,
)
from tapegrad.engine.node import AccumulateGrad, Node

OUT = -1  # the position ops use in ``saves`` for their own result
_SAVED_NAMES = {0: "self", 1: "other", OUT: "result"}
_HIDDEN_ATTRS = {"node_name", "is_view", "needs_input_grad", "saved", "saves"}
_MAX_LIST = 8

DESCRIPTIONS: dict[str, str] = {
    "AccumulateGrad": "Adds the incoming gradient into the leaf's .grad (it accumulates "
    "across backward calls until zeroed).",
    "AddBackward0": "Passes the gradient unchanged to both summands (summed back over any "
    "broadcast dimensions).",
    "SubBackward0": "Passes the gradient to the first operand and its negation to the second.",
    "RsubBackward1": "Negates the gradient (scalar minus tensor).",
    "MulBackward0": "Multiplies the gradient by the other factor, for each factor that needs "
    "a gradient.",
    "DivBackward0": "Divides the gradient by the denominator for the numerator, and scales it "
    "by -numerator/denominator² for the denominator.",
    "NegBackward0": "Negates the gradient.",
    "RemainderBackward0": "Passes the gradient unchanged (x % number).",
    "RemainderBackward1": "Passes the gradient to the dividend and -floor(a / b) times it to "
    "the divisor.",
    "DivBackward2": "Gives 0 to both inputs: a rounded quotient is piecewise constant.",
    "DivBackward1": "Divides the gradient by the same number (a loss's mean over the batch).",
    "PowBackward0": "Multiplies the gradient by exponent · x^(exponent - 1), using the saved "
    "base x.",
    "PowBackward1": "Gives the base g · b · a^(b - 1) and the exponent g · a^b · log(a).",
    "PowBackward2": "Multiplies the gradient by the saved result times log(base).",
    "ExpBackward0": "Multiplies the gradient by the saved result exp(x).",
    "LogBackward0": "Divides the gradient by the saved input x.",
    "SqrtBackward0": "Divides the gradient by twice the saved result sqrt(x).",
    "AbsBackward0": "Multiplies the gradient by sign(x) (0 where x is 0).",
    "TanhBackward0": "Multiplies the gradient by 1 - tanh(x)², using the saved result.",
    "SigmoidBackward0": "Multiplies the gradient by s · (1 - s), s being the saved result.",
    "ReluBackward0": "Lets the gradient through where the result was nonzero (positive or "
    "NaN), 0 elsewhere.",
    "SignBackward0": "Gives 0: sign is piecewise constant.",
    "ThresholdBackwardBackward0": "relu's backward, recorded: masks the gradient where relu's "
    "result was 0 (and gives that result 0).",
    "ReciprocalBackward0": "Multiplies the gradient by -r², r being the saved result 1/x.",
    "FillBackward2": "Gives the overwritten values 0: the result no longer depends on them.",
    "FillBackward3": "Gives the overwritten values 0 and the fill value the sum of the gradient.",
    "ZeroBackward0": "Gives the zeroed values 0: the result no longer depends on them.",
    "MseLossBackward0": "Gives the input 2 · (input - target) · g (divided by the element "
    "count for the mean) and the target the negation.",
    "NllLossBackward0": "Places -g (divided by the counted rows for the mean) at each row's "
    "target class, 0 elsewhere.",
    "ClampBackward1": "Lets the gradient through where x was within [min, max], 0 where it "
    "was clamped.",
    "MaximumBackward0": "Sends the gradient to whichever input was larger (split evenly on ties).",
    "MinimumBackward0": "Sends the gradient to whichever input was smaller (split evenly on ties).",
    "WhereBackward0": "Routes the gradient to the first input where the condition held and to "
    "the second elsewhere.",
    "CloneBackward0": "Passes the gradient through unchanged.",
    "ToCopyBackward0": "Passes the gradient through, cast back to the input's dtype.",
    "CopyBackwards": "Sends the gradient to the copied source; the overwritten values get 0.",
    "SumBackward0": "Copies the gradient to every input element (each term of a sum has "
    "derivative 1).",
    "SumBackward1": "Copies the gradient back over the summed dimensions.",
    "MeanBackward0": "Spreads the gradient evenly over every input element (divides it by "
    "their count).",
    "MeanBackward1": "Spreads the gradient evenly over the averaged dimensions.",
    "MaxBackward1": "Sends the gradient to the largest element(s), split evenly between ties.",
    "MinBackward1": "Sends the gradient to the smallest element(s), split evenly between ties.",
    "MaxBackward0": "Sends the gradient to the position the maximum was taken from, along dim.",
    "MinBackward0": "Sends the gradient to the position the minimum was taken from, along dim.",
    "LogsumexpBackward0": "Multiplies the gradient by softmax(x) = exp(x - result).",
    "SoftmaxBackward0": "Applies the softmax Jacobian: s · (g - sum(g · s)) along dim.",
    "LogSoftmaxBackward0": "Computes g - softmax(x) · sum(g) along dim.",
    "MmBackward0": "Multiplies the gradient by the other matrix transposed: g @ Bᵀ for A, "
    "Aᵀ @ g for B.",
    "MvBackward0": "Gives the matrix the outer product g ⊗ v and the vector Aᵀ @ g.",
    "DotBackward0": "Scales each vector's gradient: g times the other vector.",
    "SqueezeBackward4": "Matrix-product gradient of vector @ matrix: g @ Bᵀ for the vector, "
    "v ⊗ g for the matrix.",
    "UnsafeViewBackward0": "Reshapes the gradient back to the input's shape (for a batched "
    "matmul: the batched product gradients, summed over broadcast batches).",
    "ViewBackward0": "Reshapes the gradient back to the input's shape.",
    "AliasBackward0": "Passes the gradient through unchanged (the same data, a new tensor).",
    "PermuteBackward0": "Permutes the gradient's dimensions back (the inverse permutation).",
    "TransposeBackward0": "Swaps the two dimensions of the gradient back.",
    "TBackward0": "Transposes the gradient back.",
    "SqueezeBackward0": "Reshapes the gradient back, restoring the removed size-1 dimensions.",
    "SqueezeBackward1": "Reshapes the gradient back, restoring the removed size-1 dimension.",
    "UnsqueezeBackward0": "Reshapes the gradient back, dropping the inserted size-1 dimension.",
    "ExpandBackward0": "Sums the gradient over the expanded (broadcast) dimensions.",
    "SelectBackward0": "Places the gradient at the selected index of a zero tensor shaped like "
    "the input.",
    "SliceBackward0": "Places the gradient in the selected slice of a zero tensor shaped like "
    "the input.",
    "IndexBackward0": "Adds the gradient into a zero tensor at the indexed positions (repeated "
    "indices accumulate).",
    "IndexPutBackward0": "Picks the indexed positions out of the gradient.",
    "CatBackward0": "Splits the gradient back into the pieces that were concatenated.",
    "StackBackward0": "Unstacks the gradient into one slice per stacked input.",
}
INPUT_DESCRIPTION = "Gets no gradient: a constant, or a tensor with requires_grad=False."
CUSTOM_DESCRIPTION = "Calls the custom Function's backward() with the saved context."


# ============================================================================ the walk


Names = Mapping[Any, Any] | Iterable[tuple[str, Any]]


def walk(root: Any, names: Names | None = None) -> Graph:
    """Follow ``next_functions`` from ``root`` (a Node, or a Tensor's ``grad_fn``).

    ``names`` labels tensors: a mapping ``{tensor: "x1"}`` (or ``{id(tensor): "x1"}``,
    or ``{"x1": tensor}``), or pairs such as ``model.named_parameters()``. Leaves are
    matched through their AccumulateGrad, non-leaves through their ``grad_fn``, and inputs
    that need no gradient through the arrays their consumer saved.
    """
    root_node = _root_node(root)
    labels = _Labels(names)
    nodes = [_describe(root_node, 0, 0, OUTPUT, labels)]
    index_of: dict[int, int] = {id(root_node): 0}
    inputs_seen: dict[int, int] = {}
    edges: list[GraphEdge] = []
    queue: deque[Node] = deque([root_node])
    while queue:
        node = queue.popleft()
        source = index_of[id(node)]
        depth = nodes[source].depth + 1
        for position, (child, out_index) in enumerate(node.next_functions):
            if child is None:
                target = _input_node(node, position, depth, labels, nodes, inputs_seen)
            elif id(child) in index_of:
                target = index_of[id(child)]
            else:
                target = index_of[id(child)] = len(nodes)
                kind = LEAF if isinstance(child, AccumulateGrad) else BACKWARD
                nodes.append(_describe(child, target, depth, kind, labels))
                queue.append(child)
            edges.append(GraphEdge(source, target, out_index, position))
    return Graph(nodes, edges)


def _root_node(root: Any) -> Node:
    if isinstance(root, Node):
        return root
    grad_fn = getattr(root, "grad_fn", None)
    if grad_fn is None:
        raise ValueError(
            "walk() needs a grad_fn: this tensor has none (it is a leaf, or was computed "
            "without grad mode or from tensors that do not require grad)"
        )
    return grad_fn


class _Labels:
    """Names for tensors, looked up by tensor id, by array id and by grad_fn."""

    def __init__(self, names: Names | None) -> None:
        self.by_tensor: dict[int, str] = {}
        self.by_array: dict[int, str] = {}
        self.by_node: dict[int, str] = {}
        if names is None:
            return
        pairs = names.items() if isinstance(names, Mapping) else names
        for key, value in pairs:
            if isinstance(key, str):
                key, value = value, key
            self.add(key, value)

    def add(self, tensor: Any, name: str | None) -> None:
        if name is None:
            return
        if isinstance(tensor, int):
            self.by_tensor.setdefault(tensor, name)
            return
        self.by_tensor.setdefault(id(tensor), name)
        data = getattr(tensor, "_data", None)
        if isinstance(data, np.ndarray):
            self.by_array.setdefault(id(data), name)
        grad_fn = getattr(tensor, "grad_fn", None)
        if grad_fn is not None and getattr(tensor, "_output_nr", 0) == 0:
            self.by_node.setdefault(id(grad_fn), name)

    def of(self, node: Node) -> str | None:
        if isinstance(node, AccumulateGrad):
            return self.by_tensor.get(id(node.variable))
        return self.by_node.get(id(node))


def _describe(node: Node, node_id: int, depth: int, kind: str, labels: _Labels) -> GraphNode:
    """Plain-data summary of one Node."""
    shape, dtype = _output_meta(node)
    name = node.name()
    if isinstance(node, BackwardCFunction):
        description = DESCRIPTIONS.get(name, CUSTOM_DESCRIPTION)
    else:
        description = DESCRIPTIONS.get(name, _fallback_description(name))
    return GraphNode(
        id=node_id,
        name=name,
        kind=kind,
        shape=shape,
        dtype=dtype,
        depth=depth,
        label=labels.of(node),
        saved=[] if kind == LEAF else _saved_values(node, labels),
        attrs={} if kind == LEAF else _attributes(node),
        description=description,
        node=node,
    )


def _fallback_description(name: str) -> str:
    op = name.split("Backward")[0] or name
    return f"Computes the gradient of {op} with respect to each input that needs one."


def _output_meta(node: Node) -> tuple[list[int] | None, str | None]:
    try:
        shape, dtype = node._meta(0)
    except (AttributeError, IndexError, TypeError):
        return None, None
    return list(shape), np.dtype(dtype).name


def _saved_values(node: Node, labels: _Labels) -> list[SavedValue] | None:
    """What the node keeps for backward; None when backward already freed it."""
    if isinstance(node, BackwardCFunction):
        if getattr(node, "_released", False):
            return None
        tensors = getattr(node, "_saved", ())
        return [
            _saved_value(f"saved_tensors[{i}]", getattr(t, "_data", t), labels)
            for i, t in enumerate(tensors)
        ]
    saves = getattr(node, "saves", ())
    if not saves:
        return []
    saved = getattr(node, "saved", None)
    if saved is None:
        return None
    return [
        _saved_value(_saved_name(node, pos), value, labels)
        for pos, value in zip(saves, saved)
        if value is not None  # not kept: no input needed it (as PyTorch's None)
    ]


def _saved_name(node: Node, pos: int) -> str:
    if pos == OUT:
        return getattr(node, "packed_name", "result")  # e.g. ReLU keeps only "result != 0"
    return _SAVED_NAMES.get(pos, f"input{pos}")


def _saved_value(name: str, value: Any, labels: _Labels) -> SavedValue:
    if isinstance(value, np.ndarray) and value.ndim:
        label = labels.by_array.get(id(value))
        return SavedValue(name, list(value.shape), value.dtype.name, label=label)
    if isinstance(value, np.ndarray):  # 0-d: show the number, as PyTorch's tensor(3.)
        label = labels.by_array.get(id(value))
        return SavedValue(name, [], value.dtype.name, _plain(value[()]), label)
    return SavedValue(name, value=_plain(value))


def _attributes(node: Node) -> dict[str, Any]:
    """Per-op metadata (exponent, axes, keepdim, ...) set in forward, as plain values."""
    attrs = getattr(node, "__dict__", {})
    return {
        k: _plain(v) for k, v in attrs.items() if not k.startswith("_") and k not in _HIDDEN_ATTRS
    }


def _plain(value: Any) -> Any:
    """A JSON-friendly stand-in for an attribute value (one level of list or tuple)."""
    if isinstance(value, list | tuple):
        items = [_plain_item(v) for v in value[:_MAX_LIST]]
        return items + ["..."] if len(value) > _MAX_LIST else items
    return _plain_item(value)


def _plain_item(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.floating):
        return float(str(value))  # float32 3.1 stays 3.1, not 3.0999999046325684
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.size <= _MAX_LIST:
            return value.tolist()
        return f"array[{', '.join(map(str, value.shape))}] {value.dtype.name}"
    if isinstance(value, slice):
        parts = [value.start, value.stop] + ([value.step] if value.step is not None else [])
        return ":".join("" if p is None else str(p) for p in parts)
    if value is Ellipsis:
        return "..."
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _input_node(
    consumer: Node,
    position: int,
    depth: int,
    labels: _Labels,
    nodes: list[GraphNode],
    seen: dict[int, int],
) -> int:
    """A node for a ``(None, 0)`` edge, described from what the consumer saved of it."""
    value = _saved_input(consumer, position)
    saved = _saved_value("input", value, labels) if value is not None else SavedValue("input")
    if isinstance(value, np.ndarray) and saved.label is not None and id(value) in seen:
        return seen[id(value)]
    node = GraphNode(
        id=len(nodes),
        name="None",
        kind=INPUT,
        shape=saved.shape,
        dtype=saved.dtype,
        depth=depth,
        label=saved.label,
        saved=[],
        attrs={} if saved.value is None else {"value": saved.value},
        description=INPUT_DESCRIPTION,
    )
    nodes.append(node)
    if isinstance(value, np.ndarray) and saved.label is not None:
        seen[id(value)] = node.id
    return node.id


def _saved_input(consumer: Node, position: int) -> Any:
    saves = getattr(consumer, "saves", ())
    saved = getattr(consumer, "saved", None) if saves else None
    if saved is None or position not in saves:
        return None
    return saved[saves.index(position)]
