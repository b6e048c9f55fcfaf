"""Loading a state dict into a module tree, with torch's key matching and error messages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, Protocol

import numpy as np

from tapegrad.engine.grad_mode import no_grad
from tapegrad.tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match: ``(missing_keys, unexpected_keys)``."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


class StateHolder(Protocol):
    """What loading walks: own parameters and persistent buffers, and direct children, by name
    (a ``Module``)."""

    def _own_state(self) -> Iterator[tuple[str, Tensor]]: ...
    def _child_items(self) -> Iterator[tuple[str, StateHolder]]: ...


def load_into(module: StateHolder, state_dict: Mapping[str, Any], strict: bool) -> IncompatibleKeys:
    """``Module.load_state_dict``: copy the values into ``module``'s parameters and persistent
    buffers in place.

    Raises torch's ``Error(s) in loading state_dict`` on missing or unexpected keys (when
    ``strict``) and on shape mismatches.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    missing: list[str] = []
    unexpected: list[str] = []
    errors: list[str] = []
    _load(module, dict(state_dict), "", missing, unexpected, errors)
    if strict and unexpected:
        keys = ", ".join(f'"{k}"' for k in unexpected)
        errors.insert(0, f"Unexpected key(s) in state_dict: {keys}. ")
    if strict and missing:
        keys = ", ".join(f'"{k}"' for k in missing)
        errors.insert(0, f"Missing key(s) in state_dict: {keys}. ")
    if errors:
        raise RuntimeError(
            f"Error(s) in loading state_dict for {type(module).__name__}:\n\t" + "\n\t".join(errors)
        )
    return IncompatibleKeys(missing, unexpected)


def _load(
    module: StateHolder,
    state: dict[str, Any],
    prefix: str,
    missing: list[str],
    unexpected: list[str],
    errors: list[str],
) -> None:
    """torch's ``_load_from_state_dict`` + recursion, over walked parameters and children."""
    fill = getattr(module, "_fill_missing_state", None)
    if fill is not None:  # BatchNorm's num_batches_tracked, absent from old checkpoints
        fill(state, prefix)
    own = dict(module._own_state())
    for name, param in own.items():
        key = prefix + name
        if key in state:
            _copy_into(param, key, state[key], errors)
        else:
            missing.append(key)  # reported (not raised) with strict=False, as torch
    children = dict(module._child_items())
    for key in state:
        if key.startswith(prefix):
            head, *rest = key[len(prefix) :].split(".", 1)
            if head not in (children if rest else own):
                unexpected.append(key)
    for name, child in children.items():
        child_prefix = prefix + name + "."
        child_state = {k: v for k, v in state.items() if k.startswith(child_prefix)}
        _load(child, child_state, child_prefix, missing, unexpected, errors)


def _copy_into(param: Tensor, key: str, value: Any, errors: list[str]) -> None:
    if not isinstance(value, Tensor) and not hasattr(value, "__array__"):
        errors.append(
            f'While copying the parameter named "{key}", expected Tensor or numpy array from '
            f"checkpoint but received {type(value)}"
        )
        return
    source = value._data if isinstance(value, Tensor) else np.asarray(value)
    if source.shape != param.shape:
        errors.append(
            f"size mismatch for {key}: copying a param with shape {source.shape} from "
            f"checkpoint, the shape in current model is {param.shape}."
        )
        return
    try:
        with no_grad():
            param.copy_(source)
    except Exception as exc:  # reported with the other errors, as torch does
        errors.append(
            f'While copying the parameter named "{key}", whose dimensions in the model are '
            f"{param.shape} and whose dimensions in the checkpoint are {source.shape}, an "
            f"exception occurred : {exc.args}."
        )
