"""Bounded reads of small text inputs (configs): regular files under a size limit only.

A device (``/dev/zero``), a FIFO or a file that keeps growing would otherwise be read until
memory runs out; a huge file would be parsed for minutes. Both are refused before parsing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.memory import human

#: Largest config file read (bytes); real configs are a few hundred bytes.
MAX_CONFIG_BYTES = 1_000_000

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (``a character device``)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_config_text(path: Path, limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of the config file ``path``: a regular file of at most ``limit`` bytes."""
    where = clip(str(path), 1000)
    try:
        _check_mode(os.stat(path).st_mode, path, limit)
        # O_NONBLOCK: a file swapped for a FIFO after the stat must not hang the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            status = os.fstat(fd)
            _check_mode(status.st_mode, path, limit)
            _check_size(status.st_size, path, limit)
            data = _read_at_most(fd, limit + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ConfigError(f"{where}: config file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"{where}: cannot read config file ({exc})") from None
    if len(data) > limit:  # it grew after the fstat
        raise ConfigError(f"{where}: config file grew past the limit of {human(limit)}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: cannot read config file ({exc})") from None


def _check_mode(mode: int, path: Path, limit: int) -> None:
    if not stat.S_ISREG(mode):
        raise ConfigError(
            f"{clip(str(path), 1000)}: is {file_kind(mode)}, not a config file (configs must be "
            f"regular files of at most {human(limit)})"
        )


def _check_size(size: int, path: Path, limit: int) -> None:
    if size > limit:
        raise ConfigError(
            f"{clip(str(path), 1000)}: config file is {human(size)}, over the limit of "
            f"{human(limit)} for configs"
        )


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
