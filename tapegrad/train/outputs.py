"""A run's files: config.yaml, metrics.csv (flushed per row), model.npz, checkpoint.npz,
summary.json.

Whole files are written atomically (temp file in the same directory, then rename), so a
reader never sees half a file; ``metrics.csv`` is appended and flushed row by row instead,
so an interrupted run keeps every epoch it finished. A run holds its directory's lock
(``lock.RunLock``) from before its first write until its files are saved. The final save
writes the most valuable file first (model, checkpoint, summary) and tries each one even
when an earlier one failed; a failure names the file and the reason (``RunFileError``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from tapegrad.train import hooks
from tapegrad.train.config import dump_config
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.lock import LOCK_FILE, RunLock
from tapegrad.train.schema import Config

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.npz"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
BEST_FILE = "best.npz"
DATA_FILE = "data.json"
#: Files of an earlier run that --overwrite removes (config and metrics are rewritten anyway).
STALE_FILES = (MODEL_FILE, CHECKPOINT_FILE, SUMMARY_FILE, BEST_FILE, DATA_FILE)
RUN_FILES = (
    CONFIG_FILE, METRICS_FILE, MODEL_FILE, CHECKPOINT_FILE, SUMMARY_FILE, BEST_FILE, DATA_FILE,
)  # fmt: skip
TEMP_SUFFIX = ".tmp"


class RunFileError(OSError):
    """A run file that could not be written: names the file and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"could not write {path} ({reason})")
        self.path, self.reason = path, reason


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """Turn an OSError while writing ``path`` into a RunFileError naming it."""
    try:
        yield
    except RunFileError:
        raise
    except OSError as exc:
        raise RunFileError(path, exc.strerror or str(exc)) from exc


