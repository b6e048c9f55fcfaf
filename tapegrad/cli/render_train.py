"""Rendering of ``tapegrad train`` events: rich progress, plain lines, JSON lines, or quiet.

Each renderer is a callback for ``tapegrad.train`` events plus ``finish(result)``, which
prints the summary. Results go to stdout; the run's header and warnings go to stderr.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tapegrad.train import EpochEnded, Event, RunResult, RunStarted, RunWarning
from tapegrad.train.outputs import to_json

BLOCKS = " ▁▂▃▄▅▆▇█"
ASCII_BLOCKS = " .:-=+*%#"


# ----------------------------------------------------------------------------- text pieces


def epoch_line(event: EpochEnded) -> str:
    """``epoch   10  loss 1.2345e+02`` (plus accuracy for classification)."""
    width = max(4, len(str(event.epochs)))
    line = f"epoch {event.epoch:>{width}}  loss {event.loss:.4e}"
    if event.accuracy is not None:
        line += f"  accuracy {event.accuracy:.4f}"
    return line


def header_line(event: RunStarted) -> str:
    """One line describing the run about to start."""
    c = event.config
    model = " -> ".join(map(str, event.layer_sizes))
    batch = c["train.batch_size"] or "full"
    verb = f"resuming after epoch {event.start_epoch}:" if event.start_epoch else "training"
    return (
        f"{verb} {model} {c['model.activation']} ({event.parameters} parameters) "
        f"on {event.samples} {c['data.kind']} samples: {c['train.loss']}, "
        f"{c['train.optimizer']} lr {c['train.lr']:g}, batch {batch}, {c['train.epochs']} epochs"
    )


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
    lines.append(f"wall time   {result.seconds:.3f} s  ({result.epochs_per_second:,.0f} epochs/s)")
    if result.out_dir:
        lines.append(f"saved to    {result.out_dir}")
    return lines


def loss_curve(
    losses: Sequence[float], width: int = 60, height: int = 6, ascii: bool = False
) -> list[str]:
    """A small bar chart of the loss per epoch (log scale when it spans over two decades)."""
    values = np.array([v for v in losses if math.isfinite(v)], dtype=np.float64)
    if len(values) < 2:
        return []
    log = bool(values.min() > 0 and values.max() / values.min() > 100)
    columns = _resample(np.log10(values) if log else values, width)
    low, high = columns.min(), columns.max()
    span = (high - low) or 1.0
    levels = np.round((columns - low) / span * (height * 8 - 1)).astype(int) + 1
    blocks = ASCII_BLOCKS if ascii else BLOCKS
    top, bottom = (10**high, 10**low) if log else (high, low)
    labels = [f"{top:.2e}", *[""] * (height - 2), f"{bottom:.2e}"]
    rows = []
    for row in range(height - 1, -1, -1):
        cells = np.clip(levels - row * 8, 0, 8)
        bars = "".join(blocks[c] for c in cells)
        rows.append(f"{labels[height - 1 - row]:>9} |{bars}".rstrip())
    scale = "log scale, " if log else ""
    rows.append(f"{'':>9} +{'-' * len(columns)}")
    rows.append(f"{'':>10}loss ({scale}epochs 1-{len(losses)})")
    return rows


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
            lines += ["", *loss_curve(result.losses, ascii=not can_draw_blocks(self.out))]
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

    def finish(self, result: RunResult) -> None:
        """Stop the progress bar and print the summary and the curve."""
        self.progress.stop()
        style = "green" if result.status == "ok" else "red"
        for line in summary_lines(result):
            self.console.print(line, style=style if line.startswith("final") else None)
        curve = loss_curve(result.losses)
        if curve:
            self.console.print()
            for line in curve:
                self.console.print(line, style="cyan", highlight=False)

    def close(self) -> None:
        """Stop the live display (safe to call twice)."""
        self.progress.stop()
