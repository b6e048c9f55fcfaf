"""``Optimizer``: parameter groups, per-parameter state and checkpointing, as ``torch.optim``."""

from __future__ import annotations

import copy
import itertools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from tapegrad.engine.grad_mode import enable_grad, no_grad
from tapegrad.factories import from_numpy
from tapegrad.nn.parameter import zero_grads
from tapegrad.tensor import Tensor

# State entries kept as Python numbers, not tensors (torch keeps a 0-d tensor).
_SCALAR_STATE = ("step",)


class _Required:
    """Marks a hyperparameter every parameter group must give (e.g. SGD's ``lr``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with ``params`` and hyperparameters) and
    ``state`` (per-parameter buffers); subclasses implement ``step``."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        """Build the groups from an iterable of Tensors or of dicts with a ``params`` entry."""
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got tapegrad.Tensor"
            )
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; missing hyperparameters take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for param in group["params"]:
            _check_param(param)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            group.setdefault(name, default)
        ids = [id(p) for p in group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error",
                UserWarning,
                stacklevel=3,
            )
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every optimized tensor: to None, or to zeros in place."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        self._update(param, group)
        return loss

    def _update(self, param: Tensor, group: dict[str, Any]) -> None:
        """Update one parameter in place from its gradient; each optimizer defines it."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``.

        Parameters are numbered across groups in order, as torch does; state values are the
        live buffers (copy them to keep a snapshot).
        """
        index: dict[int, int] = {}
        groups = []
        counter = itertools.count()
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for param in group["params"]:
                i = index.setdefault(id(param), next(counter))
                packed["params"].append(i)
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and buffers saved by ``state_dict`` (values may be Tensors or
        numpy arrays, e.g. a converted torch optimizer state); buffers are copied."""
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(
            len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved_groups)
        ):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                itertools.chain.from_iterable(g["params"] for g in saved_groups),
                itertools.chain.from_iterable(g["params"] for g in self.param_groups),
            )
        )
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, entries in state_dict["state"].items():
            param = id_map.get(int(key))
            if param is None:
                state[key] = entries
                continue
            state[param] = {name: _cast(param, key, name, v) for name, v in entries.items()}
        # Hyperparameters absent from the checkpoint keep their current values.
        self.param_groups = [
            {**group, **saved, "params": group["params"]}
            for group, saved in zip(self.param_groups, saved_groups)
        ]
        self.state = state

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _check_param(param: Any) -> None:
    if not isinstance(param, Tensor):
        raise TypeError(
            f"optimizer can only optimize Tensors, but one of the params is {type(param).__name__}"
        )
    if not param.is_leaf:
        raise ValueError("can't optimize a non-leaf Tensor")


def _cast(param: Tensor, index: Any, name: str, value: Any) -> Any:
    """A private copy of one saved state entry, as a Tensor of the parameter's dtype."""
    if name in _SCALAR_STATE:
        return np.asarray(value).item() if hasattr(value, "__array__") else value
    if not isinstance(value, Tensor) and not hasattr(value, "__array__"):
        return copy.deepcopy(value)
    array = np.array(value._data if isinstance(value, Tensor) else value, dtype=param._data.dtype)
    if array.shape != param.shape:
        raise ValueError(
            f"loaded state for parameter {index} has '{name}' of shape {array.shape}, but the "
            f"parameter has shape {param.shape}"
        )
    return from_numpy(array)
