"""Rendering of ``tapegrad train`` events: rich progress, plain lines, JSON lines, or quiet.

Each renderer is a callback for ``tapegrad.train`` events plus ``finish(result)``, which
prints the summary. Results go to stdout; the run's header and warnings go to stderr.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tapegrad.train import EpochEnded, Event, RunResult, RunStarted, RunWarning
from tapegrad.train.outputs import to_json
from tapegrad.train.schema import Config

BLOCKS = " ▁▂▃▄▅▆▇█"
ASCII_BLOCKS = " .:-=+*%#"


# ----------------------------------------------------------------------------- text pieces


def epoch_line(event: EpochEnded) -> str:
    """``epoch   10  loss 1.2345e+02`` (plus accuracy for classification)."""
    width = max(4, len(str(event.epochs)))
    line = f"epoch {event.epoch:>{width}}  loss {event.loss:.4e}"
    if event.accuracy is not None:
        line += f"  accuracy {event.accuracy:.4f}"
    return line + val_text(event)


def val_text(event: EpochEnded) -> str:
    """``  val_loss 1.2345e+02  val_accuracy 0.9000  lr 1.000e-03`` (the parts a run has)."""
    text = f"  val_loss {event.val_loss:.4e}" if event.val_loss is not None else ""
    if event.val_accuracy is not None:
        text += f"  val_accuracy {event.val_accuracy:.4f}"
    if event.lr is not None:
        text += f"  lr {event.lr:.3e}"
    return text


def header_line(event: RunStarted) -> str:
    """One line describing the run about to start."""
    c = event.config
    model = " -> ".join(map(str, event.layer_sizes))
    batch = c["train.batch_size"] or "full"
    verb = f"resuming after epoch {event.start_epoch}:" if event.start_epoch else "training"
    held_out = f" (+{event.val_samples} for validation)" if event.val_samples else ""
    return (
        f"{verb} {model} {c['model.activation']}{_layer_options(c)} ({event.parameters} "
        f"parameters) on {event.samples} {c['data.kind']} samples{held_out}: {c['train.loss']}, "
        f"{c['train.optimizer']} lr {c['train.lr']:g}{_update_options(c)}, batch {batch}, "
        f"{c['train.epochs']} epochs"
    )


def _layer_options(c: Config) -> str:
    """`` batch norm, dropout 0.1`` (empty for a plain MLP)."""
    parts = [f"{c.get('model.norm')} norm"] if c.get("model.norm", "none") != "none" else []
    if c.get("model.dropout", 0.0) > 0:
        parts.append(f"dropout {c['model.dropout']:g}")
    return " + " + ", ".join(parts) if parts else ""


def _update_options(c: Config) -> str:
    """`` (cosine schedule)``, weight decay and clipping when set."""
    parts = []
    if c.get("train.scheduler") is not None:
        parts.append(f"{c['train.scheduler']['kind']} schedule")
    if c.get("train.weight_decay") is not None:
        parts.append(f"weight decay {c['train.weight_decay']:g}")
    if c.get("train.clip_grad_norm") is not None:
        parts.append(f"clip {c['train.clip_grad_norm']:g}")
    return f" ({', '.join(parts)})" if parts else ""


def warning_line(event: RunWarning) -> str:
    """``warning: ...`` (something failed but the run goes on)."""
    return f"warning: {event.message}"


def summary_lines(result: RunResult) -> list[str]:
    """Final and best loss, accuracy, wall time and speed, and where files went."""
    best = result.best_epoch
    lines = [
        f"final loss  {result.final_loss:.4e}  (epoch {result.epochs_done})",
        f"best loss   {result.best_loss:.4e}  (epoch {best if best is not None else '-'})",
    ]
    if result.final_accuracy is not None:
        lines.append(f"accuracy    {result.final_accuracy:.4f}")
    lines += validation_lines(result)
    lines.append(f"wall time   {result.seconds:.3f} s  ({speed_text(result)})")
    if result.out_dir:
        lines.append(f"saved to    {result.out_dir}")
    return lines


def validation_lines(result: RunResult) -> list[str]:
    """Final and best validation loss, validation accuracy, why the run stopped early, and
    the epoch ``best.npz`` holds."""
    figures, lines = result.validation_summary(), []
    if "final_val_loss" in figures:
        lines.append(f"val loss    {figures['final_val_loss']:.4e}  (epoch {result.epochs_done})")
    if "best_val_loss" in figures:
        epoch = figures["best_val_epoch"]
        lines.append(f"best val    {figures['best_val_loss']:.4e}  (epoch {epoch})")
    if "final_val_accuracy" in figures:
        lines.append(f"val acc     {figures['final_val_accuracy']:.4f}")
    if result.stop_reason:
        lines.append(f"stopped     {result.stop_reason.removeprefix('stopped ')}")
    best_model = result.notes.get("best_model")
    if best_model:
        lines.append(f"best model  best.npz: epoch {best_model['epoch']} ({best_model['monitor']})")
    return lines


def speed_text(result: RunResult) -> str:
    """``5,606 epochs/s``, or ``2.5 s/epoch`` for runs slower than one epoch per second."""
    speed = result.epochs_per_second
    if 0 < speed < 1:
        return f"{1 / speed:,.1f} s/epoch"
    return f"{speed:,.0f} epochs/s"


def loss_curve(
    losses: Sequence[float],
    width: int = 60,
    height: int = 6,
    ascii: bool = False,
    label_format: str = ".4e",
) -> list[str]:
    """A small bar chart of the loss per epoch (log scale when it spans over two decades);
    ``width`` bars, each line at most ``width + 12`` characters. The labels are the largest
    and smallest loss, in the summary's precision."""
    values = np.array([v for v in losses if math.isfinite(v)], dtype=np.float64)
    if len(values) < 2:
        return []
    log = bool(values.min() > 0 and values.max() / values.min() > 100)
    scaled = np.log10(values) if log else values
    columns = _resample(scaled, max(1, width))
    low, high = scaled.min(), scaled.max()
    span = (high - low) or 1.0
    levels = np.round((columns - low) / span * (height * 8 - 1)).astype(int) + 1
    blocks = ASCII_BLOCKS if ascii else BLOCKS
    top, bottom = format(values.max(), label_format), format(values.min(), label_format)
    labels = [top, *[""] * (height - 2), bottom]
    rows = []
    for row in range(height - 1, -1, -1):
        cells = np.clip(levels - row * 8, 0, 8)
        bars = "".join(blocks[c] for c in cells)
        rows.append(f"{labels[height - 1 - row]:>10} |{bars}".rstrip())
    scale = "log scale, " if log else ""
    rows.append(f"{'':>10} +{'-' * len(columns)}")
    footer = f"loss ({scale}epochs 1-{len(losses)})"
    indent = " " * 12 if len(footer) <= len(columns) else ""
    rows.append(indent + footer)
    return rows


