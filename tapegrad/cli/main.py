"""The ``tapegrad`` click group; each command lives in its own module, imported on use.

Run as a program (the ``tapegrad`` command, ``python -m tapegrad``), the group installs the
signal handling of ``cli.signals`` before it parses anything or loads a command.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from typing import Any

import click

from tapegrad import __version__
from tapegrad.cli import signals
from tapegrad.train import hooks

# name -> (module, attribute): a command's module is imported only when it runs (start-up time)
COMMANDS = {
    "train": ("tapegrad.cli.train_cmd", "train"),
    "gradcheck": ("tapegrad.cli.inspect_cmd", "gradcheck_cmd"),
    "graph": ("tapegrad.cli.inspect_cmd", "graph_cmd"),
    "plot": ("tapegrad.cli.plot_cmd", "plot_cmd"),
    "runs": ("tapegrad.cli.runs_cmd", "runs_cmd"),
    "predict": ("tapegrad.cli.predict_cmd", "predict_cmd"),
    "evaluate": ("tapegrad.cli.predict_cmd", "evaluate_cmd"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module the first time the command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the group; as the program (arguments from ``sys.argv``), with the command
        line's signal handling from here to the exit (see ``cli.signals``)."""
        if args is not None or not standalone_mode:  # called in-process (CliRunner, tests)
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        signals.start_program()
        hooks.pause("start")
        code: Any = 0
        try:
            super().main(args, prog_name, complete_var, standalone_mode, **extra)
        except SystemExit as exc:
            code = exc.code
        finally:
            signals.end_program()
        raise SystemExit(code)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a KeyboardInterrupt it does not handle ends it with one line and
        exit 130 (not click's "Aborted!" and exit 1)."""
        try:
            with signals.command():
                hooks.pause("command")
                return super().invoke(ctx)
        except KeyboardInterrupt:
            signals.report()
            raise SystemExit(signals.EXIT_INTERRUPTED) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint} Commands: {', '.join(sorted(COMMANDS))}.")
        return super().resolve_command(ctx, args)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="tapegrad")
@click.pass_context
def main(ctx: click.Context) -> None:
    """tapegrad: a small autograd engine on numpy, in PyTorch's vocabulary.

    \b
    tapegrad train [CONFIG] [KEY=VALUE ...]   train from a YAML config (default: the blog's)
    tapegrad gradcheck [--op NAME]            numeric vs analytic gradients of every op
    tapegrad graph [CONFIG]                   print the grad_fn chain of a computation
    tapegrad plot RUN_DIR... [--out FILE.png] loss curves of runs (terminal or PNG)
    tapegrad runs DIR                         table of the runs under DIR (e.g. a sweep)
    tapegrad predict RUN_DIR DATA.csv         predictions of a trained model, as CSV
    tapegrad evaluate RUN_DIR [DATA.csv]      loss and accuracy or R2 of a trained model
    """
    if ctx.invoked_subcommand is None:  # bare `tapegrad`: the help, and success
        click.echo(ctx.get_help())
