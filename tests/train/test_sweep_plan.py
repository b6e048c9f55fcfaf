"""Sweep planning (``train.sweep``), the runs table (``train.runs_table``) and BLAS threads
(``train.threads``), as a library: no subprocesses here (see tests/cli/test_sweep.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tapegrad.train import ConfigError, load_config, run
from tapegrad.train.runs_table import collect, differing_keys
from tapegrad.train.sweep import (
    DONE,
    NEW,
    RESTART,
    RESUME,
    command,
    parse_sweeps,
    plan,
    run_name,
    split_values,
)
from tapegrad.train.threads import limited, thread_count

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0.01,0.1", ["0.01", "0.1"]),
        ("[8],[16]", ["[8]", "[16]"]),
        ("[8, 8],[16]", ["[8, 8]", "[16]"]),
        ("'a,b',c", ["'a,b'", "c"]),
        ("{a: 1, b: 2},x", ["{a: 1, b: 2}", "x"]),
        ("1", ["1"]),
    ],
)
def test_values_split_at_commas_outside_brackets_and_quotes(text, values):
    assert split_values(text) == values


def test_sweep_keys_are_checked_and_values_deduplicated():
    assert parse_sweeps(["train.lr=1e-3,1e-2,1e-3", "model.hidden=[8],[16]"]) == [
        ("train.lr", ["1e-3", "1e-2"]),
        ("model.hidden", ["[8]", "[16]"]),
    ]
    with pytest.raises(ConfigError, match="did you mean train.lr"):
        parse_sweeps(["lr=1,2"])
    with pytest.raises(ConfigError, match="--sweep expects KEY=V1,V2"):
        parse_sweeps(["train.lr"])
    with pytest.raises(ConfigError, match="an empty value"):
        parse_sweeps(["train.lr=1e-3,"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_sweeps(["train.lr=1", "train.lr=2"])


def test_run_names_are_the_values_made_safe_for_file_names():
    assert run_name([("train.lr", "0.01"), ("model.hidden", "[8]")]) == (
        "train.lr=0.01,model.hidden=[8]"
    )
    assert run_name([("model.hidden", "[8, 8]"), ("data.path", "a/b.csv")]) == (
        "model.hidden=[8,_8],data.path=a_b.csv"
    )


def test_plan_is_the_grid_with_checked_configs(tmp_path):
    runs = plan(
        None, ["train.epochs=3", "train.lr=5"], ["train.lr=1e-4,1e-5", "seed=1,2"], tmp_path
    )
    assert [r.name for r in runs] == [
        "train.lr=1e-4,seed=1", "train.lr=1e-4,seed=2",
        "train.lr=1e-5,seed=1", "train.lr=1e-5,seed=2",
    ]  # fmt: skip
    assert [(r.config["train.lr"], r.config["seed"]) for r in runs] == [
        (1e-4, 1), (1e-4, 2), (1e-5, 1), (1e-5, 2),
    ]  # fmt: skip
    assert all(r.config["train.epochs"] == 3 and r.action == NEW for r in runs)
    assert runs[0].config["output.dir"] == str(tmp_path / runs[0].name)
    with pytest.raises(ConfigError, match="train.lr must be a number > 0, got -1"):
        plan(None, [], ["train.lr=1e-4,-1"], tmp_path)  # every run is checked before any starts


def test_plan_knows_what_is_left_in_each_directory(tmp_path):
    specs = ["seed=0,1,2,3"]
    runs = plan(None, ["train.epochs=4"], specs, tmp_path)
    done, interrupted, short, broken = runs
    run(done.config)
    stopped = iter([False] * 2 + [True] * 100)
    run(interrupted.config, should_stop=lambda: next(stopped))
    run(load_config(None, ["train.epochs=2", "seed=2"], {"output.dir": str(short.directory)}))
    broken.directory.mkdir()
    (broken.directory / "config.yaml").write_text("seed: 3\n")  # killed before any save
    actions = [r.action for r in plan(None, ["train.epochs=4"], specs, tmp_path)]
    assert actions == [DONE, RESUME, RESUME, RESTART]
    resume = command(plan(None, ["train.epochs=4"], specs, tmp_path)[1], None)
    assert resume[-4:] == ["--resume", str(interrupted.directory), "train.epochs=4", "-q"]


def test_plan_refuses_a_directory_of_another_sweep(tmp_path):
    (first,) = plan(None, ["train.epochs=2"], ["seed=0"], tmp_path)
    run(first.config)
    with pytest.raises(ConfigError, match="train.lr is 0.0001 there but the sweep sets 0.001"):
        plan(None, ["train.epochs=2", "train.lr=1e-3"], ["seed=0"], tmp_path)


def _fake_run(directory: Path, config: str, losses: list[float], val: list[float] | None = None):
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(config)
    header = "epoch,loss" + (",val_loss" if val else "")
    rows = [f"{i},{loss}" + (f",{val[i - 1]}" if val else "") for i, loss in enumerate(losses, 1)]
    (directory / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    summary = {"status": "ok", "epochs": len(losses), "final_loss": losses[-1]}
    summary.update(best_loss=min(losses), seconds=1.5)
    (directory / "summary.json").write_text(json.dumps(summary))


def test_runs_table_sorts_by_the_validation_metric(tmp_path):
    _fake_run(tmp_path / "a", "seed: 0\ntrain: {lr: 0.1}\n", [3.0, 1.0], [2.0, 1.9])
    _fake_run(tmp_path / "b", "seed: 0\ntrain: {lr: 0.01}\n", [3.0, 2.0], [1.5, 1.2])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.yaml").write_text("seed: 0\ntrain: {lr: 0.5}\n")  # no metrics yet
    table = collect(tmp_path)
    assert table.metric == "val_loss" and table.keys == ["train.lr"]
    assert [r.name for r in table.rows] == ["b", "a", "c"]
    assert table.rows[0].val == {"val_loss": 1.2} and table.rows[0].best_loss == 2.0
    assert table.rows[2].status == "incomplete" and table.rows[2].epochs is None
    data = table.to_json()
    assert data["runs"][0]["config"] == {"train.lr": 0.01} and data["sorted_by"] == "val_loss"


def test_runs_table_without_validation_sorts_by_best_loss(tmp_path):
    _fake_run(tmp_path / "x", "seed: 1\n", [5.0, 4.0])
    _fake_run(tmp_path / "y", "seed: 2\n", [5.0, 3.0])
    table = collect(tmp_path)
    assert table.metric == "best_loss" and [r.name for r in table.rows] == ["y", "x"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no run directories"):
        collect(empty)


def test_differing_keys_ignore_output_dir():
    configs = [{"seed": 0, "output.dir": "a", "m": [1]}, {"seed": 0, "output.dir": "b", "m": [2]}]
    assert differing_keys(configs) == ["m"]


def test_auto_threads_use_one_thread_for_small_models():
    assert thread_count("auto", [2, 64, 64, 3], 300) == 1
    assert thread_count("auto", [512, 2048, 10], 4096) is None
    assert thread_count(3, [2, 64, 3], 300) == 3


def test_the_thread_limit_reaches_openblas():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> set[int]:
        return {
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        }

    if not blas_threads():
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    before = blas_threads()
    with limited(1):
        assert blas_threads() == {1}
    assert blas_threads() == before


def test_threads_setting_is_checked_and_resumable():
    assert load_config(None, ["train.threads=2"])["train.threads"] == 2
    assert load_config(None, ["train.threads=AUTO"])["train.threads"] == "auto"
    with pytest.raises(ConfigError, match="train.threads must be auto or an integer >= 1, got 0"):
        load_config(None, ["train.threads=0"])
