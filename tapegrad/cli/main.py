"""The ``tapegrad`` click group; each command lives in its own module and is added here."""

from __future__ import annotations

import click

from tapegrad import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tapegrad")
def main() -> None:
    """tapegrad: a small autograd engine on numpy, in PyTorch's vocabulary.

    \b
    tapegrad train [CONFIG] [KEY=VALUE ...]   train from a YAML config (default: the blog's)
    tapegrad gradcheck [--op NAME]            numeric vs analytic gradients of every op
    tapegrad graph [CONFIG]                   print the grad_fn chain of a computation
    """


from tapegrad.cli.inspect_cmd import gradcheck_cmd, graph_cmd  # noqa: E402

main.add_command(gradcheck_cmd)
main.add_command(graph_cmd)

from tapegrad.cli.train_cmd import train  # noqa: E402

main.add_command(train)