def chart_width(columns: int) -> int:
    """Bars that fit a terminal ``columns`` wide (the labels take 12), at most 60."""
    return max(10, min(60, columns - 12))


def _resample(values: np.ndarray, width: int) -> np.ndarray:
    if len(values) <= width:
        return values
    edges = np.linspace(0, len(values), width + 1).astype(int)
    return np.array([values[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])


def can_draw_blocks(stream: TextIO) -> bool:
    """True when ``stream``'s encoding can show the unicode block characters."""
    try:
        BLOCKS.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# ----------------------------------------------------------------------------- renderers


class PlainRenderer:
    """Piped output: one line per log interval, then the summary and the loss curve."""

    def __init__(self, out: TextIO, err: TextIO, curve: bool = True) -> None:
        self.out, self.err, self.curve = out, err, curve

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            print(header_line(event), file=self.err, flush=True)
        elif isinstance(event, RunWarning):
            print(warning_line(event), file=self.err, flush=True)
        elif event.log:
            print(epoch_line(event), file=self.out, flush=True)

    def finish(self, result: RunResult) -> None:
        """Print the summary (and the curve)."""
        lines = summary_lines(result)
        if self.curve:
            width = chart_width(shutil.get_terminal_size().columns)
            ascii_only = not can_draw_blocks(self.out)
            lines += ["", *loss_curve(result.losses, width, ascii=ascii_only)]
        print("\n".join(lines), file=self.out, flush=True)


class QuietRenderer(PlainRenderer):
    """``-q``: nothing while training; the summary at the end."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        super().__init__(out, err, curve=False)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunWarning):  # even -q shows what went wrong
            print(warning_line(event), file=self.err, flush=True)


class JsonRenderer:
    """``--json``: one object per log interval, then the summary object."""

    def __init__(self, out: TextIO, quiet: bool = False, err: TextIO | None = None) -> None:
        self.out, self.quiet, self.err = out, quiet, err

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunWarning):  # stderr: stdout stays JSON lines
            print(warning_line(event), file=self.err or sys.stderr, flush=True)
        elif isinstance(event, EpochEnded) and event.log and not self.quiet:
            record: dict[str, Any] = {"epoch": event.epoch, "loss": event.loss}
            if event.accuracy is not None:
                record["accuracy"] = event.accuracy
            for name in ("val_loss", "val_accuracy", "lr"):
                if getattr(event, name) is not None:
                    record[name] = getattr(event, name)
            print(to_json(record), file=self.out, flush=True)

    def finish(self, result: RunResult) -> None:
        """Print the summary object."""
        print(to_json(result.summary()), file=self.out, flush=True)


class RichRenderer:
    """A terminal: a live progress bar, a line per log interval, a styled summary."""

    def __init__(self, console: Console, err_console: Console) -> None:
        self.console, self.err_console = console, err_console
        self.progress = Progress(
            TextColumn("[bold]epoch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.err_console.print(header_line(event), style="dim")
            epochs = event.config["train.epochs"]
            self.task = self.progress.add_task(
                "train", total=epochs, completed=event.start_epoch, loss="-"
            )
            self.progress.start()
            return
        if isinstance(event, RunWarning):
            self.progress.console.print(warning_line(event), style="yellow", highlight=False)
            return
        self.progress.update(self.task, completed=event.epoch, loss=f"{event.loss:.4e}")
        if event.log:
            self.progress.console.print(epoch_line(event), highlight=False)
            self.progress.refresh()  # the bar shows the epoch just printed, not an older one

    def finish(self, result: RunResult) -> None:
        """Stop the progress bar and print the summary and the curve."""
        self.progress.stop()
        style = "green" if result.status == "ok" else "red"
        for line in summary_lines(result):
            self.console.print(line, style=style if line.startswith("final") else None)
        curve = loss_curve(result.losses, chart_width(self.console.width))
        if curve:
            self.console.print()
            for line in curve:
                self.console.print(line, style="cyan", highlight=False)

    def close(self) -> None:
        """Stop the live display (safe to call twice)."""
        self.progress.stop()
