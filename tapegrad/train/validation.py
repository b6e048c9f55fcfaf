"""Validation: defaults, file values and overrides merged into a checked ``Config``.

Each value goes through its key's check; keys that apply only to some ``data.kind`` or
``train.optimizer`` are refused elsewhere; cross-key rules (weights per feature, a loss that
fits the data) come last. Every error names the value's source and the dotted key.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tapegrad.train.errors import COMMAND_LINE, ConfigError, show
from tapegrad.train.option_checks import check_heldout
from tapegrad.train.schedule_options import ScheduleError, check_schedule
from tapegrad.train.schema import CSV, KIND_DEFAULTS, LINEAR, LOSSES_FOR_KIND, SCHEMA, Config


def resolve(
    file_values: Mapping[str, Any], overrides: Mapping[str, Any], path: Path | None
) -> Config:
    """Merge defaults, file and overrides; check each value and the cross-key rules."""
    given = {**file_values, **overrides}
    sources = {k: COMMAND_LINE if k in overrides else str(path) for k in given}
    kind = _check("data.kind", given.get("data.kind", SCHEMA["data.kind"].default), sources)
    defaults = {**{k: spec.default for k, spec in SCHEMA.items()}, **KIND_DEFAULTS.get(kind, {})}
    values: dict[str, Any] = {}
    # Unconditional keys first: they decide which conditional keys apply.
    for key in sorted(SCHEMA, key=lambda k: SCHEMA[k].only_if is not None):
        if _applies(key, values, given, sources):
            values[key] = _check(key, given[key], sources) if key in given else defaults[key]
    values = {k: values[k] for k in SCHEMA if k in values}
    for key in ("data.path", "data.val_path"):
        if values.get(key) is not None:
            values[key] = _csv_path(values[key], sources[key], path)
    _cross_checks(values, sources)
    check_heldout(values, sources)
    check_schedule(values, sources)
    return Config(values, path, sources)


def _applies(
    key: str, values: Mapping[str, Any], given: Mapping[str, Any], sources: Mapping[str, str]
) -> bool:
    when = SCHEMA[key].only_if
    if when is None or values[when.key] in when.values:
        return True
    if key in given:
        allowed = " or ".join(when.values)
        message = f"applies only to {when.key} {allowed}, but {when.key} is {values[when.key]}"
        raise _error(sources, key, message)
    return False


def _csv_path(value: str, source: str, config_path: Path | None) -> str:
    # A path in the file is relative to the file; one typed on the command line, to the cwd.
    base = config_path.parent if config_path is not None and source != COMMAND_LINE else Path()
    return str((base / value).resolve())


def _check(key: str, value: Any, sources: Mapping[str, str]) -> Any:
    check = SCHEMA[key].check
    try:
        return check.convert(value)
    except ScheduleError as exc:
        raise _error(sources, key, str(exc)) from None
    except (ValueError, TypeError):
        hint = _suggest(value, check.options)
        message = f"must be {check.expected}, got {show(value)}{hint}"
        raise _error(sources, key, message) from None


def _cross_checks(values: dict[str, Any], sources: Mapping[str, str]) -> None:
    kind, loss = values["data.kind"], values["train.loss"]
    if kind == LINEAR and len(values["data.weights"]) != values["data.d_in"]:
        given = "data.weights" if "data.weights" in sources else "data.d_in"
        message = (
            f"must have one number per input feature (data.d_in = {values['data.d_in']}), "
            f"got {len(values['data.weights'])}"
        )
        raise _error(sources, "data.weights", message, sources.get(given))
    if loss not in LOSSES_FOR_KIND[kind]:
        allowed = " or ".join(LOSSES_FOR_KIND[kind])
        raise _error(sources, "train.loss", f"must be {allowed} for data.kind {kind}, got {loss}")
    if kind == CSV and values["data.path"] is None:
        raise _error(sources, "data.path", "must be set for data.kind csv (the CSV file), got null")


def _error(
    sources: Mapping[str, str], key: str, message: str, where: str | None = None
) -> ConfigError:
    where = where or sources.get(key, "defaults")
    return ConfigError(f"{where}: {key} {message}")


def _suggest(value: Any, options: Iterable[str]) -> str:
    if not isinstance(value, str) or len(value) > 100:
        return ""
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]}?" if close else ""
