"""Loss curves of run directories: read from ``metrics.csv``, drawn with matplotlib.

``read_curves(run_dir)`` gives the per-epoch columns a run logged (loss, accuracy and, when
the run had validation data, val_loss and val_accuracy); ``save_png`` draws one or several
runs overlaid: a loss panel (log scale when it spans over two decades) and, when any run has
accuracies, an accuracy panel. matplotlib is an optional extra
(``pip install 'tapegrad[plot]'``); without it ``save_png`` raises ``PlotUnavailable``.
Nothing here prints.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from tapegrad.train.errors import ConfigError, clip
from tapegrad.train.outputs import METRICS_FILE
from tapegrad.train.runs_table import read_metrics

PNG_FILE = "loss.png"
INSTALL_HINT = "pip install 'tapegrad[plot]'  (or: pip install 'matplotlib>=3.7')"
LOSS_COLUMNS = ("loss", "val_loss")
ACCURACY_COLUMNS = ("accuracy", "val_accuracy")


class PlotUnavailable(ImportError):
    """matplotlib is not installed."""


@dataclass(frozen=True)
class Curves:
    """One run's per-epoch columns (column name -> values; None where a cell was empty)."""

    name: str
    epochs: list[int]
    columns: dict[str, list[float | None]]

    def series(self, column: str) -> tuple[list[int], list[float]]:
        """Epochs and finite values of ``column`` (empty if the run has no such column)."""
        pairs = [
            (e, v)
            for e, v in zip(self.epochs, self.columns.get(column, []))
            if v is not None and math.isfinite(v)
        ]
        return [e for e, _ in pairs], [v for _, v in pairs]


def read_curves(run_dir: str | Path, name: str | None = None) -> Curves:
    """The curves logged in ``run_dir/metrics.csv`` (ConfigError if there are none)."""
    path = Path(run_dir) / METRICS_FILE
    columns = read_metrics(path)
    if "loss" not in columns:
        raise ConfigError(
            f"{clip(str(path))}: no metrics with a loss column (is it a run directory?)"
        )
    epochs = [int(e) if e is not None else i for i, e in enumerate(columns.pop("epoch", []), 1)]
    if not epochs:
        epochs = list(range(1, len(columns["loss"]) + 1))
    shown = name if name is not None else (Path(run_dir).resolve().name or str(run_dir))
    return Curves(shown, epochs, columns)


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_png(curves: list[Curves], path: str | Path) -> None:
    """Draw ``curves`` overlaid into the PNG file ``path`` (written atomically)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)  # no display needed, none opened
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable(f"matplotlib is not installed: {INSTALL_HINT}") from None
    has_accuracy = any(c.series(col)[1] for c in curves for col in ACCURACY_COLUMNS)
    figure = Figure(figsize=(10 if has_accuracy else 6, 4), dpi=100, layout="tight")
    axes = figure.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]
    _panel(axes[0], curves, LOSS_COLUMNS, "loss")
    if has_accuracy:
        _panel(axes[1], curves, ACCURACY_COLUMNS, "accuracy")
    target = Path(path)
    # Atomic: a temporary file beside the target, then a rename (never half a picture).
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(temporary, format="png")
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def _panel(axis: object, curves: list[Curves], columns: tuple[str, ...], label: str) -> None:
    values: list[float] = []
    for index, run in enumerate(curves):
        color = f"C{index % 10}"
        for column in columns:
            epochs, ys = run.series(column)
            if not ys:
                continue
            style = "--" if column.startswith("val_") else "-"
            legend = column if len(curves) == 1 else f"{run.name}: {column}"
            axis.plot(epochs, ys, style, color=color, label=legend)  # type: ignore[attr-defined]
            values += ys
    positive = [v for v in values if v > 0]
    all_positive = bool(positive) and len(positive) == len(values)
    if label == "loss" and all_positive and max(positive) / min(positive) > 100:
        axis.set_yscale("log")  # type: ignore[attr-defined]
    axis.set_xlabel("epoch")  # type: ignore[attr-defined]
    axis.set_ylabel(label)  # type: ignore[attr-defined]
    if values:
        axis.legend(fontsize="small")  # type: ignore[attr-defined]
    axis.grid(True, alpha=0.3)  # type: ignore[attr-defined]


def save_run_png(run_dir: str | Path) -> Path | None:
    """``run_dir/loss.png`` for a finished run when matplotlib is installed (None if not)."""
    if not matplotlib_available():
        return None
    os.environ.setdefault("MPLBACKEND", "Agg")
    target = Path(run_dir) / PNG_FILE
    save_png([read_curves(run_dir)], target)
    return target
