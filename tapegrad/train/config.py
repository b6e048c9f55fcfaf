"""Experiment configs from YAML: reading a file, ``key=value`` overrides, dumping the result.

``load_config`` reads a file (unknown keys get a "did you mean"), parses the overrides, and
hands both to ``validation.resolve``. The schema lives in ``schema``, the value checks in
``checks``, the error type in ``errors``; the names most callers need are exported here too.
This and nothing else in the library imports yaml. Parsing has limits: the document is
first scanned as an event stream (libyaml when available), stopping as soon as it holds more
than ``MAX_NODES`` nodes; the composed node graph is then checked before any Python object is
built: aliases may not expand it past ``MAX_NODES`` (the "billion laughs"), nesting stays
under ``MAX_DEPTH`` and no mapping repeats a key (PyYAML would keep the last one silently).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tapegrad.train.bounded import read_config_text
from tapegrad.train.errors import COMMAND_LINE, ConfigError, clip, kind_of
from tapegrad.train.schema import SCHEMA, SECTIONS, Config
from tapegrad.train.validation import resolve

__all__ = [
    "COMMAND_LINE",
    "PATH_KEYS",
    "SCHEMA",
    "Config",
    "ConfigError",
    "clip",
    "default_config",
    "dump_config",
    "flatten",
    "load_config",
    "parse_overrides",
    "read_yaml",
    "resolve",
]

# ----------------------------------------------------------------------------- dumping


class _Dumper(yaml.SafeDumper):
    """Block-style sections with lists kept on one line (``hidden: [64, 64]``)."""


_Dumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


#: Keys holding file paths (relative to the config file that holds them).
PATH_KEYS = ("data.path", "data.val_path")


def dump_config(config: Config, relative_to: str | Path | None = None) -> str:
    """The resolved config as YAML text (loadable again with ``load_config``).

    With ``relative_to`` (the directory the text will be saved in), data file paths are
    written relative to it when they share more than the filesystem root with it, so a
    project moved as a whole (data and runs together) still finds its data.
    """
    if relative_to is not None:
        values = {k: _relative(v, Path(relative_to)) if k in PATH_KEYS else v
                  for k, v in config.values.items()}  # fmt: skip
        config = Config(values, config.path, config.sources)
    return yaml.dump(config.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _relative(value: Any, directory: Path) -> Any:
    if not isinstance(value, str):
        return value
    try:
        target, base = Path(value).resolve(), directory.resolve()
        common = Path(os.path.commonpath([target, base]))
        if common == Path(common.anchor):  # nothing shared but "/": the absolute path is safer
            return value
        return os.path.relpath(target, base)
    except (OSError, ValueError):  # another drive, or a path that cannot be resolved
        return value


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


def default_config() -> Config:
    """The blog's experiment (every key at its default)."""
    return resolve({}, {}, None)


def read_yaml(path: Path) -> Any:
    """Parse a YAML config file safely: a regular file of at most
    ``bounded.MAX_CONFIG_BYTES``, within the limits below, without duplicate keys;
    syntax errors are reported with line and column."""
    return _safe_load(read_config_text(path), str(path))


# ----------------------------------------------------------------------------- parsing

#: Most nodes (scalars, lists, mappings) in a document, aliases expanded; configs hold ~50.
MAX_NODES = 100_000
#: Deepest nesting of lists and mappings.
MAX_DEPTH = 100

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
_MERGE = "tag:yaml.org,2002:merge"


def _safe_load(source: str, where: str) -> Any:
    """The YAML document in ``source`` as Python values; ConfigError naming ``where``."""
    try:
        return _load(source, where)
    except RecursionError:
        raise ConfigError(f"{where}: YAML error: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}{position}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML error: {clip(str(exc))}") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{where}: YAML error: {clip(str(exc))}") from None


def _load(source: str, where: str) -> Any:
    _count_events(source, where)
    loader = _LOADER(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Walk(where).size(node, "", 0)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _count_events(source: str, where: str) -> None:
    count = 0
    for event in yaml.parse(source, Loader=_LOADER):
        if isinstance(event, _NODE_EVENTS):
            count += 1
            if count > MAX_NODES:
                raise ConfigError(
                    f"{where}: YAML document too large (more than {MAX_NODES} values)"
                )


class _Walk:
    """One pass over the node graph: expanded size, depth and duplicate keys."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()

    def size(self, node: yaml.Node, path: str, depth: int) -> int:
        """Nodes under ``node`` with every alias expanded (a cycle counts once)."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open or isinstance(node, yaml.ScalarNode):
            return 1
        if depth >= MAX_DEPTH:
            raise ConfigError(f"{self.where}: YAML error: nested deeper than {MAX_DEPTH} levels")
        self.open.add(key)
        if isinstance(node, yaml.MappingNode):
            self._no_duplicates(node, path)
            children = [c for pair in node.value for c in pair]
            paths = [_join(path, k) for k, _ in node.value for _ in (0, 1)]
        else:
            children = list(node.value)
            paths = [f"{path}[{i}]" for i in range(len(children))]
        total = 1
        for child, child_path in zip(children, paths):
            total += self.size(child, child_path, depth + 1)
            if total > MAX_NODES:
                raise ConfigError(
                    f"{self.where}: YAML aliases expand to more than {MAX_NODES} values"
                )
        self.open.discard(key)
        self.sizes[key] = total
        return total

    def _no_duplicates(self, node: yaml.MappingNode, path: str) -> None:
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
                continue
            first = seen.setdefault((key.tag, key.value), key)
            if first is not key:
                raise ConfigError(
                    f"{self.where}: duplicate key {clip(_join(path, key))} "
                    f"({_lines(first, key)}); each key may appear only once"
                )


def _join(path: str, key: yaml.Node) -> str:
    name = key.value if isinstance(key, yaml.ScalarNode) else "<key>"
    return f"{path}.{name}" if path else str(name)


def _lines(first: yaml.Node, second: yaml.Node) -> str:
    a, b = first.start_mark, second.start_mark
    if a.line == b.line:
        return f"line {a.line + 1}, columns {a.column + 1} and {b.column + 1}"
    return f"lines {a.line + 1} and {b.line + 1}"


# ----------------------------------------------------------------------------- flattening


def flatten(document: Any, where: str) -> dict[str, Any]:
    """The YAML document as dotted key -> value, rejecting unknown keys and bad sections."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"{where}: the top level must be a mapping with keys {', '.join(_top_level())}, "
            f"got {kind_of(document)}"
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
        raise ConfigError(f"{where}: {section} must be a mapping, got {kind_of(value)}")
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
        hint = _leaf_matches(key) or difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if hint:
        suggestion = f"; did you mean {hint[0]}?"
    elif section in SECTIONS:
        suggestion = f"; valid keys in {section}: {', '.join(_keys_of(section))}"
    else:
        suggestion = f"; valid top-level keys: {', '.join(_top_level())}"
    raise ConfigError(f"{where}: unknown key {key}{suggestion}")


def _leaf_matches(key: str) -> list[str]:
    """Dotted keys whose last part is ``key`` or close to it (``epochs`` -> train.epochs)."""
    leaves: dict[str, str] = {}
    for dotted in SCHEMA:
        leaves.setdefault(dotted.rsplit(".", 1)[-1], dotted)
    if "." in key:
        return []
    close = difflib.get_close_matches(key, list(leaves), n=1, cutoff=0.8)
    return [leaves[c] for c in close]


def _keys_of(section: str) -> list[str]:
    return [k for k in SCHEMA if k.startswith(section + ".")]


def _top_level() -> list[str]:
    return [k for k in SCHEMA if "." not in k] + list(SECTIONS)
