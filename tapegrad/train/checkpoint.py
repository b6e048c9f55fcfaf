"""Resumable checkpoints: one ``checkpoint.npz`` holding everything a run needs to go on.

The file holds plain arrays only (``np.load(allow_pickle=False)`` reads it): the model's
``state_dict`` (``model.<key>``), optimizer buffers (``optim.<index>.<name>``), the per-epoch
history (``history.loss``/``accuracy``/``time``) and one JSON text (``meta``) with the
position inside the epoch, the random generator's state, the config and the data's digest.
It is written atomically with the other run files, so it is whole or absent, never half.
Nothing read from it is trusted: every field is checked and a mismatch is named.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tapegrad.train.bounded import file_kind
from tapegrad.train.checkpoint_entries import (
    check_layout,
    check_model_arrays,
    damaged,
    list_entries,
    load_arrays,
)
from tapegrad.train.checkpoint_state import check_optimizer
from tapegrad.train.config import PATH_KEYS, load_config, parse_overrides
from tapegrad.train.errors import COMMAND_LINE, ConfigError, clip
from tapegrad.train.outputs import CHECKPOINT_FILE, CONFIG_FILE
from tapegrad.train.schema import SCHEMA, Config

FORMAT = "tapegrad-checkpoint/1"
BASE_HISTORY = ("loss", "accuracy", "time")
#: Keys a resumed run may change: they do not alter the trajectory of the epochs it runs.
RESUMABLE_KEYS = (
    "train.epochs",
    "train.log_every",
    "train.checkpoint_every",
    "train.threads",
    "train.compile",
)
#: Statuses a run can be resumed from (a diverged or failed run would repeat its failure).
RESUMABLE_STATUSES = ("ok", "interrupted")
#: The fields of the meta record, all required (an unknown one is refused).
META_FIELDS = (
    "format", "status", "config", "data_digest", "classification", "optimizer", "rng", "step",
    "total", "correct", "seconds", "callbacks",
)  # fmt: skip
#: Meta fields older checkpoints do not have.
OPTIONAL_FIELDS = ("callbacks",)
#: Meta fields that count something, so are never negative.
COUNTERS = ("step", "correct", "seconds")

__all__ = ["check_model_arrays", "data_digest", "load_run", "pack", "read", "unpack"]


@dataclass
class Snapshot:
    """Everything a run needs to continue exactly where it stopped."""

    status: str
    config: dict[str, Any]
    data_digest: str
    model: dict[str, np.ndarray]
    optimizer: dict[str, Any] | None
    losses: list[float]
    accuracies: list[float | None]
    times: list[float]
    rng: dict[str, Any]
    step: int = 0
    total: float = 0.0
    correct: int = 0
    seconds: float = 0.0
    classification: bool = False
    #: Per-epoch figures beyond loss and accuracy (``val_loss``), as ``history.<name>``.
    extra: dict[str, list[float | None]] = field(default_factory=dict)
    #: The end-of-epoch callbacks' JSON state by name, and their arrays (``best.0.weight``).
    callbacks: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        """Epochs completed."""
        return len(self.losses)


def data_digest(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the data's shapes, dtypes and bytes (a resumed run must see the same data)."""
    digest = hashlib.sha256()
    for array in (x, y):
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- writing


def pack(snapshot: Snapshot) -> dict[str, np.ndarray]:
    """The snapshot as named plain arrays for ``np.savez``."""
    arrays = {f"model.{k}": np.asarray(v) for k, v in snapshot.model.items()}
    scalars: dict[str, dict[str, Any]] = {}
    groups = None
    if snapshot.optimizer is not None:
        groups = snapshot.optimizer["param_groups"]
        for index, entries in snapshot.optimizer["state"].items():
            for name, value in entries.items():
                if hasattr(value, "numpy") or isinstance(value, np.ndarray):
                    array = value.numpy() if hasattr(value, "numpy") else value
                    arrays[f"optim.{index}.{name}"] = np.array(array)
                else:
                    scalars.setdefault(str(index), {})[name] = value
    accuracies = [math.nan if a is None else a for a in snapshot.accuracies]
    if not snapshot.classification:  # one (empty) cell per epoch keeps the arrays aligned
        accuracies = [math.nan] * len(snapshot.losses)
    arrays["history.loss"] = np.array(snapshot.losses, dtype=np.float64)
    arrays["history.accuracy"] = np.array(accuracies, dtype=np.float64)
    arrays["history.time"] = np.array(snapshot.times, dtype=np.float64)
    for name, values in snapshot.extra.items():
        cells = [math.nan if v is None else v for v in values]
        arrays[f"history.{name}"] = np.array(cells, dtype=np.float64)
    arrays.update({k: np.asarray(v) for k, v in snapshot.arrays.items()})
    meta = {
        "format": FORMAT,
        "status": snapshot.status,
        "config": snapshot.config,
        "data_digest": snapshot.data_digest,
        "classification": snapshot.classification,
        "optimizer": None if groups is None else {"param_groups": groups, "scalars": scalars},
        "rng": snapshot.rng,
        "step": snapshot.step,
        "total": snapshot.total,
        "correct": snapshot.correct,
        "seconds": snapshot.seconds,
    }
    if snapshot.callbacks:
        meta["callbacks"] = snapshot.callbacks
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


