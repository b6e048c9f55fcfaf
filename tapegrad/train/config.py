"""Experiment configs: the schema table, YAML loading, ``key=value`` overrides, validation.

The schema is one table (``SCHEMA``): dotted key -> default, check, help. Everything else
(unknown-key suggestions, per-kind applicability, printing the resolved config) reads it.
This is the only library module that imports yaml.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

COMMAND_LINE = "command line"


class ConfigError(Exception):
    """A user error in a config, an override or a data file (the CLI exits with code 2)."""


# ----------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """A value check: ``convert`` returns the normalized value or raises ValueError."""

    expected: str
    convert: Callable[[Any], Any]
    options: tuple[str, ...] = ()


_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _as_float(value: Any) -> float:
    # PyYAML reads `1e-4` (no dot) as a string; accept any plain numeric literal.
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return float(value)


def number(gt: float | None = None, ge: float | None = None, lt: float | None = None) -> Check:
    """A finite number with optional bounds; numeric strings such as ``"1e-4"`` are accepted."""
    if ge is not None and lt is not None:
        expected = f"a number in [{ge:g}, {lt:g})"
    elif gt is not None or ge is not None:
        expected = f"a number > {gt:g}" if gt is not None else f"a number >= {ge:g}"
    else:
        expected = "a number"

    def convert(value: Any) -> float:
        x = _as_float(value)
        too_low = (gt is not None and x <= gt) or (ge is not None and x < ge)
        if too_low or (lt is not None and x >= lt):
            raise ValueError
        return x

    return Check(expected, convert)


def integer(ge: int) -> Check:
    """An integer ``>= ge``; integral floats and numeric strings (``"1e3"``) are accepted."""

    def convert(value: Any) -> int:
        x = _as_float(value) if not isinstance(value, int) or isinstance(value, bool) else value
        if x != int(x) or x < ge:
            raise ValueError
        return int(x)

    return Check(f"an integer >= {ge}", convert)


def choice(*options: str) -> Check:
    """One of ``options``."""

    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError
        return value

    return Check("one of " + ", ".join(options), convert, options)


def boolean() -> Check:
    """true or false."""

    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError
        return value

    return Check("true or false", convert)


def text() -> Check:
    """A non-empty string without NUL characters (no path can hold one)."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value or "\0" in value:
            raise ValueError
        return value

    return Check("a non-empty string", convert)


def optional(check: Check) -> Check:
    """``check`` or null."""
    return Check(f"{check.expected} or null", lambda v: None if v is None else check.convert(v))


def list_of(item: Check, expected: str, length: int | None = None) -> Check:
    """A non-empty list of ``item`` (of exactly ``length`` items when given)."""

    def convert(value: Any) -> list[Any]:
        if not isinstance(value, list) or not value or (length and len(value) != length):
            raise ValueError
        return [item.convert(v) for v in value]

    return Check(expected, convert)


def hidden_sizes() -> Check:
    """One positive int, or a list of them (``[]`` means no hidden layer)."""
    each = integer(ge=1)

    def convert(value: Any) -> list[int]:
        items = value if isinstance(value, list) else [value]
        return [each.convert(v) for v in items]

    return Check("an integer >= 1 or a list of them", convert)


def columns() -> Check:
    """CSV target column(s): a name or 0-based index, or a list of them; null = last column."""

    def one(value: Any) -> str | int:
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise ValueError
        return value

    def convert(value: Any) -> list[str | int] | None:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError
        return [one(v) for v in items]

    return Check("a column name or index, a list of them, or null (the last column)", convert)


# ----------------------------------------------------------------------------- the schema


