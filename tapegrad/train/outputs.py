"""A run's files: config.yaml, metrics.csv (flushed per row), model.npz, summary.json.

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

from tapegrad.train.config import Config, ConfigError, dump_config

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.npz"
SUMMARY_FILE = "summary.json"


@contextlib.contextmanager
def _atomic(path: Path, mode: str) -> Iterator[IO[Any]]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


class RunDirectory:
    """Writes one run's files into ``directory`` (created if needed; existing files replaced)."""

    def __init__(self, directory: str | Path, config: Config, columns: list[str]) -> None:
        self.path = Path(directory)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"output.dir {directory}: cannot create it ({exc.strerror})"
            ) from None
        write_text_atomic(self.path / CONFIG_FILE, dump_config(config))
        self._columns = columns
        self._metrics = (self.path / METRICS_FILE).open("w", encoding="utf-8", newline="")
        self._write_row(columns)

    def add_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one row of metrics and flush it to disk."""
        self._write_row([_cell(row.get(name)) for name in self._columns])

    def _write_row(self, cells: list[str]) -> None:
        self._metrics.write(",".join(cells) + "\n")
        self._metrics.flush()

    def finish(self, state_dict: Mapping[str, np.ndarray], summary: Mapping[str, Any]) -> None:
        """Close the metrics and write the model weights and the summary."""
        self.close()
        write_npz_atomic(self.path / MODEL_FILE, state_dict)
        write_text_atomic(self.path / SUMMARY_FILE, json.dumps(json_safe(summary), indent=2) + "\n")

    def close(self) -> None:
        """Close the metrics file (idempotent)."""
        self._metrics.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
