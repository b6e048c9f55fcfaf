"""Held-out data and feature scaling: the training part, the validation part, the statistics.

``split`` draws a ``data.val_split`` share of the samples with the run's generator (right
after the data, before the weights), or reads ``data.val_path``. ``Scaling`` standardizes the
inputs with the training part's mean and standard deviation (``data.normalize: standard``).
``DataInfo`` describes the columns and the scaling; it is saved as ``data.json`` in the run
directory, so ``predict`` can read new data exactly as the model was trained.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad.train.checkpoint import data_digest
from tapegrad.train.data import Dataset, read_csv
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.outputs import DATA_FILE
from tapegrad.train.schema import CSV, SPIRALS, Config

FORMAT = "tapegrad-data/1"


@dataclass(frozen=True)
class Scaling:
    """Per-feature ``(x - mean) / std`` in float64, the result in float32; ``None`` lists
    mean no scaling. A constant feature keeps ``std`` 1 (it is only centred)."""

    mean: list[float] | None = None
    std: list[float] | None = None

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaling:
        """The statistics of ``x`` (n, d)."""
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std[~(std > 0)] = 1.0
        return cls([float(v) for v in mean], [float(v) for v in std])

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` scaled (unchanged when there is no scaling)."""
        if self.mean is None or self.std is None:
            return x
        mean, std = np.array(self.mean), np.array(self.std)
        return ((x.astype(np.float64) - mean) / std).astype(np.float32)

    def on(self, data: Dataset) -> Dataset:
        """``data`` with its inputs scaled."""
        return data if self.mean is None else replace(data, x=self.apply(data.x))


@dataclass(frozen=True)
class DataInfo:
    """What a model expects: input and target column names (``columns`` all, in the CSV's
    order), classes, whether the CSV has a header, and the scaling."""

    kind: str
    columns: list[str]
    features: list[str]
    targets: list[str]
    classes: int | None
    header: bool | None
    normalize: str
    scaling: Scaling = field(default_factory=Scaling)
    train_samples: int = 0
    val_samples: int = 0

    def to_json(self) -> str:
        """The text of ``data.json``."""
        record = {"format": FORMAT, **asdict(self)}
        return json.dumps(record, indent=2) + "\n"

    @classmethod
    def read(cls, run_dir: Path) -> DataInfo:
        """``RUN_DIR/data.json``, checked (ConfigError naming what is wrong)."""
        path = run_dir / DATA_FILE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{run_dir}: no {DATA_FILE} (not a run directory?)") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read it ({clip(str(exc))})") from None
        try:
            return _from_record(record)
        except (TypeError, KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: damaged or not a tapegrad data file ({exc})") from None

    @property
    def d_in(self) -> int:
        """Input features."""
        return len(self.features)

    @property
    def d_out(self) -> int:
        """Model outputs."""
        return self.classes if self.classes is not None else len(self.targets)


def _from_record(record: Any) -> DataInfo:
    if not isinstance(record, dict) or record.pop("format", None) != FORMAT:
        raise ValueError(f"not in the format {FORMAT}")
    scaling = record.pop("scaling")
    info = DataInfo(**record, scaling=Scaling(**scaling))
    names = [*info.columns, *info.features, *info.targets]
    if not all(isinstance(n, str) for n in names) or not set(info.features) | set(
        info.targets
    ) <= set(info.columns):
        raise ValueError("bad column names")
    for stats in (info.scaling.mean, info.scaling.std):
        if stats is not None and (
            len(stats) != info.d_in
            or not all(isinstance(v, float) and math.isfinite(v) for v in stats)
        ):
            raise ValueError("bad scaling statistics")
    if info.classes is not None and (not isinstance(info.classes, int) or info.classes < 2):
        raise ValueError("bad class count")
    return info


@dataclass(frozen=True)
class Prepared:
    """The data a run trains on (scaled), its validation data (scaled, or None), the info."""

    train: Dataset
    held_out: Dataset | None
    info: DataInfo


def prepare_data(data: Dataset, config: Config) -> Prepared:
    """Split off the validation data and scale both parts with the training part's statistics."""
    train, held_out = split(data, config)
    scaling = Scaling.fit(train.x) if config["data.normalize"] == "standard" else Scaling()
    info = describe(data, config, scaling, train.n, held_out.n if held_out else 0)
    return Prepared(scaling.on(train), scaling.on(held_out) if held_out else None, info)


def split(data: Dataset, config: Config) -> tuple[Dataset, Dataset | None]:
    """(training part, validation part or None), as ``data.val_split``/``val_path`` say."""
    share = config["data.val_split"]
    if config.get("data.val_path") is not None:
        return data, read_validation_csv(data, config)
    if share is None:
        return data, None
    count = round(share * data.n)
    if not 1 <= count < data.n:
        where = config.sources.get("data.val_split", "defaults")
        raise ConfigError(
            f"{where}: data.val_split {share:g} of {data.n} samples leaves "
            f"{count} for validation and {data.n - count} for training; both need at least one"
        )
    order = tg.default_generator().permutation(data.n)
    val, train = np.sort(order[:count]), np.sort(order[count:])
    return _take(data, train), _take(data, val)


def _take(data: Dataset, index: np.ndarray) -> Dataset:
    return replace(data, x=data.x[index], y=data.y[index])


def read_validation_csv(data: Dataset, config: Config) -> Dataset:
    """``data.val_path``: the same columns as the training CSV, labels among its classes."""
    path = config["data.val_path"]
    classify = data.n_classes is not None
    try:
        val = read_csv(path, config["data.target"], config["data.header"], classify)
    except ConfigError as exc:  # read_csv names the key of the training CSV
        raise ConfigError(str(exc).replace("(data.path)", "(data.val_path)")) from None
    if val.columns != data.columns:
        raise ConfigError(
            f"{path}: data.val_path has columns {', '.join(val.columns)}, but data.path has "
            f"{', '.join(data.columns)}; the validation CSV needs the same columns"
        )
    if classify:
        assert data.n_classes is not None and val.n_classes is not None
        if val.n_classes > data.n_classes:
            raise ConfigError(
                f"{path}: data.val_path has class label {val.n_classes - 1}, but the training "
                f"data have classes 0 to {data.n_classes - 1}"
            )
        val = replace(val, n_classes=data.n_classes)
    if not (np.isfinite(val.x).all() and np.isfinite(val.y).all()):
        raise ConfigError(f"{path}: the data hold nan or inf values in float32")
    return val


def describe(data: Dataset, config: Config, scaling: Scaling, n_train: int, n_val: int) -> DataInfo:
    """The columns a model of ``config`` reads and predicts, and its scaling."""
    kind = config["data.kind"]
    if kind == CSV:
        columns, targets = list(data.columns), list(data.targets)
        features = [c for c in columns if c not in targets]
        header = config["data.header"]
    else:
        features = [f"x{i}" for i in range(1, data.d_in + 1)]
        targets = ["class"] if kind == SPIRALS else ["y"]
        columns, header = features + targets, None
    return DataInfo(
        kind, columns, features, targets, data.n_classes, header, config["data.normalize"],
        scaling, n_train, n_val,
    )  # fmt: skip


def run_digest(train: Dataset, held_out: Dataset | None) -> str:
    """The SHA-256 a checkpoint keeps of the data a run trains (and validates) on."""
    digest = data_digest(train.x, train.y)
    if held_out is None:
        return digest
    # both parts: a changed validation CSV is refused on resume too
    both = f"{digest}{data_digest(held_out.x, held_out.y)}"
    return hashlib.sha256(both.encode()).hexdigest()
