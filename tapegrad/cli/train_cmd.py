"""``tapegrad train [CONFIG] [KEY=VALUE ...]``: train from a YAML config and report the loss."""

from __future__ import annotations

import dataclasses
import io
import math
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tapegrad.cli import signals, train_args
from tapegrad.cli.command import PlainErrorCommand
from tapegrad.cli.render import is_terminal, stderr_console, stdout_console
from tapegrad.cli.render_train import JsonRenderer, PlainRenderer, QuietRenderer, RichRenderer
from tapegrad.cli.signals import STOP_SIGNALS, StopRequest, stop_on_signals
from tapegrad.train import ConfigError, RunResult, dump_config, hooks, load_config, resume, run
from tapegrad.train.checkpoint import load_run

__all__ = ["STOP_SIGNALS", "StopRequest", "make_renderer", "split_args", "stop_on_signals", "train"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

hooks.pause("import")  # tests: a signal while the command's modules load


@click.command(
    "train", cls=PlainErrorCommand, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.argument("args", nargs=-1, metavar="[CONFIG] [KEY=VALUE]...")
@click.option("--out", metavar="DIR", help="Write the run's files to DIR (sets output.dir).")
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN_DIR",
    help="Continue the run saved in RUN_DIR (its config, model, optimizer and random state); "
    "only train.epochs, train.log_every, train.checkpoint_every, train.threads and "
    "train.compile may be overridden (and data.path, to say where the data moved).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace the run files in a non-empty output directory."
)
@click.option(
    "--detect-anomaly",
    is_flag=True,
    help="Check every gradient for NaN/inf and name the operation that made it (slower).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per log line, then a summary."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="KEY=V1,V2",
    help="Run one training per combination of values (YAML values: model.hidden=[8],[16]), "
    "each in DIR/KEY=VALUE,...; repeatable; needs --out DIR. Sweeping again resumes.",
)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="--sweep: runs at a time (separate processes).")  # fmt: skip
@click.option("--config", "config_flag", hidden=True, help="Refused with a hint (see train_args).")
def train(
    args: tuple[str, ...],
    out: str | None,
    resume_dir: str | None,
    overwrite: bool,
    detect_anomaly: bool,
    as_json: bool,
    quiet: bool,
    print_config: bool,
    debug: bool,
    sweeps: tuple[str, ...] = (),
    jobs: int = 1,
    config_flag: str | None = None,
) -> None:
    """Train a model from a YAML experiment config (no CONFIG: the blog's experiment).

    Overrides are dotted keys with YAML values, e.g.
    train.epochs=500 model.hidden=[64,64] train.lr=1e-5 seed=3.

    \b
    Ctrl-C or SIGTERM stops after the current step and saves the run (a second one stops
    at once, except during the final save, which it waits for); `--resume RUN_DIR`
    continues it exactly where it stopped. One process at a time writes to a run directory.

    \b
    Exit codes: 0 ok, 1 training failed (e.g. the loss diverged) or a file could not be
    saved, 2 bad usage, config or run directory (e.g. in use by another run), 130
    interrupted (files written so far are kept).
    """
    stop = StopRequest()
    options = Options(out, resume_dir, overwrite, detect_anomaly, as_json, quiet, print_config)
    options = dataclasses.replace(options, sweeps=sweeps, jobs=jobs)
    if config_flag is not None:
        _fail(train_args.config_flag_hint(config_flag), EXIT_USAGE, debug)
    try:
        with stop_on_signals(stop):
            code = _train(args, options, stop, debug)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE, debug)
    except KeyboardInterrupt:  # a second signal while the config and data load
        signals.report(f"{_interrupted(stop)}: stopped at once, before training started")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        _silence_stdout()
        raise SystemExit(EXIT_FAILED) from None
    except Exception as exc:  # noqa: BLE001 - any other failure: message, exit 1, no traceback
        message = f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        _fail(message, EXIT_FAILED, debug)
    hooks.pause("after-run")
    if code != EXIT_OK:
        raise SystemExit(code)


def _interrupted(stop: StopRequest) -> str:
    return f"interrupted ({stop.name})" if stop.signal is not None else "interrupted"


@dataclass(frozen=True)
class Options:
    """The command's options other than the config, the overrides and --debug."""

    out: str | None
    resume_dir: str | None
    overwrite: bool
    detect_anomaly: bool
    as_json: bool
    quiet: bool
    print_config: bool
    sweeps: tuple[str, ...] = ()
    jobs: int = 1


