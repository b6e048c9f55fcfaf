"""``gradcheck CONFIG`` and ``graph CONFIG`` go through train's validation and memory guard and
report like train: one ``error:`` line, exit 2, no traceback, nothing allocated or printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import loop, memory

EXE = shutil.which("tapegrad")
COMMAND = [EXE] if EXE else [sys.executable, "-m", "tapegrad"]
COMMANDS = ["train", "gradcheck", "graph"]
AVAILABLE = 16 * 10**9  # fixed, so the three messages can be compared word for word


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def fixed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: AVAILABLE)
    # nothing may be built: the guard must refuse first
    monkeypatch.setattr(loop, "make_dataset", lambda config: pytest.fail("data were made"))


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("data: {n: 1000000000000}\n", "1000000000000 samples, layers 3 -> 32 -> 1"),
        ("model: {hidden: [10000000]}\n", "100 samples, layers 3 -> 10000000 -> 1"),
        ("data: {kind: spirals, points_per_class: 10000000000}\n", "30000000000 samples"),
    ],
)
def test_sizes_that_cannot_fit_give_trains_message(tmp_path, fixed_memory, text, shape):
    path = tmp_path / "big.yaml"
    path.write_text(text)
    lines = {command: one_error_line(invoke(command, str(path))) for command in COMMANDS}
    assert lines["gradcheck"] == lines["train"] == lines["graph"]
    assert lines["train"].startswith(f"error: {path}: this run ({shape}")
    assert "more than 80% of the 16.0 GB available; use less data" in lines["train"]


@pytest.mark.parametrize("command", ["gradcheck", "graph"])
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dev/zero", "/dev/zero: is a character device, not a config file"),
        ("{tmp}", "{tmp}: is a directory, not a config file"),
        ("{tmp}/big.yaml", "{tmp}/big.yaml: config file is 2.0 MB, over the limit of 1.0 MB"),
        ("{tmp}/dup.yaml", "{tmp}/dup.yaml: duplicate key train.lr (line 1, columns 9 and 20)"),
        ("{tmp}/missing.yaml", "{tmp}/missing.yaml: config file not found"),
    ],
)
def test_unreadable_configs_are_refused_like_train(tmp_path, command, target, expected):
    (tmp_path / "big.yaml").write_text("#" * 2_000_000)
    (tmp_path / "dup.yaml").write_text("train: {lr: 0.001, lr: 100}\n")
    line = one_error_line(invoke(command, target.format(tmp=tmp_path)))
    assert line.startswith("error: " + expected.format(tmp=tmp_path))
    assert line == one_error_line(invoke("train", target.format(tmp=tmp_path)))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("command", ["gradcheck", "graph"])
def test_fifo_config_is_refused_without_blocking(tmp_path, command):
    fifo = tmp_path / "exp.yaml"
    os.mkfifo(fifo)
    assert "is a FIFO, not a config file" in one_error_line(invoke(command, str(fifo)))


@pytest.mark.parametrize("command", ["gradcheck", "graph"])
def test_real_process_on_dev_zero_exits_2_with_one_line(command):
    result = subprocess.run(
        [*COMMAND, command, "/dev/zero"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: /dev/zero: is a character device")
    assert result.stderr.count("\n") == 1


def test_a_good_config_still_works(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("data: {n: 8}\nmodel: {hidden: [2]}\n")
    assert invoke("gradcheck", str(path), "--op", "2.bias").exit_code == 0
    assert invoke("graph", str(path), "--no-values").exit_code == 0


# ----------------------------------------------------------------------------- tolerances


@pytest.mark.parametrize(
    "option", ["--eps=0", "--eps=-1e-6", "--atol=-1e-9", "--rtol=-0.5", "--eps=inf", "--rtol=nan"]
)
def test_steps_and_tolerances_must_be_finite_and_not_negative(option):
    result = invoke("gradcheck", "--op", "exp", option)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--" in result.stderr


def test_zero_tolerances_are_allowed_as_in_torch():
    # torch.autograd.gradcheck accepts atol=0 or rtol=0 (a purely relative or absolute test)
    assert invoke("gradcheck", "--op", "add", "--atol", "0").exit_code == 0
    assert invoke("gradcheck", "--op", "add", "--rtol", "0").exit_code == 0
