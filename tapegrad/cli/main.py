"""The ``tapegrad`` click group; each command lives in its own module, imported on use."""

from __future__ import annotations

import difflib
import importlib

import click

from tapegrad import __version__

# name -> (module, attribute): a command's module is imported only when it runs (start-up time)
COMMANDS = {
    "train": ("tapegrad.cli.train_cmd", "train"),
    "gradcheck": ("tapegrad.cli.inspect_cmd", "gradcheck_cmd"),
    "graph": ("tapegrad.cli.inspect_cmd", "graph_cmd"),
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

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint} Commands: {', '.join(sorted(COMMANDS))}.")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tapegrad")
def main() -> None:
    """tapegrad: a small autograd engine on numpy, in PyTorch's vocabulary.

    \b
    tapegrad train [CONFIG] [KEY=VALUE ...]   train from a YAML config (default: the blog's)
    tapegrad gradcheck [--op NAME]            numeric vs analytic gradients of every op
    tapegrad graph [CONFIG]                   print the grad_fn chain of a computation
    """
