"""A checkpoint's entries, checked from the zip directory before any array is inflated.

Each entry of ``checkpoint.npz`` is a ``.npy`` file. Its name must be one a checkpoint holds,
its ``.npy`` header (read alone: a few hundred bytes) gives its shape and dtype, and the
uncompressed size the zip directory declares must be exactly what that shape and dtype need.
The zip reader never inflates more than the declared size, so once these agree, and their sum
fits in memory, loading the arrays is bounded. With the run's config the names, shapes and
dtypes must also be the model's and the optimizer's.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tapegrad.train import memory
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.model import INTEGER_BUFFERS, block_size, layout
from tapegrad.train.schema import LINEAR, SPIRALS, Config

#: The dtype of every model parameter and optimizer buffer (``nn.Linear``'s default).
MODEL_DTYPE = np.dtype(np.float32)
#: The dtype of the per-epoch history arrays.
HISTORY_DTYPE = np.dtype(np.float64)
#: Largest meta record (bytes of its UTF-32 array): configs are at most 1 MB of text.
MAX_META_BYTES = 64_000_000
HISTORY = ("history.loss", "history.accuracy", "history.time")
#: Optimizer buffers per ``train.optimizer`` (SGD keeps one only when momentum is set).
BUFFERS = {
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "sgd": ("momentum_buffer",),
    "rmsprop": ("square_avg", "momentum_buffer"),
    "adagrad": ("sum",),
    "manual": (),
}
#: The dtype of an integer model buffer (BatchNorm's ``num_batches_tracked``).
COUNTER_DTYPE = np.dtype(np.int64)
_NAME = re.compile(
    r"meta|history\.(loss|accuracy|time|val_loss|val_accuracy|lr)"
    r"|(model|best)\.\d+\.(weight|bias|running_mean|running_var|num_batches_tracked)"
    r"|optim\.\d+\.(exp_avg|exp_avg_sq|momentum_buffer|square_avg|sum)"
)


@dataclass(frozen=True)
class Entry:
    """One ``.npy`` member as its header describes it (nothing inflated)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        """Bytes of the array's data."""
        return math.prod(self.shape) * self.dtype.itemsize


def damaged(path: Path, what: str) -> ConfigError:
    """The error for a file that is not a whole, untampered checkpoint."""
    return ConfigError(f"{path}: damaged or not a tapegrad checkpoint ({what})")


def list_entries(archive: zipfile.ZipFile, path: Path) -> dict[str, Entry]:
    """Every entry of ``archive`` by name (``model.0.weight``), headers and sizes checked."""
    entries: dict[str, Entry] = {}
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if not info.filename.endswith(".npy") or not _NAME.fullmatch(name):
            raise damaged(path, f"unknown entry {clip(info.filename)!r}")
        if name in entries:
            raise damaged(path, f"entry {name!r} appears twice")
        entries[name] = _entry(archive, info, name, path)
    _check_fixed(entries, path)
    _check_total(entries, path)
    return entries


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, path: Path) -> Entry:
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise damaged(path, f"entry {name!r} has .npy format version {version}")
        header = f.tell()
    counter = name.endswith(".num_batches_tracked") and dtype == COUNTER_DTYPE
    if dtype.hasobject or (dtype.kind not in "fU" and not counter):
        raise damaged(path, f"entry {name!r} holds {dtype} values")
    entry = Entry(name, tuple(shape), dtype, info)
    need = header + entry.nbytes
    if info.file_size != need:
        raise damaged(
            path,
            f"entry {name!r} declares {info.file_size} bytes uncompressed, but its shape "
            f"{entry.shape} of {dtype} needs {need}",
        )
    return entry


def _check_fixed(entries: Mapping[str, Entry], path: Path) -> None:
    meta = entries.get("meta")
    if meta is not None and (meta.shape != () or meta.dtype.kind != "U"):
        raise damaged(path, "no meta record")
    if meta is not None and meta.nbytes > MAX_META_BYTES:
        raise damaged(path, f"the meta record is {memory.human(meta.nbytes)}")
    for name, entry in entries.items():
        if not name.startswith("history."):
            continue
        if len(entry.shape) != 1 or entry.dtype != HISTORY_DTYPE:
            raise damaged(path, f"no 1-d float array {name!r}")


def _check_total(entries: Mapping[str, Entry], path: Path) -> None:
    # The declared sizes bound what inflating can produce; all of it must fit in memory.
    size = sum(entry.info.file_size for entry in entries.values())
    available = memory.available_memory()
    if available is not None and size > memory.FRACTION * available:
        raise damaged(path, f"it would unpack to {memory.human(size)}")


