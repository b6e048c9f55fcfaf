"""``tapegrad runs DIR [--json]``: a table of the runs under DIR, best first."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from tapegrad.cli.command import PlainErrorCommand
from tapegrad.train.errors import ConfigError
from tapegrad.train.outputs import to_json
from tapegrad.train.runs_table import RunsTable, collect

EXIT_USAGE = 2


@click.command(
    "runs", cls=PlainErrorCommand, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.argument("directory", metavar="DIR")
@click.option("--json", "as_json", is_flag=True, help="The table as one JSON object.")
def runs_cmd(directory: str, as_json: bool) -> None:
    """List the runs under DIR (e.g. a sweep's --out): the config keys that differ, status,
    epochs, final and best loss, the best validation metric if any, and time; best first
    (by val_loss, else val_accuracy, else best loss)."""
    try:
        table = collect(directory)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    if as_json:
        click.echo(to_json(table.to_json()))
    else:
        click.echo("\n".join(table_lines(table)))


def table_lines(table: RunsTable) -> list[str]:
    """The table as aligned text lines (header first)."""
    vals = [m for m in ("val_loss", "val_accuracy") if any(m in r.val for r in table.rows)]
    best_vals = [f"best {m}" for m in vals]
    header = ["run", *table.keys, "status", "epochs", "final loss", "best loss", *best_vals, "time"]
    body = []
    for row in table.rows:
        body.append(
            [
                row.name,
                *(_value(row.config.get(k)) for k in table.keys),
                row.status,
                "-" if row.epochs is None else str(row.epochs),
                _loss(row.final_loss),
                _loss(row.best_loss),
                *(_metric(row.val.get(m), m) for m in vals),
                "-" if row.seconds is None else f"{row.seconds:.2f} s",
            ]
        )
    if table.keys:  # the run names repeat the keys' values: show them once
        header, body = header[1:], [cells[1:] for cells in body]
    widths = [max(len(c) for c in column) for column in zip(header, *body)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in [header, *body]
    ]


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _loss(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4e}" if math.isfinite(value) else str(value)


def _metric(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if metric == "val_accuracy" else _loss(value)
