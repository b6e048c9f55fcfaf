"""``tapegrad train [CONFIG] [KEY=VALUE ...]``: train from a YAML config and report the loss."""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from tapegrad.cli.render import is_terminal, stderr_console, stdout_console
from tapegrad.cli.render_train import JsonRenderer, PlainRenderer, QuietRenderer, RichRenderer
from tapegrad.train import ConfigError, dump_config, load_config, run

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1, metavar="[CONFIG] [KEY=VALUE]...")
@click.option("--out", metavar="DIR", help="Write the run's files to DIR (sets output.dir).")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per log line, then a summary."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def train(
    args: tuple[str, ...],
    out: str | None,
    as_json: bool,
    quiet: bool,
    print_config: bool,
    debug: bool,
) -> None:
    """Train a model from a YAML experiment config (no CONFIG: the blog's experiment).

    Overrides are dotted keys with YAML values, e.g.
    train.epochs=500 model.hidden=[64,64] seed=3.

    \b
    Exit codes: 0 ok, 1 training failed (e.g. the loss diverged), 2 bad usage or config,
    130 interrupted (files written so far are kept).
    """
    try:
        code = _train(args, out, as_json, quiet, print_config)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE, debug)
    except BrokenPipeError:
        _silence_stdout()
        raise SystemExit(EXIT_FAILED) from None
    except Exception as exc:  # noqa: BLE001 - any other failure: message, exit 1, no traceback
        message = f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        _fail(message, EXIT_FAILED, debug)
    if code != EXIT_OK:
        raise SystemExit(code)


def _train(
    args: tuple[str, ...], out: str | None, as_json: bool, quiet: bool, print_config: bool
) -> int:
    path, overrides = split_args(args)
    config = load_config(path, overrides, {"output.dir": out} if out is not None else {})
    if print_config:
        click.echo(dump_config(config), nl=False)
        return EXIT_OK
    renderer = make_renderer(as_json, quiet)
    try:
        result = run(config, renderer)
    finally:
        getattr(renderer, "close", lambda: None)()
    renderer.finish(result)
    code = {"diverged": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}.get(result.status, EXIT_OK)
    if code != EXIT_OK:
        click.echo(f"error: {result.message or result.status}", err=True)
    return code


def split_args(args: Sequence[str]) -> tuple[Path | None, list[str]]:
    """``[CONFIG] [KEY=VALUE ...]``: the first argument is the config unless it is an override."""
    if args and ("=" not in args[0] or Path(args[0]).is_file()):
        return Path(args[0]), list(args[1:])
    return None, list(args)


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
