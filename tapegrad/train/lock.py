"""One process per run directory: an exclusive ``flock`` on ``.tapegrad.lock`` inside it.

The lock is taken before a run writes anything and held until its files are saved; the kernel
releases it when the process dies, however it dies. The holder writes its pid into the file
so that a second process can name it. The file is removed by its holder on release (while
still locked); a process that locked a file removed meanwhile notices (the path no longer
leads to the file it holds) and tries again, so two processes never both hold a directory.
On a platform without ``fcntl`` (Windows) directories are not locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tapegrad.train.errors import ConfigError, clip

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".tapegrad.lock"


class RunLock:
    """An exclusive lock on a run directory, held until ``release``."""

    def __init__(self, directory: Path, fd: int | None) -> None:
        self.directory, self._fd = directory, fd

    @classmethod
    def acquire(cls, directory: str | Path, where: str) -> RunLock:
        """Lock ``directory`` (which must exist) or raise ConfigError naming the holder's pid.

        ``where`` starts the messages (the config source or the directory itself).
        """
        path = Path(directory)
        if fcntl is None:  # pragma: no cover - Windows
            return cls(path, None)
        for _ in range(100):  # each retry means another process released it meanwhile
            fd = _open(path / LOCK_FILE, where)
            if _try_lock(fd):
                if _same_file(fd, path / LOCK_FILE):
                    _write_pid(fd)
                    return cls(path, fd)
                os.close(fd)  # its holder removed it on release: lock the new one
                continue
            holder = _read_pid(fd)
            os.close(fd)
            raise ConfigError(
                f"{where}: {clip(str(path))} is in use by another tapegrad process "
                f"(pid {holder}); wait for it to finish or use another directory"
            )
        raise ConfigError(f"{where}: could not lock {clip(str(path))} (it keeps changing hands)")

    def release(self) -> None:
        """Remove the lock file and unlock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            if _same_file(fd, self.directory / LOCK_FILE):
                os.unlink(self.directory / LOCK_FILE)
        os.close(fd)  # closing the last descriptor releases the flock


def _open(path: Path, where: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(
            f"{where}: output.dir {clip(str(path.parent))}: cannot use it ({exc.strerror or exc})"
        ) from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _write_pid(fd: int) -> None:
    with contextlib.suppress(OSError):  # the pid only makes messages better
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"