class When(NamedTuple):
    """A key that applies only while ``key`` has one of ``values`` (e.g. spirals-only keys)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Key:
    """One config key: default, check, help line, and when it applies (None: always)."""

    default: Any
    check: Check
    help: str
    only_if: When | None = None


DATA_KINDS = ("linear", "spirals", "csv")
LINEAR, SPIRALS, CSV = DATA_KINDS
FOR_LINEAR = When("data.kind", (LINEAR,))
FOR_SPIRALS = When("data.kind", (SPIRALS,))
FOR_CSV = When("data.kind", (CSV,))

SCHEMA: dict[str, Key] = {
    "seed": Key(0, integer(ge=0), "seeds data, initial weights and batch order"),
    "data.kind": Key("linear", choice(*DATA_KINDS), "which data set"),
    "data.n": Key(100, integer(ge=1), "number of samples", FOR_LINEAR),
    "data.d_in": Key(3, integer(ge=1), "number of input features", FOR_LINEAR),
    "data.weights": Key(
        [0.2, -1.3, -0.5],
        list_of(number(), "a non-empty list of numbers"),
        "y = x @ weights + noise * N(0,1)",
        FOR_LINEAR,
    ),
    "data.noise": Key(1.0, number(ge=0), "noise scale", When("data.kind", (LINEAR, SPIRALS))),
    "data.classes": Key(3, integer(ge=2), "number of spiral arms", FOR_SPIRALS),
    "data.points_per_class": Key(100, integer(ge=1), "points per spiral arm", FOR_SPIRALS),
    "data.path": Key(None, optional(text()), "CSV file, relative to the config file", FOR_CSV),
    "data.target": Key(None, columns(), "target column(s); null = the last", FOR_CSV),
    "data.header": Key(True, boolean(), "whether the first CSV row names the columns", FOR_CSV),
    "model.hidden": Key([32], hidden_sizes(), "hidden layer sizes"),
    "model.activation": Key("relu", choice("relu", "tanh", "sigmoid"), "hidden activation"),
    "model.init": Key("normal", choice("normal", "torch"), "normal: N(0,1), zero bias"),
    "train.epochs": Key(200, integer(ge=1), "passes over the data"),
    "train.lr": Key(1e-4, number(gt=0), "learning rate"),
    "train.loss": Key("sse", choice("sse", "mse", "cross_entropy"), "loss function"),
    "train.optimizer": Key("manual", choice("manual", "sgd", "adam"), "weight update"),
    "train.momentum": Key(0.0, number(ge=0), "SGD momentum", When("train.optimizer", ("sgd",))),
    "train.betas": Key(
        [0.9, 0.999],
        list_of(number(ge=0, lt=1), "a list of 2 numbers in [0, 1)", 2),
        "Adam betas",
        When("train.optimizer", ("adam",)),
    ),
    "train.batch_size": Key(None, optional(integer(ge=1)), "null = full batch"),
    "train.log_every": Key(10, integer(ge=1), "report every N epochs"),
    "train.stop_on_nonfinite": Key(
        True, boolean(), "stop when the loss becomes nan or inf (false: run on)"
    ),
    "train.checkpoint_every": Key(
        None, optional(integer(ge=1)), "also save a checkpoint every N epochs; null = at the end"
    ),
    "output.dir": Key(None, optional(text()), "where run files go; null = write nothing"),
}

#: Defaults that depend on ``data.kind`` (used only when the key is not set).
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    SPIRALS: {"data.noise": 0.2, "train.loss": "cross_entropy"},
}

#: Which losses fit which data: regression sets take squared errors, spirals are classes.
LOSSES_FOR_KIND: dict[str, tuple[str, ...]] = {
    LINEAR: ("sse", "mse"),
    SPIRALS: ("cross_entropy",),
    CSV: ("sse", "mse", "cross_entropy"),
}

SECTIONS = tuple(dict.fromkeys(k.split(".")[0] for k in SCHEMA if "." in k))


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Config:
    """A validated config: dotted key -> value, for every key that applies to it."""

    values: dict[str, Any]
    path: Path | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when the key does not apply to this config."""
        return self.values.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The nested mapping as it would be written in YAML."""
        nested: dict[str, Any] = {}
        for key, value in self.values.items():
            *sections, leaf = key.split(".")
            target = nested
            for section in sections:
                target = target.setdefault(section, {})
            target[leaf] = value
        return nested


class _Dumper(yaml.SafeDumper):
    """Block-style sections with lists kept on one line (``hidden: [64, 64]``)."""


_Dumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


def dump_config(config: Config) -> str:
    """The resolved config as YAML text (loadable again with ``load_config``)."""
    return yaml.dump(config.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def default_config() -> Config:
    """The blog's experiment (every key at its default)."""
    return resolve({}, {}, None)


# ----------------------------------------------------------------------------- loading


def load_config(
    path: str | Path | None,
    overrides: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> Config:
    """Read ``path`` (None = defaults only), apply ``key=value`` overrides and validate.

    ``values``: already-typed overrides from command-line options (``--out`` -> output.dir).
    """
    file_values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        file_values = flatten(read_yaml(path), str(path))
    override_values = {**parse_overrides(overrides), **(values or {})}
    return resolve(file_values, override_values, path)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely; syntax errors are reported with line and column."""
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"{clip(str(path))}: cannot read config file ({exc})") from None
    return _safe_load(source, str(path))


def _safe_load(source: str, where: str) -> Any:
    try:
        return yaml.safe_load(source)
    except RecursionError:  # PyYAML's parser recurses: a few hundred nested brackets
        raise ConfigError(f"{where}: YAML error: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}{position}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML error: {exc}") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{where}: YAML error: {clip(str(exc))}") from None


def flatten(document: Any, where: str) -> dict[str, Any]:
    """The YAML document as dotted key -> value, rejecting unknown keys and bad sections."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"{where}: the top level must be a mapping with keys {', '.join(_top_level())}, "
            f"got {_kind_of(document)}"
        )
    flat: dict[str, Any] = {}
    for top, value in document.items():
        name = str(top)
        if name in SECTIONS:
            flat.update(_flatten_section(name, value, where))
        else:
            flat[_known_key(name, where)] = value
    return flat


