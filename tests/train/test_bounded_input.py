"""Inputs are bounded before they are parsed: configs (also a resumed run's config.yaml) must be
regular files of at most 1 MB, YAML documents hold at most 100,000 values with aliases
expanded and nest at most 100 deep, and CSV data stop at what memory can hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import bounded, load_config, memory, resume, run
from tapegrad.train.config import MAX_DEPTH, MAX_NODES, ConfigError, _safe_load
from tapegrad.train.data import read_csv

EXE = shutil.which("tapegrad")
COMMAND = [EXE] if EXE else [sys.executable, "-m", "tapegrad"]
LIMIT = "1.0 MB"


def config_error(path: Path | str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


# ----------------------------------------------------------------------------- config files


def test_device_is_refused_without_reading():
    assert config_error("/dev/zero") == (
        f"/dev/zero: is a character device, not a config file (configs must be regular "
        f"files of at most {LIMIT})"
    )


def test_directory_is_refused(tmp_path: Path):
    assert config_error(tmp_path).startswith(f"{tmp_path}: is a directory, not a config file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / "exp.yaml"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block forever
    assert config_error(fifo).startswith(f"{fifo}: is a FIFO, not a config file")


def test_file_over_the_limit_is_refused_by_size(tmp_path: Path):
    path = tmp_path / "big.yaml"
    path.write_text("# comment\n" * 200_000)  # 2 MB
    assert config_error(path) == (
        f"{path}: config file is 2.0 MB, over the limit of {LIMIT} for configs"
    )


def test_huge_comment_only_file_is_refused_at_once(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:  # 50 MB, sparse: the size alone must refuse it
        f.truncate(50_000_000)
    start = time.perf_counter()
    assert "config file is 50.0 MB, over the limit" in config_error(path)
    assert time.perf_counter() - start < 0.5


def test_file_at_the_limit_is_read(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    text = "seed: 3\n"
    path.write_text(text + "#" * (bounded.MAX_CONFIG_BYTES - len(text) - 1) + "\n")
    assert path.stat().st_size == bounded.MAX_CONFIG_BYTES
    assert load_config(path)["seed"] == 3


def test_symlink_to_a_regular_file_is_followed(tmp_path: Path):
    target = tmp_path / "real.yaml"
    target.write_text("seed: 4\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    assert load_config(link)["seed"] == 4


def test_missing_file_keeps_its_message(tmp_path: Path):
    assert (
        config_error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: config file not found"
    )


def test_resumed_config_is_bounded_too(tmp_path: Path):
    out = tmp_path / "run"
    run(load_config(None, ["train.epochs=2", f"output.dir={out}"]))
    config = out / "config.yaml"
    config.write_text(config.read_text() + "#" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: config file is 2\.0 MB, over the limit"):
        resume(out, ["train.epochs=3"])
    config.unlink()
    config.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=r"config\.yaml: is a character device"):
        resume(out, ["train.epochs=3"])


@pytest.mark.parametrize("args", [["/dev/zero"], ["{tmp}"], ["{tmp}/big.yaml"]])
def test_cli_refuses_with_one_line_and_exit_2(tmp_path: Path, args: list[str]):
    (tmp_path / "big.yaml").write_text("#" * 2_000_000)
    argv = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, ["train", *argv])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {argv[0]}: ")
    assert LIMIT in lines[0]


def test_real_process_refuses_dev_zero():
    result = subprocess.run(
        [*COMMAND, "train", "/dev/zero"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "error: /dev/zero: is a character device, not a config file (configs must be "
        f"regular files of at most {LIMIT})\n"
    )


# ----------------------------------------------------------------------------- YAML size


def load_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _safe_load(text, "exp.yaml")
    return str(info.value)


def test_too_many_values_are_refused_while_scanning():
    text = "data: {weights: [" + "1," * MAX_NODES + "1]}\n"  # 200 kB, under the size limit
    start = time.perf_counter()
    assert load_error(text) == f"exp.yaml: YAML document too large (more than {MAX_NODES} values)"
    assert time.perf_counter() - start < 3


def test_a_long_list_under_the_limit_loads():
    assert len(_safe_load("[" + "1," * 999 + "1]", "exp.yaml")) == 1000


def test_billion_laughs_is_refused_before_expanding():
    laughs = "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")
    )
    start = time.perf_counter()
    message = load_error(laughs)
    assert message == f"exp.yaml: YAML aliases expand to more than {MAX_NODES} values"
    assert time.perf_counter() - start < 1


def test_small_aliases_still_work():
    assert _safe_load("a: &x [1, 2]\nb: *x\n", "exp.yaml") == {"a": [1, 2], "b": [1, 2]}


def test_a_cycle_counts_once():
    value = _safe_load("a: &x [1, *x]\n", "exp.yaml")
    assert value["a"][1] is value["a"]


def test_nesting_is_bounded():
    assert len(str(_safe_load("[" * MAX_DEPTH + "]" * MAX_DEPTH, "exp.yaml"))) == 2 * MAX_DEPTH
    deeper = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert load_error(deeper) == f"exp.yaml: YAML error: nested deeper than {MAX_DEPTH} levels"


def test_override_values_have_the_same_limits():
    with pytest.raises(ConfigError, match=r"^command line \(data\.weights=.*too large"):
        load_config(None, ["data.weights=[" + "1," * MAX_NODES + "1]"])


# ----------------------------------------------------------------------------- CSV data


def test_csv_reading_stops_at_the_memory_limit(tmp_path: Path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n" + "1,2\n" * 100)
    monkeypatch.setattr(memory, "available_memory", lambda: 10 * memory.CSV_BYTES_PER_VALUE * 2)
    with pytest.raises(ConfigError) as info:
        read_csv(path, None, True, False)
    assert str(info.value) == (
        f"{path} line 10: the CSV data exceed the memory available (18 values so far, at "
        "most 16 fit); use a smaller file"
    )


def test_csv_cell_limit():
    assert memory.csv_cell_limit(2000) == int(0.8 * 2000) // memory.CSV_BYTES_PER_VALUE
    assert memory.csv_cell_limit() is None or memory.csv_cell_limit() > 1000


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_csv_from_a_fifo_is_bounded(tmp_path: Path, monkeypatch):
    # a FIFO has no size to check up front: the running count stops an endless writer
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    monkeypatch.setattr(memory, "available_memory", lambda: 1_000_000)
    stop = threading.Event()

    def endless() -> None:
        try:
            with open(fifo, "w") as f:
                f.write("a,b\n")
                while not stop.is_set():
                    f.write("1,2\n" * 1000)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=endless, daemon=True)
    writer.start()
    try:
        with pytest.raises(ConfigError, match="the CSV data exceed the memory available"):
            read_csv(fifo, None, True, False)
    finally:
        stop.set()
        writer.join(timeout=5)
    assert not writer.is_alive()
