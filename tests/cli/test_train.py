"""``tapegrad train`` through CliRunner, plus one real run of the installed command."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from tapegrad.cli.main import main
from tapegrad.cli.render_train import RichRenderer, loss_curve
from tapegrad.train import default_config, load_config, run

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


def test_interrupt_exits_130(monkeypatch, tmp_path):
    from tapegrad.train import loop

    real_epoch, calls = loop._epoch, []

    def epoch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_epoch(*args)

    monkeypatch.setattr(loop, "_epoch", epoch)
    result = train("--out", str(tmp_path))
    assert result.exit_code == 130 and "interrupted after epoch 2" in result.stderr
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_train(name):
    result = train(str(CONFIGS / name), "train.epochs=2", "-q")
    assert result.exit_code == 0, result.output


def test_version_and_help():
    assert CliRunner().invoke(main, ["--version"]).output.startswith("tapegrad, version ")
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    for option in ("--out", "--json", "--quiet", "--print-config", "--debug"):
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
