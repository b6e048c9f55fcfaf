"""``tapegrad train``'s positional arguments: ``[CONFIG] [KEY=VALUE ...]``, read forgivingly.

The config may come first or after the overrides (``train.epochs=5 configs/spirals.yaml``);
an argument without ``=`` that names a config key (``train.epochs``, ``epochs``) is told to
take a value, and ``--config FILE`` is told that the config is the first argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tapegrad.train.errors import COMMAND_LINE, ConfigError, clip
from tapegrad.train.schema import SCHEMA

USAGE = "tapegrad train [CONFIG] [KEY=VALUE ...]"


def split_args(args: Sequence[str]) -> tuple[Path | None, list[str]]:
    """The config file (None: the defaults) and the ``KEY=VALUE`` overrides."""
    bare = [i for i, a in enumerate(args) if "=" not in a or _is_file(a)]
    for i in bare:
        if not _is_file(args[i]) and _key_of(args[i]) is not None:
            raise ConfigError(_no_value(args[i]))
    if not bare:
        return None, list(args)
    first = bare[0]
    if len(bare) > 1:
        extra = args[bare[1]]
        why = (
            "only one config file is read"
            if _is_file(extra)
            else "the config file, if any, is the only argument without ="
        )
        raise ConfigError(
            f"{COMMAND_LINE}: expected KEY=VALUE, got {clip(extra)!r} ({why}: {USAGE})"
        )
    if first != 0 and not _is_file(args[first]):
        raise ConfigError(
            f"{COMMAND_LINE}: expected KEY=VALUE, got {clip(args[first])!r}; the config file, "
            f"if any, goes first: {USAGE}"
        )
    return Path(args[first]), [a for i, a in enumerate(args) if i != first]


def config_flag_hint(value: str) -> str:
    """The message for ``--config FILE``: there is no such option."""
    return (
        f"there is no --config option: the config is the first argument, "
        f"e.g. tapegrad train {clip(value)} [KEY=VALUE ...]"
    )


def _no_value(arg: str) -> str:
    key = _key_of(arg)
    return (
        f"{COMMAND_LINE}: {clip(arg)!r} has no value: write {key}=VALUE (a config file, "
        f"if any, is the first argument: {USAGE})"
    )


def _key_of(arg: str) -> str | None:
    """The config key ``arg`` names (a dotted key, or a unique leaf like ``epochs``)."""
    name = arg.strip()
    if name in SCHEMA:
        return name
    leaves = [k for k in SCHEMA if k.rsplit(".", 1)[-1] == name]
    return leaves[0] if len(leaves) == 1 else None


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL: not a file
        return False
