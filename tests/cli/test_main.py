"""The ``tapegrad`` group: version, help, unknown commands, lazy command loading."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from tapegrad import __version__
from tapegrad.cli.main import main


def test_version_and_help():
    runner = CliRunner()
    assert __version__ in runner.invoke(main, ["--version"]).output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "gradcheck", "graph"):
        assert command in result.output


def test_unknown_command_suggests_the_closest():
    result = CliRunner().invoke(main, ["tran"])
    assert result.exit_code == 2
    assert "No such command 'tran'. Did you mean 'train'?" in result.output


def test_train_does_not_load_the_other_commands():
    code = (
        "import sys; from click.testing import CliRunner; from tapegrad.cli.main import main; "
        "CliRunner().invoke(main, ['train', '--print-config']); "
        "print('tapegrad.cli.inspect_cmd' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
