"""Training data: the blog's linear set, spirals, or a CSV file, drawn from the seeded generator."""

from __future__ import annotations

import csv
import math
import stat
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad.train import memory
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.schema import CSV, LINEAR, SPIRALS, Config


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` (n, d_in) float32; targets ``y`` (n, d_out) float32 or (n,) int64 labels;
    a CSV's column names (all, in file order) and its target columns' names."""

    x: np.ndarray
    y: np.ndarray
    n_classes: int | None = None
    columns: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.x)

    @property
    def d_in(self) -> int:
        """Number of input features."""
        return self.x.shape[1]

    @property
    def d_out(self) -> int:
        """Model outputs needed: one logit per class, else one per target column."""
        return self.n_classes if self.n_classes is not None else self.y.shape[1]


def make_dataset(config: Config) -> Dataset:
    """The data set ``config`` describes; random kinds draw from ``tg.default_generator()``.

    Data that overflow float32 (huge ``data.weights`` or ``data.noise``, or CSV values past
    3.4e38) are refused: training on them could only report a meaningless divergence.
    """
    kind = config["data.kind"]
    with np.errstate(over="ignore", invalid="ignore"):
        data = _make(config, kind)
    if not (np.isfinite(data.x).all() and np.isfinite(data.y).all()):
        keys = {LINEAR: "data.weights and data.noise", SPIRALS: "data.noise"}.get(kind)
        sources = [config.sources.get(k) for k in ("data.weights", "data.noise")]
        where = config.get("data.path") or next(filter(None, sources), "defaults")
        advice = f"check {keys}" if keys else "float32 holds numbers up to 3.4e38"
        raise ConfigError(f"{where}: the data hold nan or inf values in float32; {advice}")
    return data


def _make(config: Config, kind: str) -> Dataset:
    if kind == LINEAR:
        return linear(config["data.n"], config["data.weights"], config["data.noise"])
    if kind == SPIRALS:
        return spirals(
            config["data.classes"], config["data.points_per_class"], config["data.noise"]
        )
    if kind == CSV:
        classify = config["train.loss"] == "cross_entropy"
        return read_csv(config["data.path"], config["data.target"], config["data.header"], classify)
    raise ValueError(f"unknown data kind {kind!r}")


def linear(n: int, weights: list[float], noise: float) -> Dataset:
    """The blog's data: ``x ~ N(0,1)``, ``y = x @ weights + noise * N(0,1)`` (x drawn first)."""
    x = tg.randn(n, len(weights))
    w = tg.tensor(weights).reshape(-1, 1)
    y = x.mm(w) + noise * tg.randn(n, 1)
    return Dataset(x.numpy(), y.numpy())


def spirals(classes: int, points: int, noise: float) -> Dataset:
    """Interleaved 2-D spiral arms, one per class; ``noise`` jitters the angle (radians)."""
    gen = tg.default_generator()
    radius = np.linspace(0.0, 1.0, points)
    xs, ys = [], []
    for k in range(classes):
        angle = np.linspace(0.0, 4.0, points) + 2 * math.pi * k / classes
        angle = angle + noise * gen.standard_normal(points)
        xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        ys.append(np.full(points, k, dtype=np.int64))
    return Dataset(np.concatenate(xs).astype(np.float32), np.concatenate(ys), classes)


# ----------------------------------------------------------------------------- CSV


def read_csv(
    path: str | Path, target: list[str | int] | None, header: bool, classify: bool
) -> Dataset:
    """Numeric CSV -> Dataset; ``target`` names (or indexes) the target column(s), default last.

    ``classify``: the target is one column of integer class labels 0..k-1.
    """
    path = Path(path)
    names, rows = _read_rows(path, header)
    width = len(names)
    targets = _target_indices(path, names, target)
    features = [i for i in range(width) if i not in targets]
    if not features:
        raise ConfigError(f"{path}: no input columns left after taking the target column(s)")
    table = np.frombuffer(rows, dtype=np.float64).reshape(-1, width)
    x = table[:, features].astype(np.float32)
    named = {"columns": tuple(names), "targets": tuple(names[i] for i in targets)}
    if not classify:
        return Dataset(x, table[:, targets].astype(np.float32), **named)
    return Dataset(x, *_labels(path, names, targets, table), **named)


def _read_rows(path: Path, header: bool) -> tuple[list[str], array]:
    _check_file(path)
    reader = None
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            return _parse_rows(path, _numbered_rows(reader), header)
    except FileNotFoundError:
        raise ConfigError(f"{path}: CSV file not found (data.path)") from None
    except csv.Error as exc:  # e.g. a NUL byte, or a field over the csv module's size limit
        line = reader.line_num if reader is not None else 1
        raise ConfigError(f"{path} line {line}: cannot parse CSV ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} of a read block: {exc.reason})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read CSV file ({exc.strerror or exc})") from None


def _check_file(path: Path) -> None:
    # A directory or a device (/dev/zero) would fail late or read forever; FIFOs are fine.
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path}: CSV file not found (data.path)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read CSV file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{path}: is a directory, not a CSV file (data.path)")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise ConfigError(f"{path}: not a regular file (data.path)")


def _parse_rows(
    path: Path, lines: Iterator[tuple[int, list[str]]], header: bool
) -> tuple[list[str], array]:
    """Parse row by row into one flat array of doubles (8 bytes a cell: neither the text
    nor Python floats of the whole file are held at once)."""
    names: list[str] | None = None
    header_line = 0
    if header:
        first = next(lines, None)
        if first is None:
            raise ConfigError(f"{path} line 1: the file is empty; expected a header row")
        header_line, row = first
        names = [name.strip() for name in row]
        _no_duplicate_names(path, header_line, names)
    rows = array("d")
    limit = memory.csv_cell_limit()
    for number, row in lines:
        if names is None:
            names = [f"column {i}" for i in range(len(row))]
        rows.extend(_parse_row(path, number, row, names))
        if limit is not None and len(rows) > limit:
            raise ConfigError(
                f"{path} line {number}: the CSV data exceed the memory available "
                f"({len(rows)} values so far, at most {limit} fit); use a smaller file"
            )
    if not rows:
        what = "after the header" if header else "(the file is empty)"
        raise ConfigError(f"{path} line {header_line + 1}: no data rows {what}")
    return names or [], rows


def _no_duplicate_names(path: Path, line: int, names: list[str]) -> None:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise ConfigError(
                f"{path} line {line}: duplicate column name {clip(name)!r} (columns "
                f"{first[name] + 1} and {i + 1}); each column needs its own name"
            )
        first[name] = i


def _numbered_rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    for row in reader:
        if row and any(cell.strip() for cell in row):
            yield reader.line_num, row


def _parse_row(path: Path, line: int, row: list[str], names: list[str]) -> list[float]:
    if len(row) != len(names):
        raise ConfigError(f"{path} line {line}: expected {len(names)} fields, got {len(row)}")
    values = []
    for name, cell in zip(names, row):
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(f"{path} line {line}: column {name!r} must be a number, got {cell!r}")
        values.append(value)
    return values


def _target_indices(path: Path, names: list[str], target: list[str | int] | None) -> list[int]:
    if target is None:
        return [len(names) - 1]
    indices = []
    for item in target:
        if isinstance(item, int) and -len(names) <= item < len(names):
            indices.append(item % len(names))
        elif isinstance(item, str) and item in names:
            indices.append(names.index(item))
        else:
            raise ConfigError(
                f"{path}: data.target {item!r} is not a column; columns are {', '.join(names)}"
            )
    return indices


def _labels(
    path: Path, names: list[str], targets: list[int], table: np.ndarray
) -> tuple[np.ndarray, int]:
    if len(targets) != 1:
        raise ConfigError(f"{path}: train.loss cross_entropy needs one target column of labels")
    column = table[:, targets[0]]
    # The upper bound keeps the int64 cast exact; the memory check judges the class count.
    if np.any(column < 0) or np.any(column != np.round(column)) or np.any(column >= 2**31):
        raise ConfigError(
            f"{path}: target column {names[targets[0]]!r} must hold class labels 0, 1, 2, ... "
            "for train.loss cross_entropy"
        )
    labels = column.astype(np.int64)
    return labels, int(labels.max()) + 1
