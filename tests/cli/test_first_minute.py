"""A new user's first minute (issue 21, item 7): examples that train, hints for the usual
slips, help on a bare ``tapegrad``, a chart that fits, one error style, movable runs."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rich.progress import TimeRemainingColumn

from tapegrad.cli.main import main
from tapegrad.cli.render import stderr_console, stdout_console
from tapegrad.cli.render_train import RichRenderer, chart_width, loss_curve, summary_lines
from tapegrad.train import RunResult, load_config, run

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{2,}\b")
SKIPPED_OPTIONS = ("--resume", "--sweep", "--print-config", "--help")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# ----------------------------------------------------------------------------- examples


def train_examples(text: str) -> list[str]:
    """Every runnable ``tapegrad train ...`` in ``text`` (code lines and inline code)."""
    found = re.findall(r"`(tapegrad train[^`]*)`", text)
    found += re.findall(r"^\s*(tapegrad train\b.*)$", text, flags=re.MULTILINE)
    commands = []
    for command in found:
        command = " ".join(command.split("#")[0].split())
        if PLACEHOLDER.search(command) or any(o in command for o in SKIPPED_OPTIONS):
            continue
        commands.append(command)
    return list(dict.fromkeys(commands))


def help_examples() -> list[str]:
    text = invoke("train", "--help").output
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Overrides are"))
    paragraph = " ".join(lines[start : lines.index("", start)])
    example = re.search(r"e\.g\. ((?:\S+=\S+\s*)+)", paragraph)
    assert example is not None, paragraph
    return ["tapegrad train " + example.group(1).strip().rstrip(".")]


def check_trains(command: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # README paths are relative to the repository
    words = shlex.split(command)[2:]
    config = next((w for w in words if w.endswith((".yaml", ".yml"))), None)
    overrides = [w for w in words if "=" in w and not w.startswith("-")]
    overrides = [o for o in overrides if not o.startswith(("seed=", "output.dir="))]
    result = run(load_config(config, [*overrides, f"seed={seed}"]))
    assert result.status == "ok", (command, seed, result.message)
    assert math.isfinite(result.final_loss) and result.final_loss < result.losses[0] / 2, command


def test_the_help_example_is_the_one_that_trains():
    (example,) = help_examples()
    assert "model.hidden=[64,64]" in example and "train.lr=1e-5" in example


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_help_examples_train_for_any_seed(seed, monkeypatch):
    for command in help_examples():
        check_trains(command, seed, monkeypatch)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_readme_train_examples_train_for_any_seed(seed, monkeypatch):
    commands = train_examples((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "tapegrad train configs/spirals.yaml" in commands
    for command in commands:
        check_trains(command, seed, monkeypatch)


# ----------------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    ("arg", "key"),
    [("epochs=5", "train.epochs"), ("lr=0.1", "train.lr"), ("hidden=[8]", "model.hidden")],
)
def test_a_bare_key_gets_its_section(arg, key):
    result = invoke("train", arg)
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(f"unknown key {arg.split('=')[0]}; did you mean {key}?")


def test_config_flag_and_missing_equals_point_at_the_first_argument():
    flag = invoke("train", "--config", "configs/blog.yaml")
    assert flag.exit_code == 2
    assert "there is no --config option: the config is the first argument" in flag.stderr
    assert "tapegrad train configs/blog.yaml" in flag.stderr
    for args in (["train.epochs"], [str(ROOT / "configs/blog.yaml"), "train.epochs", "5"]):
        result = invoke("train", *args)
        assert result.exit_code == 2
        assert "'train.epochs' has no value: write train.epochs=VALUE" in result.stderr
        assert "is the first argument" in result.stderr


def test_a_config_after_the_overrides_is_accepted():
    spirals = str(ROOT / "configs/spirals.yaml")
    after = invoke("train", "train.epochs=2", spirals, "--print-config")
    before = invoke("train", spirals, "train.epochs=2", "--print-config")
    assert after.exit_code == 0, after.output
    assert after.stdout == before.stdout and "kind: spirals" in after.stdout
    two = invoke("train", "train.epochs=2", spirals, spirals)
    assert two.exit_code == 2 and "only one config file is read" in two.stderr


def test_bare_tapegrad_prints_help_and_succeeds():
    result = invoke()
    assert result.exit_code == 0
    assert "tapegrad train [CONFIG]" in result.stdout and "Commands:" in result.stdout


# ----------------------------------------------------------------------------- display


def test_the_chart_fits_40_columns_and_labels_use_the_summary_precision():
    losses = run(load_config(None, ["train.epochs=200"])).losses
    chart = loss_curve(losses, chart_width(40))
    assert chart and max(len(line) for line in chart) <= 40
    assert chart[0].startswith(f"{max(losses):.4e} |")
    assert chart[5].startswith(f"{min(losses):.4e} |")  # the printed best loss
    wide = loss_curve(losses, chart_width(200))
    assert max(len(line) for line in wide) == 72  # 60 bars at most


def test_piped_output_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    result = invoke("train", "train.epochs=50")
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 40


def test_slow_runs_print_seconds_per_epoch():
    slow = RunResult("ok", 3, losses=[3.0, 2.0, 1.0], seconds=7.5)
    assert "(2.5 s/epoch)" in summary_lines(slow)[-1]
    fast = RunResult("ok", 3, losses=[3.0, 2.0, 1.0], seconds=0.001)
    assert "(3,000 epochs/s)" in summary_lines(fast)[-1]


def test_the_progress_bar_shows_an_eta():
    renderer = RichRenderer(stdout_console(), stderr_console())
    assert any(isinstance(c, TimeRemainingColumn) for c in renderer.progress.columns)


# ----------------------------------------------------------------------------- inspect


def test_gradcheck_takes_a_family_name_and_lists_names():
    listed = invoke("gradcheck", "--list")
    assert listed.exit_code == 0
    names = listed.stdout.split()
    family = [n for n in names if n.startswith("matmul_")]
    assert len(family) >= 2 and "matmul" not in names
    result = invoke("gradcheck", "--op", "matmul", "--json")
    assert result.exit_code == 0, result.output
    checked = [json.loads(line)["name"] for line in result.stdout.splitlines()]
    assert checked == family
    unknown = invoke("gradcheck", "--op", "matmulx")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: ")


def test_graph_takes_overrides_like_train():
    def linear_layers(*args: str) -> int:
        result = invoke("graph", *args, "--format", "json")
        assert result.exit_code == 0, result.output
        nodes = json.loads(result.stdout)["nodes"]
        return sum(n["name"] == "AddmmBackward0" for n in nodes)

    blog = str(ROOT / "configs/blog.yaml")
    assert linear_layers(blog) == 2
    assert linear_layers(blog, "model.hidden=[4,4]") == 3
    assert linear_layers("model.hidden=[4,4,4]") == 4
    tree = invoke("graph", "model.hidden=[4]", "--no-values")
    assert tree.exit_code == 0 and "model.hidden=[4]: the loss of one training step" in tree.stdout


@pytest.mark.parametrize("fmt", ["json", "dot"])
def test_no_values_is_refused_where_it_cannot_apply(fmt):
    result = invoke("graph", "--format", fmt, "--no-values")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --no-values skips backward()")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--bogus"],
        ["gradcheck", "--bogus"],
        ["graph", "--bogus"],
        ["graph", "--format", "gif"],
        ["gradcheck", "--eps", "x"],
        ["graph", "lr=1"],
        ["gradcheck", "epochs=1"],
        ["train", "lr=1"],
        ["runs", "/nonexistent-dir"],
        ["plot", "/nonexistent-dir"],
    ],
)
def test_every_command_reports_errors_the_same_way(args):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Usage:" not in result.output


# ----------------------------------------------------------------------------- moving runs


def test_a_moved_project_resumes_and_data_can_be_moved(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "configs", project / "configs")
    config, out = project / "configs" / "csv.yaml", project / "runs" / "a"
    first = invoke("train", str(config), "train.epochs=4", "--out", str(out), "-q")
    assert first.exit_code == 0, first.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["data"]["path"] == "../../configs/quadratic.csv"

    moved = tmp_path / "moved"
    shutil.move(project, moved)
    run_dir = moved / "runs" / "a"
    again = invoke("train", "--resume", str(run_dir), "train.epochs=6", "-q")
    assert again.exit_code == 0, again.output

    csv = moved / "configs" / "quadratic.csv"
    elsewhere = tmp_path / "data.csv"
    shutil.move(csv, elsewhere)
    lost = invoke("train", "--resume", str(run_dir), "train.epochs=8")
    assert lost.exit_code == 2 and "say where it is now with data.path=NEW_PATH" in lost.stderr
    found = invoke("train", "--resume", str(run_dir), "train.epochs=8", f"data.path={elsewhere}")
    assert found.exit_code == 0, found.output
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 8

    elsewhere.write_text(elsewhere.read_text() + "1,2,3\n")  # other data: refused
    changed = invoke("train", "--resume", str(run_dir), "train.epochs=9", f"data.path={elsewhere}")
    assert changed.exit_code == 2 and "the data differ" in changed.stderr
