"""One way to report a usage error in every command: ``error: ...`` on stderr, exit 2.

click's own rendering (a usage block, then ``Error: ...``) differs from the ``error: ...``
line ``tapegrad train`` prints for a bad config; a command made with
``cls=PlainErrorCommand`` prints its option errors the same way, with a pointer to --help.
"""

from __future__ import annotations

from typing import Any

import click


class PlainErrorCommand(click.Command):
    """A click command whose usage errors print one ``error: ...`` line and exit 2."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the arguments; a usage error becomes one line."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            _fail(exc, info_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a usage error it raises becomes one line."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _fail(exc, ctx.command_path)


def _fail(exc: click.UsageError, name: str | None) -> Any:
    command = name if name and name.startswith("tapegrad") else f"tapegrad {name or ''}".strip()
    click.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
    raise SystemExit(exc.exit_code)
