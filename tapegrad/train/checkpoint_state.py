"""A checkpoint's optimizer state checked against the run's config.

The hyperparameters saved in ``param_groups`` must be exactly those the config builds (a
tampered ``lr`` would otherwise train on while ``config.yaml`` says another), and the saved
per-parameter state must be what the optimizer keeps: its buffers and, for Adam, an integer
``step``. Each mismatch names the file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tapegrad as tg
from tapegrad.train.checkpoint_entries import expected_buffers
from tapegrad.train.errors import ConfigError, clip, show
from tapegrad.train.model import parameter_count
from tapegrad.train.schedule import make_scheduler
from tapegrad.train.schema import Config
from tapegrad.train.updates import make_updater

#: Integer counters an optimizer keeps per parameter.
SCALARS = {
    "adam": ("step",),
    "adamw": ("step",),
    "rmsprop": ("step",),
    "adagrad": ("step",),
    "sgd": (),
    "manual": (),
}
#: The config key each hyperparameter comes from.
HYPERPARAMETER_KEYS = {
    "lr": "train.lr",
    "momentum": "train.momentum",
    "betas": "train.betas",
    "weight_decay": "train.weight_decay",
}


class _Parameters:
    """Stands in for a model: ``make_updater`` only asks for the parameters."""

    def __init__(self, count: int) -> None:
        self.count = count

    def parameters(self) -> list[tg.Tensor]:
        return [tg.zeros(1, requires_grad=True) for _ in range(self.count)]


def expected_groups(config: Config) -> list[dict[str, Any]] | None:
    """The ``param_groups`` the config's optimizer saves (as JSON gives them back), or None
    for the manual update, which keeps no optimizer state."""
    if config["train.optimizer"] == "manual":
        return None
    updater = make_updater(_Parameters(parameter_count(config)), config)  # type: ignore[arg-type]
    if config.get("train.scheduler") is not None:  # it adds initial_lr (max_lr, ...) to groups
        make_scheduler(updater, config["train.scheduler"], steps_per_epoch=1)
    groups: list[dict[str, Any]] = json.loads(json.dumps(updater.state_dict()["param_groups"]))
    return groups


def check_optimizer(config: Config, optimizer: Mapping[str, Any] | None, path: Path) -> None:
    """Refuse saved hyperparameters or state that the config's optimizer would not have."""
    expected = expected_groups(config)
    if optimizer is None or expected is None:
        if (optimizer is None) != (expected is None):
            raise ConfigError(
                f"{path}: the optimizer state does not match train.optimizer "
                f"{config['train.optimizer']}"
            )
        return
    # A schedule moves lr: the scheduler's own state says what it must be (Schedule checks it).
    skip = ("lr",) if config.get("train.scheduler") is not None else ()
    _compare(optimizer["param_groups"], expected, "param_groups", path, skip)
    _check_state(optimizer["state"], config, len(expected[0]["params"]), path)


# param_group flags the optimizers gained later (PyTorch's foreach/fused/...): a checkpoint
# written before lacks them, and resumes as PyTorch's ``__setstate__`` would: with these defaults.
_LATER_FLAGS = {
    "foreach": None,
    "fused": None,
    "differentiable": False,
    "capturable": False,
    "maximize": False,
    "decoupled_weight_decay": False,
}


def _compare(saved: Any, expected: Any, field: str, path: Path, skip: tuple[str, ...] = ()) -> None:
    if isinstance(expected, dict) and isinstance(saved, dict):
        for key in dict.fromkeys([*expected, *saved]):
            if key in skip and key in saved and key in expected:
                continue
            if key not in saved and key in _LATER_FLAGS and _same(_LATER_FLAGS[key], expected[key]):
                continue  # an older checkpoint: the flag keeps its default
            if key not in saved or key not in expected:
                what = "is missing from" if key not in saved else "is not a field of"
                raise ConfigError(f"{path}: optimizer {field}.{clip(str(key))} {what} the state")
            _compare(saved[key], expected[key], f"{field}.{key}", path, skip)
        return
    if isinstance(expected, list) and isinstance(saved, list) and len(saved) == len(expected):
        for i, (a, b) in enumerate(zip(saved, expected)):
            _compare(a, b, f"{field}[{i}]", path, skip)
        return
    if not _same(saved, expected):
        leaf = field.rsplit(".", 1)[-1].split("[")[0]
        key = HYPERPARAMETER_KEYS.get(leaf)
        source = f"{key} in the config is" if key else "the config's optimizer has"
        raise ConfigError(
            f"{path}: optimizer {field} is {show(saved)} in the checkpoint, but {source} "
            f"{show(expected)}; a resumed run keeps its hyperparameters"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _check_state(
    state: Mapping[int, Mapping[str, Any]], config: Config, count: int, path: Path
) -> None:
    name = config["train.optimizer"]
    allowed = (*expected_buffers(config), *SCALARS[name])
    for index, entries in state.items():
        if not 0 <= index < count:
            raise ConfigError(
                f"{path}: optimizer state for parameter {index}, but the model has {count}"
            )
        for key, value in entries.items():
            field = f"optimizer state {index}.{clip(str(key))}"
            if key not in allowed:
                raise ConfigError(f"{path}: {field} is not kept by train.optimizer {name}")
            if key in SCALARS[name] and not _counter(value):
                raise ConfigError(f"{path}: {field} must be an integer >= 0, got {show(value)}")
        missing = [key for key in allowed if key not in entries]
        if missing:
            raise ConfigError(f"{path}: optimizer state {index}.{missing[0]} is missing")


def _counter(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
