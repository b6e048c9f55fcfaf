"""``tapegrad plot RUN_DIR... [--out FILE.png]``: loss (and validation) curves of runs.

With ``--out`` the runs are drawn overlaid into a PNG (matplotlib, ``tapegrad[plot]``);
without it each run's curves are drawn in the terminal with ``render_train.loss_curve``.
"""

from __future__ import annotations

import shutil
import sys

import click

from tapegrad.cli.command import PlainErrorCommand
from tapegrad.cli.render_train import can_draw_blocks, chart_width, loss_curve
from tapegrad.train.errors import ConfigError
from tapegrad.train.plot import (
    ACCURACY_COLUMNS,
    INSTALL_HINT,
    LOSS_COLUMNS,
    Curves,
    PlotUnavailable,
    read_curves,
    save_png,
)

EXIT_USAGE = 2


@click.command(
    "plot", cls=PlainErrorCommand, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option(
    "--out",
    "out_file",
    metavar="FILE.png",
    help="Draw the runs overlaid into this PNG (needs pip install 'tapegrad[plot]'); "
    "default: text charts in the terminal.",
)
def plot_cmd(run_dirs: tuple[str, ...], out_file: str | None) -> None:
    """Draw the loss of one or several runs (and val_loss, accuracy, val_accuracy when the
    runs logged them), read from each RUN_DIR/metrics.csv."""
    try:
        curves = [read_curves(d, d.rstrip("/") or d) for d in run_dirs]
    except ConfigError as exc:
        _fail(str(exc))
    if out_file is None:
        click.echo("\n".join(text_charts(curves, shutil.get_terminal_size().columns)))
        return
    try:
        save_png(curves, out_file)
    except PlotUnavailable:
        _fail(f"--out draws with matplotlib, which is not installed: {INSTALL_HINT}")
    except OSError as exc:
        _fail(f"could not write {out_file} ({exc.strerror or exc})")
    click.echo(f"wrote {out_file}", err=True)


def text_charts(curves: list[Curves], columns: int = 80) -> list[str]:
    """One terminal chart per run and logged column (loss, val_loss, accuracy...)."""
    ascii_only = not can_draw_blocks(sys.stdout)
    lines: list[str] = []
    for run in curves:
        for column in (*LOSS_COLUMNS, *ACCURACY_COLUMNS):
            _, values = run.series(column)
            fmt = ".4f" if column in ACCURACY_COLUMNS else ".4e"
            chart = loss_curve(values, chart_width(columns), ascii=ascii_only, label_format=fmt)
            if chart:
                chart[-1] = chart[-1].replace("loss (", f"{column} (", 1)
                lines += [f"{run.name}: {column}", *chart, ""]
    return lines[:-1] if lines else ["(no curves to draw: fewer than two finite values)"]


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_USAGE)