@contextlib.contextmanager
def _atomic(path: Path, mode: str) -> Iterator[IO[Any]]:
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_directory(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    # Not mkstemp: its files are 0600 whatever the umask; mode 0o666 lets the umask decide,
    # as for any file the user creates (0644 under umask 022).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _sync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_temporaries(directory: Path) -> list[str]:
    """Remove the temporary files a killed run left behind in ``directory``; their names."""
    removed = []
    for name in RUN_FILES:
        for tmp in directory.glob(f".{name}.*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                if tmp.is_file() and not tmp.is_symlink():
                    tmp.unlink()
                    removed.append(tmp.name)
    return removed


def write_text_atomic(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` atomically."""
    with _named(path), _atomic(path, "w") as f:
        f.write(content)


def write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically (plain arrays: no pickle needed)."""
    plain = {name: np.asarray(a) for name, a in arrays.items()}
    pickled = [name for name, a in plain.items() if a.dtype.hasobject]
    if pickled:  # np.savez would pickle these, and np.load(allow_pickle=False) would refuse
        raise TypeError(f"cannot save object arrays without pickle: {', '.join(pickled)}")
    with _named(path), _atomic(path, "wb") as f:
        np.savez(f, **plain)


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Strict JSON text (non-finite floats as null)."""
    return json.dumps(json_safe(value), allow_nan=False)


def check_output_dir(directory: str | Path, overwrite: bool, where: str = "output.dir") -> None:
    """Refuse a path that is not a directory, or a non-empty one unless ``overwrite`` (and
    then one where a run file's name is taken by a directory)."""
    path, directory = Path(directory), clip(str(directory))
    try:
        if not path.exists():
            return
        if not path.is_dir():
            raise ConfigError(f"{where}: output.dir {directory} exists and is not a directory")
        entries = sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE)
        taken = [name for name in RUN_FILES if name in entries and (path / name).is_dir()]
    except OSError as exc:
        raise ConfigError(
            f"{where}: output.dir {directory}: cannot use it ({exc.strerror or exc})"
        ) from None
    if entries and not overwrite:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise ConfigError(
            f"{where}: output.dir {directory} is not empty ({shown}); pass --overwrite to "
            f"replace its run files, or --resume {directory} to continue the run in it"
        )
    if taken:
        raise ConfigError(
            f"{where}: output.dir {directory}: {taken[0]} is a directory, so --overwrite "
            "cannot replace it; move it away or use another directory"
        )


def lock_output_dir(
    directory: str | Path, overwrite: bool, where: str = "output.dir"
) -> tuple[RunLock, bool]:
    """Create ``directory`` if needed, lock it, then check it (``check_output_dir``) under
    the lock, so no other run can fill it in between; the lock, and whether the directory
    was created (``discard_output_dir`` undoes both if the run does not start)."""
    path, shown = Path(directory), clip(str(directory))
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file: check_output_dir names it
        check_output_dir(path, overwrite, where)
        raise
    except OSError as exc:
        raise ConfigError(
            f"{where}: output.dir {shown}: cannot create it ({exc.strerror or exc})"
        ) from None
    lock = RunLock.acquire(path, where)
    try:
        check_output_dir(path, overwrite, where)
    except BaseException:
        discard_output_dir(lock, created)
        raise
    return lock, created


def discard_output_dir(lock: RunLock, created: bool) -> None:
    """Release ``lock`` and remove its directory if this run created it and it is empty."""
    lock.release()
    if created:
        with contextlib.suppress(OSError):
            lock.directory.rmdir()


class RunDirectory:
    """Writes one run's files into a directory it holds the lock of: created fresh, or
    reopened to resume. ``failed`` maps each file that could not be written to the reason."""

    def __init__(self, path: Path, columns: list[str], metrics: IO[str], lock: RunLock) -> None:
        self.path, self._columns, self._metrics, self._lock = path, columns, metrics, lock
        self.failed: dict[str, str] = {}

    @classmethod
    def create(
        cls,
        directory: str | Path,
        config: Config,
        columns: list[str],
        overwrite: bool = False,
        where: str = "output.dir",
        lock: RunLock | None = None,
        texts: Mapping[str, str] | None = None,
    ) -> RunDirectory:
        """Start a run in ``directory``; with ``overwrite``, first remove an old run's files.

        ``lock`` is the directory's lock from ``lock_output_dir`` (taken here if None);
        ``texts`` are more files written with config.yaml (name -> text).
        """
        if lock is None:
            lock, _ = lock_output_dir(directory, overwrite, where)
        try:
            return cls._start(Path(directory), config, columns, overwrite, lock, where, texts)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _start(
        cls,
        path: Path,
        config: Config,
        columns: list[str],
        overwrite: bool,
        lock: RunLock,
        where: str,
        texts: Mapping[str, str] | None = None,
    ) -> RunDirectory:
        try:
            if overwrite:
                for name in STALE_FILES:
                    (path / name).unlink(missing_ok=True)
                remove_temporaries(path)
            write_text_atomic(path / CONFIG_FILE, dump_config(config, relative_to=path))
            for name, text in (texts or {}).items():
                write_text_atomic(path / name, text)
            with _named(path / METRICS_FILE):
                metrics = (path / METRICS_FILE).open("w", encoding="utf-8", newline="")
            run = cls(path, columns, metrics, lock)
            run._write_row(columns)
        except OSError as exc:  # nothing trained yet: the directory is unusable (exit 2)
            raise ConfigError(f"{where}: output.dir {clip(str(path))}: {exc}") from None
        return run

    @classmethod
    def reopen(
        cls,
        directory: str | Path,
        config: Config,
        columns: list[str],
        rows: list[dict[str, Any]],
        lock: RunLock,
        texts: Mapping[str, str] | None = None,
    ) -> RunDirectory:
        """Resume in ``directory`` (``lock`` held): metrics.csv is rewritten with ``rows``
        (the checkpoint's epochs, dropping any logged after it was saved), then appended to.
        Temporary files a killed session left are removed first."""
        path = Path(directory)
        remove_temporaries(path)
        lines = [",".join(columns)] + [",".join(_row(r, columns)) for r in rows]
        try:
            write_text_atomic(path / CONFIG_FILE, dump_config(config, relative_to=path))
            for name, text in (texts or {}).items():
                write_text_atomic(path / name, text)
            write_text_atomic(path / METRICS_FILE, "".join(line + "\n" for line in lines))
            with _named(path / METRICS_FILE):
                metrics = (path / METRICS_FILE).open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise ConfigError(f"{clip(str(path))}: {exc}") from None
        return cls(path, columns, metrics, lock)

    def add_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one row of metrics and flush it to disk (RunFileError if it cannot)."""
        self._write_row(_row(row, self._columns))

    def _write_row(self, cells: list[str]) -> None:
        with _named(self.path / METRICS_FILE):
            self._metrics.write(",".join(cells) + "\n")
            self._metrics.flush()

    def save_checkpoint(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Write ``checkpoint.npz`` (atomically; RunFileError if it cannot)."""
        write_npz_atomic(self.path / CHECKPOINT_FILE, arrays)

    def finish(
        self,
        state_dict: Mapping[str, np.ndarray] | None,
        summary: Mapping[str, Any],
        checkpoint: Mapping[str, np.ndarray] | None = None,
        extra: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> dict[str, str]:
        """Close the metrics; write the model, the ``extra`` array files (``best.npz``) and
        the checkpoint (unless None), then the summary, which lists any that failed
        (``files_not_saved``). Each file is tried whatever happened to the one before;
        returns ``failed``."""
        self.close()
        if state_dict is not None:
            self._attempt(MODEL_FILE, lambda: write_npz_atomic(self.path / MODEL_FILE, state_dict))
        for name, arrays in (extra or {}).items():
            self._attempt(name, lambda n=name, a=arrays: write_npz_atomic(self.path / n, a))
        hooks.pause("final-save")
        if checkpoint is not None:
            self._attempt(CHECKPOINT_FILE, lambda: self.save_checkpoint(checkpoint))
        summary = dict(summary)
        if self.failed:
            summary["files_not_saved"] = dict(self.failed)
        text = json.dumps(json_safe(summary), indent=2) + "\n"
        self._attempt(SUMMARY_FILE, lambda: write_text_atomic(self.path / SUMMARY_FILE, text))
        return self.failed

    def _attempt(self, name: str, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as exc:
            self.failed[name] = exc.reason if isinstance(exc, RunFileError) else str(exc)

    def close(self) -> None:
        """Close the metrics file (idempotent; a failed last flush is recorded in ``failed``)."""
        if self._metrics.closed:
            return
        try:
            self._metrics.close()
        except OSError as exc:
            self.failed[METRICS_FILE] = exc.strerror or str(exc)

    def release(self) -> None:
        """Close the metrics and give up the directory's lock (idempotent)."""
        self.close()
        self._lock.release()


def _row(row: Mapping[str, Any], columns: list[str]) -> list[str]:
    return [_cell(row.get(name)) for name in columns]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