def load_arrays(archive: zipfile.ZipFile, entries: Mapping[str, Entry]) -> dict[str, np.ndarray]:
    """Inflate the (checked) entries."""
    arrays = {}
    for name, entry in entries.items():
        with archive.open(entry.info) as f:
            arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
    return arrays


# ----------------------------------------------------------------------------- the layout


def check_layout(entries: Mapping[str, Entry], config: Config, path: Path) -> None:
    """Model and optimizer entries: the names, shapes and dtypes ``config`` trains."""
    model = {k[6:]: e for k, e in entries.items() if k.startswith("model.")}
    shapes, params = _layout(config, model)
    check_model_arrays(shapes, model, path)
    best = {k[5:]: e for k, e in entries.items() if k.startswith("best.")}
    if best:
        check_model_arrays(shapes, best, path)
    optimizer = {k: e for k, e in entries.items() if k.startswith("optim.")}
    _check_buffers(optimizer, [shapes[k] for k in params], config, path)


def model_shapes(config: Config, found: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The ``state_dict`` shapes of the config's MLP, in order; a CSV run's input and output
    widths come from the data, so they are taken from ``found`` here (restore checks them
    against the data)."""
    return _layout(config, found)[0]


def _layout(
    config: Config, found: Mapping[str, Any]
) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    hidden = list(config["model.hidden"])
    kind = config["data.kind"]
    if kind == LINEAR:
        d_in, d_out = config["data.d_in"], 1
    elif kind == SPIRALS:
        d_in, d_out = 2, config["data.classes"]
    else:
        d_in = _width(found.get("0.weight"), 1)
        d_out = _width(found.get(f"{block_size(config) * len(hidden)}.weight"), 0)
    return layout(config, [d_in, *hidden, d_out])


def _width(entry: Any, axis: int) -> int:
    shape = getattr(entry, "shape", ())
    return shape[axis] if len(shape) == 2 else 0


def check_model_arrays(
    expected: Mapping[str, tuple[int, ...]], arrays: Mapping[str, Any], path: Path
) -> None:
    """Refuse arrays (or entries) whose keys, shapes or dtypes differ from the model's."""
    for key, shape in expected.items():
        if key not in arrays:
            found = ", ".join(arrays) or "none"
            raise ConfigError(
                f"{path}: the model's {key!r} is missing from the checkpoint (it has: {found})"
            )
        array = arrays[key]
        if tuple(array.shape) != tuple(shape):
            raise ConfigError(
                f"{path}: {key!r} has shape {tuple(array.shape)} in the checkpoint, but the "
                f"model's is {tuple(shape)}"
            )
        dtype = COUNTER_DTYPE if key.split(".")[-1] in INTEGER_BUFFERS else MODEL_DTYPE
        if array.dtype != dtype:
            raise ConfigError(
                f"{path}: {key!r} holds {array.dtype} values in the checkpoint, but the "
                f"model's are {dtype}"
            )
    for key in arrays:
        if key not in expected:
            raise ConfigError(
                f"{path}: {key!r} in the checkpoint is not a parameter of the model "
                f"(it has: {', '.join(expected)})"
            )


def expected_buffers(config: Config) -> tuple[str, ...]:
    """The buffer names each parameter has in the optimizer's state once it has stepped."""
    name = config["train.optimizer"]
    if name == "sgd" and config["train.momentum"] == 0:
        return ()
    if name == "rmsprop" and config["train.momentum"] == 0:
        return ("square_avg",)
    return BUFFERS[name]


def _check_buffers(
    entries: Mapping[str, Entry], shapes: list[tuple[int, ...]], config: Config, path: Path
) -> None:
    names = expected_buffers(config)
    by_index: dict[int, set[str]] = {}
    for key, entry in entries.items():
        _, index, name = key.split(".")
        i = int(index)
        if name not in names or i >= len(shapes):
            raise ConfigError(
                f"{path}: {key!r} in the checkpoint is not a buffer of the optimizer "
                f"(train.optimizer {config['train.optimizer']} keeps "
                f"{', '.join(names) or 'none'} for {len(shapes)} parameters)"
            )
        if entry.shape != shapes[i] or entry.dtype != MODEL_DTYPE:
            raise ConfigError(
                f"{path}: {key!r} is {entry.dtype} {entry.shape} in the checkpoint, but its "
                f"parameter is {MODEL_DTYPE} {shapes[i]}"
            )
        by_index.setdefault(i, set()).add(name)
    if by_index and (
        len(by_index) != len(shapes) or any(len(v) != len(names) for v in by_index.values())
    ):
        missing = next(
            f"optim.{i}.{n}"
            for i in range(len(shapes))
            for n in names
            if n not in by_index.get(i, ())
        )
        raise ConfigError(f"{path}: the optimizer's {missing!r} is missing from the checkpoint")
