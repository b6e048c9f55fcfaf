"""``tapegrad plot`` in the terminal and without matplotlib, and ``tapegrad runs``, in-process
(the PNG through a real subprocess is in test_sweep.py)."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import load_config, run
from tapegrad.train.plot import INSTALL_HINT, save_run_png


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for lr in ("1e-4", "1e-5"):
        out = root / f"lr{lr}"
        run(load_config(None, ["train.epochs=30", f"train.lr={lr}"], {"output.dir": str(out)}))
    return root


def test_plot_draws_each_run_in_the_terminal(runs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    result = invoke("plot", str(runs / "lr1e-4"), str(runs / "lr1e-5"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"{runs / 'lr1e-4'}: loss" in lines and f"{runs / 'lr1e-5'}: loss" in lines
    assert max(len(line) for line in lines if "|" in line or "+" in line) <= 40
    metrics = (runs / "lr1e-4" / "metrics.csv").read_text().splitlines()[1:]
    losses = [float(row.split(",")[1]) for row in metrics]
    assert any(line.startswith(f"{min(losses):.4e} |") for line in lines)


def test_plot_without_matplotlib_says_how_to_install_it(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    result = invoke("plot", str(runs / "lr1e-4"), "--out", str(runs / "x.png"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --out draws with matplotlib, which is not installed: {INSTALL_HINT}\n"
    )
    assert "pip install 'tapegrad[plot]'" in INSTALL_HINT and not (runs / "x.png").exists()
    assert save_run_png(runs / "lr1e-4") is None  # train's loss.png: silently skipped
    text = invoke("plot", str(runs / "lr1e-4"))  # the terminal needs no matplotlib
    assert text.exit_code == 0


def test_a_failing_picture_never_fails_the_run(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from tapegrad.train import plot

    def broken(curves, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plot, "save_png", broken)
    result = invoke("train", "train.epochs=3", "--out", str(tmp_path / "r"), "-q")
    assert result.exit_code == 0, result.output
    assert "warning: could not draw loss.png (OSError" in result.stderr
    assert (tmp_path / "r" / "summary.json").is_file()


def test_runs_lists_the_differing_keys_best_first(runs):
    result = invoke("runs", str(runs))
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["train.lr", "status", "epochs"]
    assert [r.split()[0] for r in rows] == ["0.0001", "1e-05"]  # lr 1e-4 trained further
    data = json.loads(invoke("runs", str(runs), "--json").stdout)
    best = [r["best_loss"] for r in data["runs"]]
    assert best == sorted(best) and data["keys"] == ["train.lr"]
    assert all(r["status"] == "ok" and r["epochs"] == 30 for r in data["runs"])


def test_sweep_and_resume_do_not_mix(runs):
    result = invoke("train", "--resume", str(runs / "lr1e-4"), "--sweep", "seed=1,2")
    assert result.exit_code == 2 and "--sweep cannot be combined with --resume" in result.stderr