# ----------------------------------------------------------------------------- reading


def read(path: Path, config: Config | None = None) -> Snapshot:
    """Load and check a checkpoint file (ConfigError naming the problem if it is not one).

    Entries are checked from the zip directory before any is inflated (``checkpoint_entries``);
    with ``config``, their names, shapes and dtypes must also be its model's and optimizer's.
    """
    _check_regular(path)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = list_entries(archive, path)
            if config is not None:
                check_layout(entries, config, path)
            arrays = load_arrays(archive, entries)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise damaged(path, clip(str(exc))) from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unknown compression
        raise damaged(path, clip(str(exc))) from None
    return unpack(arrays, path)


def _check_regular(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"{path.parent}: no {path.name} to resume from (the run was stopped before it "
            "could save one)"
        ) from None
    except OSError as exc:
        raise damaged(path, clip(str(exc))) from None
    if not stat.S_ISREG(mode):
        raise damaged(path, f"it is {file_kind(mode)}")


def unpack(arrays: Mapping[str, np.ndarray], path: Path) -> Snapshot:
    """The inverse of ``pack``, checking every field."""
    meta = _meta(arrays, path)
    field_ = _Fields(meta, path)
    history = [_float_array(arrays, f"history.{n}", path) for n in ("loss", "accuracy", "time")]
    names = [k[8:] for k in arrays if k.startswith("history.") and k[8:] not in BASE_HISTORY]
    extra = {name: _float_array(arrays, f"history.{name}", path) for name in names}
    if len({len(h) for h in [*history, *extra.values()]}) != 1:
        raise _damaged(path, "history arrays of different lengths")
    losses, accuracies, times = (h.tolist() for h in history)
    classification = field_.get("classification", bool)
    optimizer = _optimizer(arrays, field_.get("optimizer", dict, optional=True), path)
    return Snapshot(
        status=field_.get("status", str),
        config=field_.get("config", dict),
        data_digest=field_.get("data_digest", str),
        model={k[6:]: v for k, v in arrays.items() if k.startswith("model.")},
        optimizer=optimizer,
        losses=losses,
        accuracies=[None if math.isnan(a) else a for a in accuracies] if classification else [],
        times=times,
        rng=field_.get("rng", dict),
        step=field_.get("step", int),
        total=float(field_.get("total", (int, float))),
        correct=field_.get("correct", int),
        seconds=float(field_.get("seconds", (int, float))),
        classification=classification,
        extra={k: [None if math.isnan(v) else v for v in a.tolist()] for k, a in extra.items()},
        callbacks=field_.get("callbacks", dict, optional=True) or {},
        arrays={k: v for k, v in arrays.items() if k.startswith("best.")},
    )


