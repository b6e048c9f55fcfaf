"""The ``train.scheduler`` key: which learning-rate schedule, with its own options.

A value is null (no schedule), a kind name (``cosine``: its defaults) or a mapping with
``kind`` and that kind's options. It is stored as the full mapping, every option filled in;
the options that default to the run's own figures (cosine's ``T_max`` and onecycle's
``epochs``: ``train.epochs``; onecycle's ``max_lr``: ``train.lr``; plateau's ``monitor``)
are resolved by ``check_schedule``, so a saved config names them and a resume keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tapegrad.train.checks import Check, choice, integer, number
from tapegrad.train.errors import ConfigError, show

_POSITIVE, _FACTOR = number(gt=0), number(gt=0)
_COUNT, _NONNEG = integer(ge=1), number(ge=0)
_FRACTION = number(gt=0)

#: Each kind's options: name -> (default, check); a default of None is resolved later.
OPTIONS: dict[str, dict[str, tuple[Any, Check | None]]] = {
    "step": {"step_size": (None, _COUNT), "gamma": (0.1, _FACTOR)},
    "multistep": {"milestones": (None, None), "gamma": (0.1, _FACTOR)},
    "exponential": {"gamma": (None, _FACTOR)},
    "cosine": {"T_max": (None, _COUNT), "eta_min": (0.0, _NONNEG)},
    "onecycle": {
        "max_lr": (None, _POSITIVE),
        "epochs": (None, _COUNT),
        "pct_start": (0.3, _FRACTION),
        "anneal_strategy": ("cos", choice("cos", "linear")),
        "div_factor": (25.0, _POSITIVE),
        "final_div_factor": (1e4, _POSITIVE),
        "three_phase": (False, None),
    },
    "plateau": {
        "monitor": (None, choice("val_loss", "loss")),
        "factor": (0.1, _FACTOR),
        "patience": (10, integer(ge=0)),
        "threshold": (1e-4, _NONNEG),
        "cooldown": (0, integer(ge=0)),
        "min_lr": (0.0, _NONNEG),
    },
}
KINDS = tuple(OPTIONS)
#: Options a kind cannot do without (the rest have defaults).
REQUIRED = {"step": ("step_size",), "multistep": ("milestones",), "exponential": ("gamma",)}
EXPECTED = (
    "null, a kind (" + " | ".join(KINDS) + ") or a mapping of kind and its options "
    "(step: step_size, gamma; multistep: milestones, gamma; exponential: gamma; "
    "cosine: T_max, eta_min; onecycle: max_lr, epochs, pct_start, anneal_strategy, "
    "div_factor, final_div_factor, three_phase; plateau: monitor, factor, patience, "
    "threshold, cooldown, min_lr)"
)


class ScheduleError(ValueError):
    """A scheduler value that is wrong in a way worth saying precisely."""


def scheduler() -> Check:
    """null, a kind name, or ``{kind, ...options}``; stored as the full mapping."""

    def convert(value: Any) -> dict[str, Any] | None:
        if value is None or value is False:
            return None
        if isinstance(value, str):
            value = {"kind": value}
        if isinstance(value, dict) and any(":" in str(k) for k in value):
            raise ScheduleError(
                f"got {show(value)}: YAML needs a space after each colon, e.g. "
                "'train.scheduler={kind: step, step_size: 30}'"
            )
        if not isinstance(value, dict) or value.get("kind") not in KINDS:
            raise ValueError
        kind = value["kind"]
        unknown = [k for k in value if k != "kind" and k not in OPTIONS[kind]]
        if unknown:
            raise ScheduleError(
                f"{kind} has no option {unknown[0]} (its options: {', '.join(OPTIONS[kind])})"
            )
        missing = [k for k in REQUIRED.get(kind, ()) if value.get(k) is None]
        if missing:
            raise ScheduleError(f"{kind} needs {missing[0]}, e.g. {_EXAMPLES[missing[0]]}")
        options: dict[str, Any] = {"kind": kind}
        for name, (default, check) in OPTIONS[kind].items():
            options[name] = _option(kind, name, value.get(name, default), check)
        return options

    return Check(EXPECTED, convert, KINDS)


_EXAMPLES = {
    "step_size": "{kind: step, step_size: 30}",
    "milestones": "{kind: multistep, milestones: [50, 100]}",
    "gamma": "{kind: exponential, gamma: 0.99}",
}


def _option(kind: str, name: str, value: Any, check: Check | None) -> Any:
    if value is None:
        return None
    if name == "milestones":
        return _milestones(value)
    if name == "three_phase":
        if not isinstance(value, bool):
            raise ScheduleError(f"{kind} three_phase must be true or false, got {show(value)}")
        return value
    assert check is not None
    try:
        return check.convert(value)
    except (ValueError, TypeError):
        raise ScheduleError(f"{kind} {name} must be {check.expected}, got {show(value)}") from None


def _milestones(value: Any) -> list[int]:
    count = integer(ge=1)
    try:
        if not isinstance(value, list) or not value:
            raise ValueError
        milestones = [count.convert(v) for v in value]
    except (ValueError, TypeError):
        raise ScheduleError(
            f"multistep milestones must be a non-empty list of epochs (integers >= 1), "
            f"got {show(value)}"
        ) from None
    if milestones != sorted(set(milestones)):
        raise ScheduleError(f"multistep milestones must increase, got {show(value)}")
    return milestones


def check_schedule(values: dict[str, Any], sources: Mapping[str, str]) -> None:
    """Fill in the options that default to the run's figures and check them against it."""
    options = values.get("train.scheduler")
    if options is None:
        return
    options = dict(options)
    where = sources.get("train.scheduler", "defaults")
    kind, epochs = options["kind"], values["train.epochs"]
    if kind == "cosine" and options["T_max"] is None:
        options["T_max"] = epochs
    if kind == "onecycle":
        if options["max_lr"] is None:
            options["max_lr"] = values["train.lr"]
        if options["epochs"] is None:
            options["epochs"] = epochs
        if options["epochs"] < epochs:
            raise ConfigError(
                f"{where}: train.scheduler onecycle runs for {options['epochs']} epochs (its "
                f"epochs), fewer than train.epochs = {epochs}; a onecycle schedule cannot be "
                "extended: start a new run"
            )
    if kind == "plateau":
        validation = values.get("data.val_split") is not None or values.get("data.val_path")
        if options["monitor"] is None:
            options["monitor"] = "val_loss" if validation else "loss"
        if options["monitor"] == "val_loss" and not validation:
            raise ConfigError(
                f"{where}: train.scheduler plateau monitors val_loss, but the run has no "
                "validation data; set data.val_split (e.g. 0.2) or data.val_path, or monitor: loss"
            )
    values["train.scheduler"] = options
