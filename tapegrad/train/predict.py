"""Using a trained model: predictions for new data, and its loss and accuracy or R² on data.

``load_trained(run_dir)`` rebuilds the run's model from ``config.yaml``, ``data.json`` and
``model.npz`` (``best.npz`` with ``best=True``). ``predict`` reads a CSV with the training's
input columns (its target columns may be there too; they are ignored), scales them as the
training did and returns one row per sample: the target columns for regression, ``class``
and one probability column per class for classification. ``evaluate`` needs the targets; with
no CSV it uses the run's own validation data, drawn again exactly as the run drew them.
Nothing here prints; every user error is a ConfigError naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.train.checkpoint import read as read_checkpoint
from tapegrad.train.checkpoint_entries import MODEL_DTYPE, check_model_arrays
from tapegrad.train.config import load_config
from tapegrad.train.data import Dataset, _read_rows, make_dataset
from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.heldout import DataInfo, Scaling, describe, run_digest, split
from tapegrad.train.model import INTEGER_BUFFERS, LOSSES, model_from_config
from tapegrad.train.outputs import BEST_FILE, CHECKPOINT_FILE, CONFIG_FILE, DATA_FILE, MODEL_FILE
from tapegrad.train.schema import Config
from tapegrad.train.val_metrics import evaluate_loss


@dataclass(frozen=True)
class TrainedModel:
    """A run's model with what it needs to read data: config, columns, scaling."""

    run_dir: Path
    config: Config
    info: DataInfo
    model: nn.Module
    weights: str  # the file the weights came from


@dataclass(frozen=True)
class Predictions:
    """One row per sample: ``columns`` names the cells of each row of ``values``."""

    columns: list[str]
    values: np.ndarray  # (n, len(columns)) float64; a class column holds whole numbers

    def csv_text(self) -> str:
        """The predictions as CSV text with a header row."""
        lines = [",".join(self.columns)]
        integer = [c == "class" for c in self.columns]
        for row in self.values:
            cells = [str(int(v)) if whole else f"{v:.9g}" for v, whole in zip(row, integer)]
            lines.append(",".join(cells))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Evaluation:
    """How well a model fits data: the run's loss, and accuracy (classes) or R² (values)."""

    data: str
    samples: int
    loss_name: str
    loss: float
    accuracy: float | None = None
    r2: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        record = {"data": self.data, "samples": self.samples, "loss_name": self.loss_name}
        record["loss"] = self.loss
        if self.accuracy is not None:
            record["accuracy"] = self.accuracy
        if self.r2 is not None:
            record["r2"] = self.r2
        return record


# ----------------------------------------------------------------------------- the model


