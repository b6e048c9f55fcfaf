"""``tapegrad train [CONFIG] --sweep KEY=V1,V2 ... --out DIR [--jobs N]``: run a grid.

Parses and reports; the work is ``tapegrad.train.sweep`` (plan, run in subprocesses) and
``tapegrad.train.runs_table`` (the table printed at the end).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tapegrad.cli import signals
from tapegrad.cli.runs_cmd import table_lines
from tapegrad.cli.signals import StopRequest
from tapegrad.train.errors import COMMAND_LINE, ConfigError
from tapegrad.train.outputs import to_json
from tapegrad.train.runs_table import collect
from tapegrad.train.sweep import DONE, NEW, RESTART, RESUME, SweepRun, execute, plan

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def sweep(
    path: Any,
    overrides: Sequence[str],
    options: Any,
    stop: StopRequest,
) -> int:
    """Plan the grid, run what is left, print the runs table; the exit code."""
    if options.out is None:
        raise ConfigError(f"{COMMAND_LINE}: --sweep needs --out DIR (one run directory each)")
    for flag, given in (
        ("--resume", options.resume_dir is not None),
        ("--print-config", options.print_config),
        ("--overwrite", options.overwrite),
    ):
        if given:
            raise ConfigError(
                f"{COMMAND_LINE}: {flag} cannot be combined with --sweep (sweeping again "
                "resumes the runs that did not finish)"
            )
    with stop.armed():
        runs = plan(path, overrides, options.sweeps, options.out)
    counts = {a: sum(r.action == a for r in runs) for a in (NEW, RESUME, RESTART, DONE)}
    click.echo(
        f"sweep: {len(runs)} runs in {options.out} ({counts[DONE]} done, {counts[RESUME]} to "
        f"resume, {counts[NEW] + counts[RESTART]} to start), {options.jobs} at a time",
        err=True,
    )
    with stop.armed():
        result = execute(runs, path, options.jobs, stop, _progress)
    _print_table(options.out, options.as_json)
    if result.stopped:
        signals.report(
            f"interrupted ({stop.name}): the sweep stopped; finished runs are kept and "
            "running ones saved: run the same command again to resume"
        )
        return EXIT_INTERRUPTED
    for run in result.failed:
        click.echo(f"error: run {run.name} failed (exit {run.returncode}); see {run.log}", err=True)
    return EXIT_FAILED if result.failed else EXIT_OK


def _progress(run: SweepRun) -> None:
    if run.returncode is None:
        verb = "resuming" if run.action == RESUME else "starting"
        click.echo(f"{verb} {run.name}", err=True)
    else:
        how = {0: "finished", 130: "stopped"}.get(run.returncode, f"failed (exit {run.returncode})")
        click.echo(f"{how} {run.name}", err=True)


def _print_table(out: str, as_json: bool) -> None:
    try:
        table = collect(out)
    except ConfigError as exc:
        click.echo(f"warning: no runs table ({exc})", err=True)
        return
    if as_json:
        click.echo(to_json(table.to_json()))
    else:
        click.echo("\n".join(table_lines(table)))