def _flatten_section(section: str, value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {section} must be a mapping, got {_kind_of(value)}")
    return {_known_key(f"{section}.{sub}", where): v for sub, v in value.items()}


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["train.lr=1e-3", "model.hidden=[64,64]"]`` -> dotted key -> value (parsed as YAML)."""
    values: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        where = f"{COMMAND_LINE} ({clip(item)})"
        if not sep or not key.strip():
            raise ConfigError(f"{COMMAND_LINE}: expected KEY=VALUE, got {clip(item)!r}")
        key = _known_key(key.strip(), where)
        values[key] = _safe_load(raw, where)
    return values


def _known_key(key: str, where: str) -> str:
    if key in SCHEMA:
        return key
    if key in SECTIONS:
        raise ConfigError(
            f"{where}: {key} is a section; set one of its keys, e.g. {_keys_of(key)[0]}"
        )
    section = key.split(".")[0]
    if len(key) > 100:  # no sensible suggestion, and difflib is quadratic
        raise ConfigError(f"{where}: unknown key {clip(key)}")
    if section in SECTIONS:  # compare leaf names: the shared "train." would match anything
        leaves = {k.split(".", 1)[1]: k for k in _keys_of(section)}
        close = difflib.get_close_matches(key.split(".", 1)[1], list(leaves), n=1, cutoff=0.6)
        hint = [leaves[c] for c in close]
    else:
        candidates = list(SCHEMA) if "." in key else _top_level()
        hint = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if hint:
        suggestion = f"; did you mean {hint[0]}?"
    elif section in SECTIONS:
        suggestion = f"; valid keys in {section}: {', '.join(_keys_of(section))}"
    else:
        suggestion = f"; valid top-level keys: {', '.join(_top_level())}"
    raise ConfigError(f"{where}: unknown key {key}{suggestion}")


# ----------------------------------------------------------------------------- validation


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
    if values.get("data.path") is not None:
        values["data.path"] = _csv_path(values["data.path"], sources["data.path"], path)
    _cross_checks(values, sources)
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
    except (ValueError, TypeError):
        hint = _suggest(value, check.options)
        message = f"must be {check.expected}, got {_show(value)}{hint}"
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


# ----------------------------------------------------------------------------- helpers


def _keys_of(section: str) -> list[str]:
    return [k for k in SCHEMA if k.startswith(section + ".")]


def _top_level() -> list[str]:
    return [k for k in SCHEMA if "." not in k] + list(SECTIONS)


def _suggest(value: Any, options: Iterable[str]) -> str:
    if not isinstance(value, str) or len(value) > 100:
        return ""
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]}?" if close else ""


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (user input quoted in messages stays readable)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int = 80) -> str:
    """A short JSON-like rendering; bounded, because YAML aliases can nest a value
    exponentially (or in a cycle) and printing it whole would never finish."""
    return clip(_render(value, limit + 1, depth=0), limit)


def _render(value: Any, budget: int, depth: int) -> str:
    if isinstance(value, list | tuple | dict):
        if depth > 4:
            return "[...]" if not isinstance(value, dict) else "{...}"
        items = value.items() if isinstance(value, dict) else value
        parts: list[str] = []
        used = 0
        for item in items:
            if used > budget:
                parts.append("...")
                break
            if isinstance(value, dict):
                k, v = item
                part = f"{_render(k, budget, depth + 1)}: {_render(v, budget, depth + 1)}"
            else:
                part = _render(item, budget, depth + 1)
            parts.append(part)
            used += len(part) + 2
        inner = ", ".join(parts)
        return "{" + inner + "}" if isinstance(value, dict) else "[" + inner + "]"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        try:
            text = repr(value)
        except ValueError:  # an integer too long to convert
            text = f"<{type(value).__name__}>"
    return clip(text, budget)


def _kind_of(value: Any) -> str:
    names = {
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
    }
    return f"{names.get(type(value), type(value).__name__)} ({_show(value)})"