def load_trained(run_dir: str | Path, best: bool = False) -> TrainedModel:
    """The model saved in ``run_dir`` (``best.npz`` if ``best``), ready to predict."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{clip(str(run_dir))}: no such run directory")
    if not (run_dir / CONFIG_FILE).is_file():
        raise ConfigError(f"{clip(str(run_dir))}: not a run directory (no {CONFIG_FILE})")
    config = load_config(run_dir / CONFIG_FILE, (), {"output.dir": str(run_dir)})
    info = DataInfo.read(run_dir) if (run_dir / DATA_FILE).exists() else _describe(config)
    name = BEST_FILE if best else MODEL_FILE
    arrays = _load_weights(run_dir / name, best)
    sizes = [info.d_in, *config["model.hidden"], info.d_out]
    with _own_random_state():  # building the model draws initial weights we do not keep
        model = model_from_config(sizes, config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_model_arrays(shapes, arrays, run_dir / name)
    model.load_state_dict(arrays)
    model.train(False)  # dropout off, norms on their running statistics
    return TrainedModel(run_dir, config, info, model, name)


def _describe(config: Config) -> DataInfo:
    """A run saved before ``data.json`` existed: no split, no scaling, so the columns follow
    from the config (and a CSV's header)."""
    with _own_random_state():
        tg.manual_seed(config["seed"])
        data = make_dataset(config)
    return describe(data, config, Scaling(), data.n, 0)


def _load_weights(path: Path, best: bool) -> dict[str, np.ndarray]:
    if not path.is_file():
        why = (
            "the run has not saved a best model (it needs at least one epoch)"
            if best
            else "the run has not saved its model yet (is it still training?)"
        )
        raise ConfigError(f"{clip(str(path))}: no such file; {why}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path}: not a model file ({clip(str(exc))})") from None
    bad = [
        k
        for k, v in arrays.items()
        if v.dtype != MODEL_DTYPE and k.split(".")[-1] not in INTEGER_BUFFERS
    ]
    if bad:
        raise ConfigError(f"{path}: {bad[0]!r} holds {arrays[bad[0]].dtype} values, not float32")
    return arrays


@contextlib.contextmanager
def _own_random_state() -> Iterator[None]:
    """Leave the global generator as it was (predicting must not change a caller's stream)."""
    state = tg.default_generator().bit_generator.state
    try:
        yield
    finally:
        tg.manual_seed(0).bit_generator.state = state


# ----------------------------------------------------------------------------- reading data


def read_table(path: str | Path, info: DataInfo, need_targets: bool) -> Dataset:
    """The model's inputs (scaled as in training) and, when the CSV has them, its targets."""
    path = Path(path)
    _check_data_file(path)
    header = info.header if info.header is not None else _has_header(path)
    names, rows = _read_rows(path, header)
    table = np.frombuffer(rows, dtype=np.float64).reshape(-1, len(names))
    features, targets = _select(path, names, info, header)
    if targets is None and need_targets:
        raise ConfigError(
            f"{path}: evaluating needs the target column(s) {', '.join(info.targets)}; "
            f"the file has {', '.join(names)}"
        )
    x = info.scaling.apply(table[:, features].astype(np.float32))
    if targets is None:
        return Dataset(x, np.zeros((len(x), 0), np.float32), info.classes)
    y = table[:, targets]
    if info.classes is None:
        return Dataset(x, y.astype(np.float32))
    labels = y[:, 0]
    if np.any(labels < 0) or np.any(labels >= info.classes) or np.any(labels != np.round(labels)):
        raise ConfigError(
            f"{path}: target column {info.targets[0]!r} must hold class labels 0 to "
            f"{info.classes - 1} (the classes the model was trained on)"
        )
    return Dataset(x, labels.astype(np.int64), info.classes)


def _check_data_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{clip(str(path))}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{clip(str(path))}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{clip(str(path))}: is a directory, not a CSV file")


def _has_header(path: Path) -> bool:
    """For runs on generated data: a first row that is not all numbers names the columns."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if row and any(cell.strip() for cell in row):
                    return not all(_is_number(cell) for cell in row)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False  # _read_rows reports it
    return False


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _select(
    path: Path, names: list[str], info: DataInfo, header: bool
) -> tuple[list[int], list[int] | None]:
    """Indices of the input columns and of the target columns (None: not in the file)."""
    if not header:
        return _by_position(path, len(names), info)
    unknown = [n for n in names if n not in info.columns]
    missing = [n for n in info.features if n not in names]
    if unknown or missing:
        problem = f"unknown column {unknown[0]!r}" if unknown else f"no column {missing[0]!r}"
        raise ConfigError(
            f"{path}: {problem}; the model reads {', '.join(info.features)}"
            f" (and the targets {', '.join(info.targets)} may be given)"
        )
    features = [names.index(n) for n in info.features]
    present = [n for n in info.targets if n in names]
    if present and len(present) != len(info.targets):
        absent = next(n for n in info.targets if n not in names)
        raise ConfigError(f"{path}: target column {absent!r} is missing (give all or none)")
    return features, [names.index(n) for n in info.targets] if present else None


def _by_position(path: Path, width: int, info: DataInfo) -> tuple[list[int], list[int] | None]:
    if width == len(info.columns):
        features = [info.columns.index(n) for n in info.features]
        return features, [info.columns.index(n) for n in info.targets]
    if width == info.d_in:
        return list(range(width)), None
    raise ConfigError(
        f"{path}: expected {info.d_in} columns (the inputs) or {len(info.columns)} (with the "
        f"targets), got {width}"
    )


# ----------------------------------------------------------------------------- workflows


def predict(trained: TrainedModel, path: str | Path) -> Predictions:
    """The model's predictions for the rows of the CSV at ``path``."""
    data = read_table(path, trained.info, need_targets=False)
    with tg.no_grad():
        output = trained.model(tg.from_numpy(data.x)).numpy().astype(np.float64)
    info = trained.info
    if info.classes is None:
        return Predictions(list(info.targets), output)
    shifted = np.exp(output - output.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    labels = output.argmax(axis=1).astype(np.float64)[:, None]
    columns = ["class", *(f"prob_{k}" for k in range(info.classes))]
    return Predictions(columns, np.concatenate([labels, probabilities], axis=1))


def evaluate(trained: TrainedModel, path: str | Path | None = None) -> Evaluation:
    """Loss and accuracy (classes) or R² (values) on the CSV at ``path``, or without it on
    the run's validation data (ConfigError if the run has none)."""
    if path is None:
        data, where = validation_data(trained), "validation data"
    else:
        data, where = read_table(path, trained.info, need_targets=True), str(path)
    loss_name = trained.config["train.loss"]
    loss, accuracy = evaluate_loss(trained.model, data, LOSSES[loss_name])
    r2 = None
    if data.n_classes is None:
        with tg.no_grad():
            output = trained.model(tg.from_numpy(data.x)).numpy().astype(np.float64)
        r2 = r2_score(data.y.astype(np.float64), output)
    return Evaluation(where, data.n, loss_name, loss, accuracy, r2)


def r2_score(y: np.ndarray, y_pred: np.ndarray) -> float:
    """The coefficient of determination, averaged over the target columns (as scikit-learn:
    a constant column scores 1 if predicted exactly, else 0)."""
    residual = ((y - y_pred) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    scores = [
        1.0 - r / t if t > 0 else (1.0 if r == 0 else 0.0)
        for r, t in zip(residual.tolist(), total.tolist())
    ]
    return float(np.mean(scores))


def validation_data(trained: TrainedModel) -> Dataset:
    """The run's validation data, drawn again from its seed (and checked against the data
    digest in its checkpoint, when it has one)."""
    config, info = trained.config, trained.info
    if config["data.val_split"] is None and config.get("data.val_path") is None:
        raise ConfigError(
            f"{clip(str(trained.run_dir))}: the run has no validation data (data.val_split or "
            "data.val_path); give a DATA.csv to evaluate on"
        )
    with _own_random_state():
        tg.manual_seed(config["seed"])
        train, held_out = split(make_dataset(config), config)
    assert held_out is not None
    train, held_out = info.scaling.on(train), info.scaling.on(held_out)
    _same_data(trained, train, held_out)
    return held_out


def _same_data(trained: TrainedModel, train: Dataset, held_out: Dataset) -> None:
    path = trained.run_dir / CHECKPOINT_FILE
    if not path.is_file():
        return
    digest = read_checkpoint(path).data_digest
    if run_digest(train, held_out) != digest:
        raise ConfigError(
            f"{trained.run_dir}: the data differ from those the run was trained on (was the "
            "CSV file changed?), so its validation data cannot be drawn again; give a DATA.csv"
        )
