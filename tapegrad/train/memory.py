"""Refuse sizes that cannot fit, before allocating anything.

The estimate is deliberately rough (within about 2x) and errs high: float32 data with room
for the temporaries made while generating it, every layer's activations kept for backward
plus their gradients, and parameters with their gradients and optimizer buffers. A run is
refused when the estimate exceeds ``FRACTION`` of the memory available now (``MemAvailable``
in ``/proc/meminfo``, capped by a cgroup limit; physical memory where those are missing).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tapegrad.train.errors import ConfigError
from tapegrad.train.schema import CSV, LINEAR, SPIRALS, Config

FRACTION = 0.8
FLOAT = 4  # float32
#: Parsed doubles, the float64 table and float32 copies, per byte of CSV text: 20 bytes per
#: cell, and a cell takes at least 2 bytes of text ("1,").
CSV_BYTES_PER_FILE_BYTE = 10
#: Copies of the data alive while it is generated (draws, products, the final arrays).
DATA_COPIES = 3
#: Per layer output: the forward value, what backward saves, its gradient, a temporary.
ACTIVATION_COPIES = 4
#: Per parameter: the value, its gradient, two Adam buffers, a temporary.
PARAMETER_COPIES = 5


@dataclass(frozen=True)
class Estimate:
    """Estimated peak bytes by part, and what the run is made of (for the message)."""

    data: int
    activations: int
    parameters: int
    shape: str

    @property
    def total(self) -> int:
        """All parts together."""
        return self.data + self.activations + self.parameters

    def parts(self) -> str:
        """``data 16.0 TB, activations 28.0 TB, parameters 644 B``."""
        return (
            f"data {human(self.data)}, activations {human(self.activations)}, "
            f"parameters {human(self.parameters)}"
        )


def estimate(
    n: int, d_in: int, d_out: int, hidden: Sequence[int], batch: int | None, data_bytes: int
) -> Estimate:
    """Bytes for data, activations and parameters of an MLP ``d_in -> hidden -> d_out``."""
    sizes = [d_in, *hidden, d_out]
    rows = n if batch is None else min(batch, n)
    activations = rows * sum(sizes) * FLOAT * ACTIVATION_COPIES
    weights = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    layers = " -> ".join(map(_count, sizes))
    shape = f"{_count(n)} samples, layers {layers}, batch {_count(batch) if batch else 'full'}"
    return Estimate(data_bytes, activations, weights * FLOAT * PARAMETER_COPIES, shape)


def estimate_config(config: Config) -> Estimate | None:
    """The estimate from the config alone (None for a CSV file that cannot be looked at yet)."""
    kind, hidden, batch = config["data.kind"], config["model.hidden"], config["train.batch_size"]
    if kind == LINEAR:
        n, d_in, d_out = config["data.n"], config["data.d_in"], 1
        return estimate(n, d_in, d_out, hidden, batch, n * (d_in + d_out) * FLOAT * DATA_COPIES)
    if kind == SPIRALS:
        d_in, d_out = 2, config["data.classes"]
        n = d_out * config["data.points_per_class"]
        # float64 angles and coordinates, int64 labels
        return estimate(n, d_in, d_out, hidden, batch, n * 3 * 8 * DATA_COPIES)
    if kind == CSV:
        try:
            size = Path(config["data.path"]).stat().st_size
        except (OSError, ValueError):
            return None  # the CSV reader reports it
        return Estimate(size * CSV_BYTES_PER_FILE_BYTE, 0, 0, f"a CSV file of {human(size)}")
    return None


def estimate_model(config: Config, n: int, d_in: int, d_out: int) -> Estimate:
    """The estimate once the data exist (their real size; for CSV, the number of classes)."""
    return estimate(n, d_in, d_out, config["model.hidden"], config["train.batch_size"], 0)


#: Keys that set a run's size, in the order a message should blame them.
SIZE_KEYS = (
    "data.n",
    "data.points_per_class",
    "data.classes",
    "data.path",
    "model.hidden",
    "train.batch_size",
)


def check(estimate: Estimate | None, config: Config, available: int | None = None) -> None:
    """Raise ConfigError when ``estimate`` exceeds ``FRACTION`` of the available memory."""
    if estimate is None:
        return
    available = available_memory() if available is None else available
    if available is None or estimate.total <= FRACTION * available:
        return
    given = [k for k in SIZE_KEYS if k in config.sources]
    where = config.sources[given[0]] if given else "defaults"
    raise ConfigError(
        f"{where}: this run ({estimate.shape}) needs an estimated {human(estimate.total)} of "
        f"memory ({estimate.parts()}), more than {FRACTION:.0%} of the {human(available)} "
        "available; use less data, smaller model.hidden layers or a smaller train.batch_size"
    )


#: Bytes held per CSV value while reading: the parsed double and the float64 and float32
#: tables made from them (with room for a copy).
CSV_BYTES_PER_VALUE = 20


def csv_cell_limit(available: int | None = None) -> int | None:
    """Most CSV values that can be read into memory (None if memory cannot be told); bounds
    reading a file whose size is not known in advance, such as a FIFO."""
    available = available_memory() if available is None else available
    return None if available is None else int(FRACTION * available) // CSV_BYTES_PER_VALUE


def available_memory() -> int | None:
    """Bytes of memory available to this process now (None if it cannot be told)."""
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            return None
    limit = _cgroup_limit()
    return min(available, limit) if limit is not None else available


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_limit() -> int | None:
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def _count(n: int) -> str:
    return str(n) if n < 10**15 else f"about 10^{len(str(n)) - 1}"


def human(size: float) -> str:
    """``1536`` -> ``1.5 kB``; decimal units up to YB, then powers of ten."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    if size < 1000:
        return f"{size:.0f} B"
    power = int(math.log10(size) // 3)
    if power >= len(units):  # beyond any machine; also keeps huge ints out of float division
        return f"about 10^{int(math.log10(size))} B"
    return f"{size / 1000**power:.1f} {units[power]}"
