"""``tapegrad train`` through CliRunner, plus one real run of the installed command."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from tapegrad.cli import train_cmd
from tapegrad.cli.main import main
from tapegrad.cli.render_train import RichRenderer, loss_curve
from tapegrad.train import EpochEnded, default_config, load_config, run

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
EPOCH_LINE = re.compile(r"^epoch +(\d+)  loss (\d\.\d{4}e[+-]\d{2})(  accuracy \d\.\d{4})?$")


def train(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def epoch_lines(stdout: str) -> list[re.Match]:
    return [m for m in map(EPOCH_LINE.match, stdout.splitlines()) if m]


def test_no_config_runs_the_blogs_experiment():
    result = train()
    assert result.exit_code == 0, result.output
    lines = epoch_lines(result.stdout)
    assert [int(m[1]) for m in lines] == list(range(10, 201, 10))
    losses = run(default_config()).losses
    assert [float(m[2]) for m in lines] == [
        float(f"{losses[e - 1]:.4e}") for e in range(10, 201, 10)
    ]
    assert "final loss  " in result.stdout and "best loss   " in result.stdout
    assert "epochs/s" in result.stdout and "loss (log scale, epochs 1-200)" in result.stdout
    assert "161 parameters" in result.stderr  # the header is a diagnostic, not a result


def test_overrides_and_config_file():
    result = train(str(CONFIGS / "blog.yaml"), "train.epochs=30", "train.log_every=15")
    assert result.exit_code == 0, result.output
    assert [int(m[1]) for m in epoch_lines(result.stdout)] == [15, 30]


def test_json_lines_then_summary():
    result = train("--json", "train.epochs=20")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0] == {"epoch": 10, "loss": records[0]["loss"]}
    assert [r["epoch"] for r in records[:-1]] == [10, 20]
    summary = records[-1]
    assert summary["status"] == "ok" and summary["epochs"] == 20
    assert summary["final_loss"] == records[1]["loss"]
    assert {"best_loss", "best_epoch", "seconds", "epochs_per_second"} <= set(summary)


def test_quiet_prints_only_the_summary():
    result = train("-q", "train.epochs=20")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("final loss")
    assert not epoch_lines(result.stdout) and result.stderr == ""
    quiet_json = train("-q", "--json", "train.epochs=20")
    assert len(quiet_json.stdout.splitlines()) == 1
    assert json.loads(quiet_json.stdout)["status"] == "ok"


def test_spirals_log_accuracy():
    result = train(str(CONFIGS / "spirals.yaml"), "train.epochs=4", "train.log_every=2",
                   "data.points_per_class=20")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert all(m[3] for m in epoch_lines(result.stdout)) and "accuracy    " in result.stdout


def test_print_config_is_the_resolved_config():
    result = train(str(CONFIGS / "regression_deep.yaml"), "seed=9", "--print-config")
    assert result.exit_code == 0
    printed = yaml.safe_load(result.stdout)
    assert printed["seed"] == 9 and printed["model"]["hidden"] == [64, 64, 32]
    assert printed["train"]["lr"] == 3e-3


def test_out_writes_the_run(tmp_path):
    out = tmp_path / "run"
    result = train("train.epochs=12", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((out / "config.yaml").read_text())["output"]["dir"] == str(out)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 12 and set(rows[0]) == {"epoch", "loss", "seconds"}
    with np.load(out / "model.npz", allow_pickle=False) as weights:
        assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 12 and summary["out_dir"] == str(out)
    assert f"saved to    {out}" in result.stdout


def test_rerun_gives_the_same_losses():
    first, second = train("--json", "train.epochs=30"), train("--json", "train.epochs=30")
    strip = [json.loads(line) for line in first.stdout.splitlines()[:-1]]
    assert strip == [json.loads(line) for line in second.stdout.splitlines()[:-1]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train.lr=-0.1"], "error: command line: train.lr must be a number > 0, got -0.1"),
        (["train.lrr=1"], "did you mean train.lr?"),
        (["model.hidden=[64,"], "YAML syntax error"),
        (["nope.yaml"], "error: nope.yaml: config file not found"),
        (["train.epochs=5", "stray"], "expected KEY=VALUE, got 'stray'"),
    ],
)
def test_user_errors_exit_2_without_traceback(args, message):
    result = train(*args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: 5\n lr: 2\n")
    result = train(str(bad))
    assert result.exit_code == 2 and f"{bad}:3:" in result.stderr
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,x\n")
    cfg = tmp_path / "csv.yaml"
    cfg.write_text("data:\n  kind: csv\n  path: d.csv\n")
    result = train(str(cfg))
    assert result.exit_code == 2
    assert f"{tmp_path / 'd.csv'} line 3: column 'b' must be a number, got 'x'" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "{csv}: CSV file not found (data.path)"),
        ("", "{csv} line 1: the file is empty; expected a header row"),
        ("a,y\n", "{csv} line 2: no data rows after the header"),
        ("a,y\n1,2\n3,4,5\n", "{csv} line 3: expected 2 fields, got 3"),
        ("a,y\n1,2\n\n3,four\n", "{csv} line 4: column 'y' must be a number, got 'four'"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, text, message):
    data = tmp_path / "d.csv"
    if text is not None:
        data.write_text(text)
    result = train("data.kind=csv", f"data.path={data}", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    assert result.stderr.strip() == "error: " + message.format(csv=data)
    assert not (tmp_path / "run").exists()


def test_debug_shows_the_traceback():
    result = train("train.lr=-0.1", "--debug")
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_divergence_exits_1_and_keeps_metrics(tmp_path):
    result = train("train.lr=100", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert re.search(r"error: loss is (nan|inf) at epoch \d+ with train.lr = 100", result.stderr)
    assert "smaller learning rate" in result.stderr
    assert (tmp_path / "metrics.csv").read_text().count("\n") > 1
    assert "RuntimeWarning" not in result.stderr


class SignalAt:
    """A renderer wrapper that sends this process ``signum`` after epoch ``epoch``."""

    def __init__(self, renderer, epoch: int, signum: int, times: int = 1) -> None:
        self.renderer, self.epoch, self.signum, self.times = renderer, epoch, signum, times

    def __call__(self, event):
        self.renderer(event)
        if isinstance(event, EpochEnded) and event.epoch == self.epoch:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)

    def __getattr__(self, name):
        return getattr(self.renderer, name)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_after_the_step_saves_and_exits_130(monkeypatch, tmp_path, signum):
    make = train_cmd.make_renderer
    monkeypatch.setattr(train_cmd, "make_renderer", lambda *a: SignalAt(make(*a), 3, signum))
    before = signal.getsignal(signum)
    result = train("--out", str(tmp_path))
    assert result.exit_code == 130 and "Traceback" not in result.output
    name = signal.Signals(signum).name
    assert result.stderr.splitlines()[-1] == (
        f"interrupted ({name}): stopped after epoch 3; saved to {tmp_path}; "
        f"continue with: tapegrad train --resume {tmp_path}"
    )
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs"] == 3
    assert "final loss" in result.stdout  # the results so far
    assert signal.getsignal(signum) is before  # handlers are put back


def test_second_signal_stops_at_once(monkeypatch, tmp_path):
    make = train_cmd.make_renderer
    monkeypatch.setattr(
        train_cmd, "make_renderer", lambda *a: SignalAt(make(*a), 2, signal.SIGINT, times=2)
    )
    result = train("--out", str(tmp_path))
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1].startswith("interrupted")


def test_interrupt_without_out_dir_says_nothing_was_saved(monkeypatch):
    make = train_cmd.make_renderer
    monkeypatch.setattr(train_cmd, "make_renderer", lambda *a: SignalAt(make(*a), 2, signal.SIGINT))
    result = train("-q")
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        "interrupted (SIGINT): stopped after epoch 2; nothing saved (no --out)"
    )


def test_resume_continues_an_interrupted_run(monkeypatch, tmp_path):
    make = train_cmd.make_renderer
    monkeypatch.setattr(
        train_cmd, "make_renderer", lambda *a: SignalAt(make(*a), 4, signal.SIGTERM)
    )
    args = ["train.epochs=9", "train.batch_size=30"]
    assert train(*args, "--out", str(tmp_path / "a")).exit_code == 130
    monkeypatch.setattr(train_cmd, "make_renderer", make)
    resumed = train("--resume", str(tmp_path / "a"))
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.startswith("resuming after epoch 4: 3 -> 32 -> 1 relu")
    whole = train(*args, "--out", str(tmp_path / "b"))
    assert whole.exit_code == 0
    a, b = ((tmp_path / d / "metrics.csv").read_text().splitlines() for d in "ab")
    assert [r.split(",")[:2] for r in a] == [r.split(",")[:2] for r in b]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume", "{tmp}/nope"], "error: {tmp}/nope: no such run directory"),
        (["--resume", "{tmp}", "x.yaml"], "--resume takes its config from RUN_DIR/config.yaml"),
        (["--resume", "{tmp}", "--out", "{tmp}"], "--out cannot be combined with --resume"),
        (["--resume", "{tmp}", "--overwrite"], "--overwrite cannot be combined with --resume"),
        (["--resume", "{tmp}", "seed=3"], "seed cannot change when resuming"),
        (["--resume", "{tmp}"], "not a run directory (no config.yaml)"),
    ],
)
def test_resume_usage_errors_exit_2(tmp_path, args, message):
    result = train(*(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message.format(tmp=tmp_path) in result.stderr


def test_resume_print_config(tmp_path):
    train("train.epochs=2", "--out", str(tmp_path), "-q")
    result = train("--resume", str(tmp_path), "train.epochs=7", "--print-config")
    assert result.exit_code == 0 and yaml.safe_load(result.stdout)["train"]["epochs"] == 7


def test_non_empty_out_dir_needs_overwrite(tmp_path):
    assert train("train.epochs=2", "--out", str(tmp_path), "-q").exit_code == 0
    refused = train("train.epochs=3", "--out", str(tmp_path), "-q")
    assert refused.exit_code == 2
    assert (
        f"output.dir {tmp_path} is not empty (checkpoint.npz, config.yaml, data.json"
        in refused.stderr
    )
    assert "pass --overwrite" in refused.stderr and "--resume" in refused.stderr
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 3  # untouched
    replaced = train("train.epochs=3", "--out", str(tmp_path), "-q", "--overwrite")
    assert replaced.exit_code == 0
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 4


def test_detect_anomaly_names_the_node_and_keeps_metrics(tmp_path):
    result = train(
        "train.lr=100", "train.stop_on_nonfinite=false", "--detect-anomaly", "--out", str(tmp_path)
    )
    assert result.exit_code == 1 and "Traceback (most recent call last)" not in result.output
    lines = result.stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    assert re.fullmatch(
        r"error: Function '\w+Backward\d' returned nan values in its \d+th output\. "
        r"\(in epoch \d+\)",
        lines[error],
    )
    assert lines[error + 1] == "Traceback of forward call that caused the error:"
    assert lines[error + 2].startswith("  File ")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + summary["epochs"]


def test_stop_on_nonfinite_false_runs_on_with_a_warning():
    result = train("train.lr=100", "train.epochs=20", "train.stop_on_nonfinite=false", "-q")
    assert result.exit_code == 0
    assert "warning: the loss is not finite (train.stop_on_nonfinite is false)" in result.stderr


def test_too_big_is_refused_with_the_estimate():
    result = train("data.n=1000000000000")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(
        "error: command line: this run (1000000000000 samples, layers 3 -> 32 -> 1, "
        "batch full) needs an estimated 624.0 TB of memory"
    )


def test_unexpected_exception_is_one_line_exit_1(monkeypatch, tmp_path):
    from tapegrad.train import Trainer

    def broken(self, *args):
        raise ValueError("boom")

    monkeypatch.setattr(Trainer, "_step", broken)
    result = train("--out", str(tmp_path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (
        "error: ValueError: boom (in epoch 1) (rerun with --debug for the traceback)"
    )
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "failed"
    debug = train("--debug")
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ValueError: boom" in debug.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_train(name):
    result = train(str(CONFIGS / name), "train.epochs=2", "-q")
    assert result.exit_code == 0, result.output


def test_version_and_help():
    assert CliRunner().invoke(main, ["--version"]).output.startswith("tapegrad, version ")
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    options = ("--out", "--json", "--quiet", "--print-config", "--debug", "--resume", "--overwrite")
    for option in (*options, "--detect-anomaly"):
        assert option in help_text


def test_rich_renderer_on_a_terminal():
    out, err = io.StringIO(), io.StringIO()
    renderer = RichRenderer(
        Console(file=out, force_terminal=True, width=100), Console(file=err, width=100)
    )
    result = run(load_config(None, ["train.epochs=20"]), renderer)
    renderer.finish(result)
    text = out.getvalue()
    assert "epoch   10  loss" in text and "final loss" in text and "█" in text


def test_loss_curve_shape():
    rows = loss_curve([100.0 * 0.9**i for i in range(300)], width=40, height=5)
    bars = [r.split("|", 1)[1] for r in rows[:5]]
    assert len(rows) == 7 and all(len(b) <= 40 for b in bars)
    assert bars[0].startswith("█") and len(bars[-1]) == 40  # falls from the top to the bottom
    assert "log scale" in rows[-1]
    assert loss_curve([1.0]) == [] and loss_curve([float("nan"), 2.0]) == []
    assert "".join(loss_curve([3.0, 2.0, 1.0], ascii=True)).isascii()


def test_installed_command_runs_in_a_subprocess(tmp_path):
    exe = shutil.which("tapegrad")
    command = [exe] if exe else [sys.executable, "-m", "tapegrad"]
    proc = subprocess.run(
        [*command, "train", "train.epochs=20", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [int(m[1]) for m in epoch_lines(proc.stdout)] == [10, 20]
    assert (tmp_path / "run" / "summary.json").exists()


def test_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "tapegrad", "train", "train.epochs=10", "--json", "-q"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout)["epochs"] == 10
