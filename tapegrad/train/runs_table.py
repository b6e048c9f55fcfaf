"""The table of runs under a directory (a sweep's, or any folder of run directories).

``collect(directory)`` finds every run directory (one holding ``config.yaml``) directly under
``directory`` (or ``directory`` itself), reads its config, ``summary.json`` and
``metrics.csv``, and returns a ``RunsTable``: the config keys whose values differ between the
runs, then status, epochs, final and best loss, the validation metric when the runs have one,
and wall time; sorted by the validation metric (else the best loss), best first. Nothing here
prints.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapegrad.train.config import flatten, read_yaml
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.lock import LOCK_FILE
from tapegrad.train.outputs import CONFIG_FILE, METRICS_FILE, SUMMARY_FILE

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Keys never shown as differences: every run has its own.
IGNORED_KEYS = ("output.dir",)
#: Validation columns of metrics.csv, in order of preference, and whether higher is better.
VAL_METRICS = (("val_loss", False), ("val_accuracy", True))


@dataclass
class RunRow:
    """One run: where it is, its config, and how it went."""

    name: str
    path: Path
    config: dict[str, Any]
    status: str
    epochs: int | None
    final_loss: float | None
    best_loss: float | None
    seconds: float | None
    val: dict[str, float] = field(default_factory=dict)  # metric -> best value

    def to_dict(self, keys: list[str]) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "name": self.name,
            "path": str(self.path),
            "config": {k: self.config.get(k) for k in keys},
            "status": self.status,
            "epochs": self.epochs,
            "final_loss": self.final_loss,
            "best_loss": self.best_loss,
            **{f"best_{k}": v for k, v in self.val.items()},
            "seconds": self.seconds,
        }


@dataclass
class RunsTable:
    """Runs sorted best first; ``keys``: the config keys that differ; ``metric``: the sort key."""

    rows: list[RunRow]
    keys: list[str]
    metric: str

    def to_json(self) -> dict[str, Any]:
        """Plain data: the differing keys, the sort metric, one object per run."""
        return {
            "keys": self.keys,
            "sorted_by": self.metric,
            "runs": [row.to_dict(self.keys) for row in self.rows],
        }


def collect(directory: str | Path) -> RunsTable:
    """The runs under ``directory`` (ConfigError if it holds none)."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"{clip(str(root))}: no such directory")
    candidates = [root] if (root / CONFIG_FILE).is_file() else []
    with contextlib.suppress(OSError):
        candidates += sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file())
    rows = [read_run(path, root) for path in candidates]
    if not rows:
        raise ConfigError(f"{clip(str(root))}: no run directories (none holds {CONFIG_FILE})")
    keys = differing_keys([row.config for row in rows])
    metric = next((m for m, _ in VAL_METRICS if any(m in row.val for row in rows)), "best_loss")
    rows.sort(key=lambda row: _sort_key(row, metric))
    return RunsTable(rows, keys, metric)


def read_run(path: Path, root: Path) -> RunRow:
    """One run directory's config, summary and validation metrics (missing parts as None)."""
    name = "." if path == root else path.name
    try:
        config = flatten(read_yaml(path / CONFIG_FILE), str(path / CONFIG_FILE))
    except ConfigError:
        config = {}
    summary = _read_json(path / SUMMARY_FILE)
    columns = _read_metrics(path / METRICS_FILE)
    losses = [v for v in columns.get("loss", []) if v is not None]
    status = summary.get("status") or ("running" if _locked(path) else "incomplete")
    finite = [v for v in losses if math.isfinite(v)]
    return RunRow(
        name=name,
        path=path,
        config=config,
        status=status,
        epochs=summary.get("epochs", len(losses) if losses else None),
        final_loss=_number(summary.get("final_loss", losses[-1] if losses else None)),
        best_loss=_number(summary.get("best_loss", min(finite) if finite else None)),
        seconds=_number(summary.get("seconds")),
        val=_val_metrics(columns),
    )


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Config keys (in the first config's order) whose values are not all equal."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [
        k
        for k in keys
        if k not in IGNORED_KEYS
        and len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1
    ]


def _val_metrics(columns: dict[str, list[float | None]]) -> dict[str, float]:
    best = {}
    for metric, higher in VAL_METRICS:
        values = [v for v in columns.get(metric, []) if v is not None and math.isfinite(v)]
        if values:
            best[metric] = max(values) if higher else min(values)
    return best


def _sort_key(row: RunRow, metric: str) -> tuple[int, float]:
    value = row.val.get(metric) if metric != "best_loss" else row.best_loss
    if value is None or not math.isfinite(value):
        return (1, 0.0)
    higher = dict(VAL_METRICS).get(metric, False)
    return (0, -value if higher else value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_metrics(path: Path) -> dict[str, list[float | None]]:
    """``metrics.csv`` as column name -> values (empty cells as None); {} if unreadable."""
    return _read_metrics(path)


def _read_metrics(path: Path) -> dict[str, list[float | None]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    if not rows:
        return {}
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    return {name: [_float(r[i]) for r in body] for i, name in enumerate(header)}


def _float(text: str) -> float | None:
    try:
        return float(text) if text != "" else None
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _locked(path: Path) -> bool:
    if fcntl is None or not (path / LOCK_FILE).exists():
        return False
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
