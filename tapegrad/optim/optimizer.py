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
from tapegrad.replay.patches import replayed_by_calling
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
    ``state`` (per-parameter buffers); subclasses implement ``_update`` (one parameter's
    step, on its arrays) and may create state up front in ``_init_state``."""

    # A compiled step's replay calls ``step`` again (it reads ``state`` then), so the guards
    # leave ``state`` out: its step counts and buffers change every step.
    _replay_unguarded = ("state",)
    # ... and, for a step compiled by a caller that vouches no other code in it reads them
    # (``tapegrad train``), ``param_groups``: a schedule's new rate needs no new recording
    _replay_read_when_run = ("param_groups", "defaults")

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
        """Add a group (the dict itself, as torch); missing hyperparameters take the
        optimizer's defaults. ``params`` may hold ``(name, tensor)`` pairs, as
        ``named_parameters()`` gives: the names are kept in ``param_names``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        group = param_group
        params = group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        params = [params] if isinstance(params, Tensor) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        group["params"] = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            group["param_names"] = names
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
                "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                UserWarning,
                stacklevel=3,
            )
        for other in self.param_groups:
            if ("param_names" in group) != ("param_names" in other):
                which = "with names" if "param_names" in group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. cannot add param "
                    f"group {which} to the optimizer"
                )
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self._init_state(group)

    def _init_state(self, group: dict[str, Any]) -> None:
        """Create state for a new group's parameters; most optimizers do it lazily instead."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every optimized tensor: to None, or to zeros in place."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # inf and nan propagate silently, as in torch's kernels
        with no_grad(), np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        check_step_flags(group)
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
        # Hyperparameters absent from the checkpoint keep their current values (torch's
        # ``__setstate__`` fills them with defaults the same way).
        self.param_groups = [
            {**group, **saved, "params": group["params"]}
            for group, saved in zip(self.param_groups, saved_groups)
        ]
        self.state = state
        self._after_load()

    def _after_load(self) -> None:
        """Adjust groups just loaded (AdamW keeps ``decoupled_weight_decay`` True)."""

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


replayed_by_calling(Optimizer, "step")


def check_flags(
    foreach: bool | None, fused: bool | None, differentiable: bool, capturable: bool = False
) -> None:
    """torch's checks of the implementation switches (all run the same numpy code here)."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("tapegrad's optimizers do not support differentiable=True")


def check_step_flags(group: dict[str, Any]) -> None:
    """At step time, as torch on a CPU: ``capturable`` needs an accelerator."""
    if group.get("capturable"):
        raise AssertionError(
            "If capturable=True, params and state_steps must be on supported devices: "
            "['cuda', 'xpu', 'hpu', 'privateuseone', 'xla']."
        )


def _check_param(param: Any) -> None:
    if not isinstance(param, Tensor):
        raise TypeError(
            f"optimizer can only optimize Tensors, but one of the params is {type(param).__name__}"
        )
    if not (param.is_leaf or param._retains_grad):
        raise ValueError("can't optimize a non-leaf Tensor")


def _cast(param: Tensor, index: Any, name: str, value: Any) -> Any:
    """A private copy of one saved state entry, as a Tensor of the parameter's dtype."""
    if name in _SCALAR_STATE:
        # torch keeps ``step`` as a 0-d float tensor; an integral count comes back an int
        number = np.asarray(value).item() if hasattr(value, "__array__") else value
        if isinstance(number, float) and number.is_integer():
            return int(number)
        return number
    if not isinstance(value, Tensor) and not hasattr(value, "__array__"):
        return copy.deepcopy(value)
    array = np.array(value._data if isinstance(value, Tensor) else value, dtype=param._data.dtype)
    if array.shape != param.shape:
        raise ValueError(
            f"loaded state for parameter {index} has '{name}' of shape {array.shape}, but the "
            f"parameter has shape {param.shape}"
        )
    return from_numpy(array)
