"""``tapegrad predict RUN_DIR DATA.csv`` and ``tapegrad evaluate RUN_DIR [DATA.csv]``: use a
trained model. The workflows are ``tapegrad.train.predict``; this parses and renders."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tapegrad.cli.command import PlainErrorCommand
from tapegrad.cli.render_predict import evaluation_lines
from tapegrad.train.errors import ConfigError
from tapegrad.train.outputs import to_json, write_text_atomic
from tapegrad.train.predict import evaluate, load_trained, predict

EXIT_USAGE = 2
SETTINGS = {"help_option_names": ["-h", "--help"]}
BEST_HELP = "Use best.npz (the best monitored epoch) instead of model.npz (the last)."


@click.command("predict", cls=PlainErrorCommand, context_settings=SETTINGS)
@click.argument("run_dir", metavar="RUN_DIR")
@click.argument("data", metavar="DATA.csv")
@click.option("--out", metavar="FILE", help="Write the predictions to FILE (default: stdout).")
@click.option("--best", is_flag=True, help=BEST_HELP)
def predict_cmd(run_dir: str, data: str, out: str | None, best: bool) -> None:
    """Predict the rows of DATA.csv with the model trained in RUN_DIR, as CSV.

    DATA.csv has the training's input columns (its target columns may be there too and are
    ignored), scaled as in training (data.normalize). Regression writes the target
    columns; classification writes `class` and one probability column per class
    (`prob_0`, `prob_1`, ...).

    \b
    Exit codes: 0 ok, 2 a missing run directory or model, columns that do not match, or a
    bad CSV (one `error:` line).
    """
    try:
        predictions = predict(load_trained(run_dir, best), data)
        text = predictions.csv_text()
        if out is not None:
            write_text_atomic(Path(out), text)
    except (ConfigError, OSError) as exc:
        _usage_error(exc)
    if out is None:
        sys.stdout.write(text)
    else:
        click.echo(f"wrote {len(predictions.values)} predictions to {out}", err=True)


@click.command("evaluate", cls=PlainErrorCommand, context_settings=SETTINGS)
@click.argument("run_dir", metavar="RUN_DIR")
@click.argument("data", metavar="[DATA.csv]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--best", is_flag=True, help=BEST_HELP)
def evaluate_cmd(run_dir: str, data: str | None, as_json: bool, best: bool) -> None:
    """Loss and accuracy (classification) or R² (regression) of the model trained in
    RUN_DIR, on DATA.csv (with its target columns) or, without it, on the run's own
    validation data (data.val_split or data.val_path).

    \b
    Exit codes: 0 ok, 2 a missing run directory or model, no validation data and no
    DATA.csv, columns that do not match, or a bad CSV (one `error:` line).
    """
    try:
        evaluation = evaluate(load_trained(run_dir, best), data)
    except (ConfigError, OSError) as exc:
        _usage_error(exc)
    if as_json:
        click.echo(to_json(evaluation.to_dict()))
    else:
        click.echo("\n".join(evaluation_lines(evaluation)))


def _usage_error(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(EXIT_USAGE)