def _meta(arrays: Mapping[str, np.ndarray], path: Path) -> dict[str, Any]:
    raw = arrays.get("meta")
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise _damaged(path, "no meta record")
    try:
        meta = json.loads(str(raw[()]))
    except (ValueError, RecursionError):
        raise _damaged(path, "meta record is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _damaged(path, f"not in the format {FORMAT}")
    unknown = [key for key in meta if key not in META_FIELDS]
    if unknown:
        raise _damaged(path, f"unknown field {clip(str(unknown[0]))!r} in the meta record")
    return meta


class _Fields:
    """Typed access to the meta record; a missing or mistyped field is named."""

    def __init__(self, meta: dict[str, Any], path: Path) -> None:
        self.meta, self.path = meta, path

    def get(self, name: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        value = self.meta.get(name)
        if value is None and optional:
            return None
        bad_bool = isinstance(value, bool) and kind is not bool
        if not isinstance(value, kind) or bad_bool:
            raise _damaged(self.path, f"field {name!r} is missing or of the wrong type")
        if isinstance(value, float) and not math.isfinite(value):
            raise _damaged(self.path, f"field {name!r} is {value}")
        if name in COUNTERS and value < 0:
            raise _damaged(self.path, f"field {name!r} is negative ({value})")
        return value


def _float_array(arrays: Mapping[str, np.ndarray], name: str, path: Path) -> np.ndarray:
    array = arrays.get(name)
    if array is None or array.ndim != 1 or array.dtype.kind != "f":
        raise _damaged(path, f"no 1-d float array {name!r}")
    return array


def _optimizer(
    arrays: Mapping[str, np.ndarray], meta: dict[str, Any] | None, path: Path
) -> dict[str, Any] | None:
    if meta is None:
        return None
    groups, scalars = meta.get("param_groups"), meta.get("scalars")
    if not isinstance(groups, list) or not isinstance(scalars, dict):
        raise _damaged(path, "optimizer record without param_groups or scalars")
    state: dict[int, dict[str, Any]] = {}
    for key, array in arrays.items():
        if key.startswith("optim."):
            index, _, name = key[6:].partition(".")
            if not index.isdigit() or not name:
                raise _damaged(path, f"bad optimizer entry {key!r}")
            state.setdefault(int(index), {})[name] = array
    for index, entries in scalars.items():
        if not str(index).isdigit() or not isinstance(entries, dict):
            raise _damaged(path, f"bad optimizer scalars for {index!r}")
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": groups}


_damaged = damaged


# ----------------------------------------------------------------------------- checks


def load_run(
    run_dir: str | Path, overrides: list[str] | tuple[str, ...]
) -> tuple[Config, Snapshot]:
    """The config (``RUN_DIR/config.yaml`` plus allowed overrides) and checkpoint of a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    changed = [k for k in parse_overrides(overrides) if k not in (*RESUMABLE_KEYS, *PATH_KEYS)]
    if changed:
        raise ConfigError(
            f"{COMMAND_LINE}: {changed[0]} cannot change when resuming (only "
            f"{', '.join(RESUMABLE_KEYS)} can); start a new run to change it"
        )
    config_path = run_dir / CONFIG_FILE
    if not os.path.lexists(config_path):  # anything else there: the bounded read names it
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml)")
    config = load_config(config_path, overrides, {"output.dir": str(run_dir)})
    _data_files_exist(config, run_dir)
    snapshot = read(run_dir / CHECKPOINT_FILE, config)
    _same_config(config, snapshot, config_path)
    check_optimizer(config, snapshot.optimizer, run_dir / CHECKPOINT_FILE)
    _can_continue(config, snapshot, run_dir)
    return config, snapshot


def _data_files_exist(config: Config, run_dir: Path) -> None:
    for key in PATH_KEYS:
        path = config.get(key)
        if path is not None and not os.path.lexists(path):
            raise ConfigError(
                f"{run_dir}: {key} {clip(str(path))} is not there (moved?); say where it is "
                f"now with {key}=NEW_PATH (it must hold the same data)"
            )


def _same_config(config: Config, snapshot: Snapshot, config_path: Path) -> None:
    # Data files may move (data.path=...): the data's digest, checked later, must still match.
    ignored = {*RESUMABLE_KEYS, *PATH_KEYS, "output.dir"}
    for key in dict.fromkeys([*config.values, *snapshot.config]):
        if key in ignored:
            continue
        ours, saved = config.get(key), snapshot.config.get(key)
        if key not in snapshot.config and key in SCHEMA and ours == SCHEMA[key].default:
            continue  # a key added since the checkpoint was saved, at its old behaviour
        if ours != saved:
            raise ConfigError(
                f"{config_path}: {key} is {json.dumps(ours)} but the checkpoint was trained "
                f"with {json.dumps(saved)}; a resumed run keeps its config (only "
                f"{', '.join(RESUMABLE_KEYS)} may change)"
            )


def _can_continue(config: Config, snapshot: Snapshot, run_dir: Path) -> None:
    if snapshot.status not in RESUMABLE_STATUSES:
        raise ConfigError(
            f"{run_dir}: the run ended with status {snapshot.status} at epoch "
            f"{snapshot.epochs_done}; resuming would repeat that. Start a new run (e.g. with "
            "a smaller train.lr)"
        )
    done, epochs = snapshot.epochs_done, config["train.epochs"]
    if done >= epochs:
        raise ConfigError(
            f"{run_dir}: the run has already done {done} of its {epochs} epochs; pass "
            f"train.epochs=N with N > {done} to train further"
        )