def _train(args: tuple[str, ...], options: Options, stop: StopRequest, debug: bool) -> int:
    anomaly = options.detect_anomaly
    if options.resume_dir is not None:
        _check_resume_usage(args, options)
        run_dir, overrides = options.resume_dir, list(args)
        if options.print_config:
            click.echo(dump_config(load_run(run_dir, overrides)[0]), nl=False)
            return EXIT_OK

        def start(renderer: Any) -> RunResult:
            return resume(
                run_dir, overrides, renderer, should_stop=stop, detect_anomaly=anomaly,
                interruptible=stop.armed,
            )  # fmt: skip

    else:
        path, overrides = split_args(args)
        if options.sweeps:
            from tapegrad.cli.sweep_cmd import sweep

            return sweep(path, overrides, options, stop)
        values = {"output.dir": options.out} if options.out is not None else {}
        with stop.armed():
            config = load_config(path, overrides, values)
        if options.print_config:
            click.echo(dump_config(config), nl=False)
            return EXIT_OK

        def start(renderer: Any) -> RunResult:
            return run(
                config, renderer, should_stop=stop, detect_anomaly=anomaly,
                overwrite=options.overwrite, interruptible=stop.armed,
            )  # fmt: skip

    hooks.pause("before-run")
    if stop():  # nothing is written yet: there is nothing to save
        signals.report(f"{_interrupted(stop)}: stopped before training started")
        return EXIT_INTERRUPTED
    renderer = make_renderer(options.as_json, options.quiet)
    try:
        result = start(renderer)
    finally:
        getattr(renderer, "close", lambda: None)()
    renderer.finish(result)
    if not stop():  # after Ctrl-C the user wants out, not a picture
        _draw_loss_png(result)
    return _report(result, stop, debug, anomaly)


def _draw_loss_png(result: RunResult) -> None:
    """RUN_DIR/loss.png when matplotlib is installed; a failure is a warning, never an error.
    Not when run files could not be saved (a full disk)."""
    if not result.out_dir or not result.losses or result.files_not_saved:
        return
    from tapegrad.train.plot import save_run_png

    try:
        save_run_png(result.out_dir)
    except Exception as exc:  # noqa: BLE001 - a picture never fails a run that trained
        click.echo(f"warning: could not draw loss.png ({type(exc).__name__}: {exc})", err=True)


def _check_resume_usage(args: Sequence[str], options: Options) -> None:
    if args and "=" not in args[0]:
        raise ConfigError(
            f"command line: --resume takes its config from RUN_DIR/config.yaml; got {args[0]!r}"
            " (give only KEY=VALUE overrides)"
        )
    for flag, given in (
        ("--out", options.out is not None),
        ("--overwrite", options.overwrite),
        ("--sweep", bool(options.sweeps)),
    ):
        if given:
            raise ConfigError(f"command line: {flag} cannot be combined with --resume")


def _report(result: RunResult, stop: StopRequest, debug: bool, anomaly: bool) -> int:
    """One line on stderr for anything but success (the anomaly report adds the forward
    trace), one per run file that could not be saved; the exit code."""
    code = _report_status(result, stop, debug, anomaly)
    for name, reason in result.files_not_saved.items():
        click.echo(
            f"error: could not write {Path(str(result.out_dir)) / name} ({reason})", err=True
        )
    return EXIT_FAILED if result.files_not_saved else code


def _report_status(result: RunResult, stop: StopRequest, debug: bool, anomaly: bool) -> int:
    if result.status == "interrupted":
        signals.report(f"{_interrupted(stop)}: {result.message}; {_saved(result)}")
        return EXIT_INTERRUPTED
    if result.status in ("diverged", "failed"):
        if debug and result.error is not None:
            traceback.print_exception(result.error, file=sys.stderr)
        message = result.message or result.status
        if result.error is not None and not anomaly and not debug:
            message += " (rerun with --debug for the traceback)"
        click.echo(f"error: {message}", err=True)
        return EXIT_FAILED
    if stop():  # the signal came after the last step: the run is complete
        where = f"saved to {result.out_dir}" if result.out_dir else "nothing saved (no --out)"
        signals.report(f"{_interrupted(stop)} after the last epoch; the run is complete, {where}")
        return EXIT_INTERRUPTED
    if not math.isfinite(result.final_loss):
        click.echo("warning: the loss is not finite (train.stop_on_nonfinite is false)", err=True)
    return EXIT_OK


def _saved(result: RunResult) -> str:
    if not result.out_dir:
        return "nothing saved (no --out)"
    if result.files_not_saved:
        return f"some files could not be saved in {result.out_dir}"
    if not result.resumable:
        return f"metrics kept in {result.out_dir}, model not saved (stopped mid-update)"
    return f"saved to {result.out_dir}; continue with: tapegrad train --resume {result.out_dir}"


def split_args(args: Sequence[str]) -> tuple[Path | None, list[str]]:
    """``[CONFIG] [KEY=VALUE ...]``: the config is the one argument that is not an override
    (first, or after the overrides); a bare key gets a hint (see ``train_args``)."""
    return train_args.split_args(args)


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL: not a file
        return False


def make_renderer(as_json: bool, quiet: bool) -> Any:
    """The renderer for the output mode: JSON lines, quiet, rich on a terminal, else plain."""
    if as_json:
        return JsonRenderer(sys.stdout, quiet=quiet)
    if quiet:
        return QuietRenderer(sys.stdout, sys.stderr)
    if is_terminal():
        return RichRenderer(stdout_console(), stderr_console())
    return PlainRenderer(sys.stdout, sys.stderr)


def _silence_stdout() -> None:
    # The reader went away (`| head`): stop quietly, and keep Python's exit-time flush of
    # stdout from raising a second BrokenPipeError.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _fail(message: str, code: int, debug: bool) -> None:
    if debug and sys.exc_info()[0] is not None:
        traceback.print_exc(file=sys.stderr)
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
