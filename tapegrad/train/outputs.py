"""A run's files: config.yaml, metrics.csv (flushed per row), model.npz, checkpoint.npz,
summary.json.

Whole files are written atomically (temp file in the same directory, then rename), so a
reader never sees half a file; ``metrics.csv`` is appended and flushed row by row instead,
so an interrupted run keeps every epoch it finished.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from tapegrad.train.config import dump_config
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.schema import Config

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.npz"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
#: Files of an earlier run that --overwrite removes (config and metrics are rewritten anyway).
STALE_FILES = (MODEL_FILE, CHECKPOINT_FILE, SUMMARY_FILE)


@contextlib.contextmanager
def _atomic(path: Path, mode: str) -> Iterator[IO[Any]]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def _sync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomic(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` atomically."""
    with _atomic(path, "w") as f:
        f.write(content)


def write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically (plain arrays: no pickle needed)."""
    plain = {name: np.asarray(a) for name, a in arrays.items()}
    pickled = [name for name, a in plain.items() if a.dtype.hasobject]
    if pickled:  # np.savez would pickle these, and np.load(allow_pickle=False) would refuse
        raise TypeError(f"cannot save object arrays without pickle: {', '.join(pickled)}")
    with _atomic(path, "wb") as f:
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
    """Refuse a path that is not a directory, or a non-empty one unless ``overwrite``."""
    path, directory = Path(directory), clip(str(directory))
    try:
        if not path.exists():
            return
        if not path.is_dir():
            raise ConfigError(f"{where}: output.dir {directory} exists and is not a directory")
        entries = sorted(p.name for p in path.iterdir())
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


class RunDirectory:
    """Writes one run's files into a directory: created fresh, or reopened to resume."""

    def __init__(self, path: Path, columns: list[str], metrics: IO[str]) -> None:
        self.path, self._columns, self._metrics = path, columns, metrics

    @classmethod
    def create(
        cls, directory: str | Path, config: Config, columns: list[str], overwrite: bool = False
    ) -> RunDirectory:
        """Start a run in ``directory``; with ``overwrite``, first remove an old run's files."""
        path, directory = Path(directory), clip(str(directory))
        try:
            path.mkdir(parents=True, exist_ok=True)
            if overwrite:
                for name in STALE_FILES:
                    (path / name).unlink(missing_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"output.dir {directory}: cannot create it ({exc.strerror or exc})"
            ) from None
        write_text_atomic(path / CONFIG_FILE, dump_config(config))
        metrics = (path / METRICS_FILE).open("w", encoding="utf-8", newline="")
        run = cls(path, columns, metrics)
        run._write_row(columns)
        return run

    @classmethod
    def reopen(
        cls, directory: str | Path, config: Config, columns: list[str], rows: list[dict[str, Any]]
    ) -> RunDirectory:
        """Resume in ``directory``: metrics.csv is rewritten with ``rows`` (the checkpoint's
        epochs, dropping any logged after it was saved), then appended to."""
        path = Path(directory)
        write_text_atomic(path / CONFIG_FILE, dump_config(config))
        lines = [",".join(columns)] + [",".join(_row(r, columns)) for r in rows]
        write_text_atomic(path / METRICS_FILE, "".join(line + "\n" for line in lines))
        metrics = (path / METRICS_FILE).open("a", encoding="utf-8", newline="")
        return cls(path, columns, metrics)

    def add_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one row of metrics and flush it to disk."""
        self._write_row(_row(row, self._columns))

    def _write_row(self, cells: list[str]) -> None:
        self._metrics.write(",".join(cells) + "\n")
        self._metrics.flush()

    def save_checkpoint(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Write ``checkpoint.npz`` (atomically)."""
        write_npz_atomic(self.path / CHECKPOINT_FILE, arrays)

    def finish(
        self,
        state_dict: Mapping[str, np.ndarray] | None,
        summary: Mapping[str, Any],
        checkpoint: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Close the metrics; write the checkpoint and model (unless None) and the summary."""
        self.close()
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        if state_dict is not None:
            write_npz_atomic(self.path / MODEL_FILE, state_dict)
        write_text_atomic(self.path / SUMMARY_FILE, json.dumps(json_safe(summary), indent=2) + "\n")

    def close(self) -> None:
        """Close the metrics file (idempotent)."""
        self._metrics.close()


def _row(row: Mapping[str, Any], columns: list[str]) -> list[str]:
    return [_cell(row.get(name)) for name in columns]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
