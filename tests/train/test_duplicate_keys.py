"""A key given twice is an error naming the key and both places, at any level of a YAML config
(PyYAML alone keeps the last one silently), in an override's value, and in a CSV header."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import load_config
from tapegrad.train.config import ConfigError
from tapegrad.train.data import read_csv


def config_error(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def test_duplicate_key_in_a_flow_mapping(tmp_path: Path):
    message = config_error(tmp_path, "train: {lr: 0.001, lr: 100}\n")
    assert message == (
        f"{tmp_path / 'exp.yaml'}: duplicate key train.lr (line 1, columns 9 and 20); "
        "each key may appear only once"
    )


def test_two_sections_of_the_same_name(tmp_path: Path):
    text = "train:\n  lr: 0.001\nseed: 1\ntrain:\n  epochs: 3\n"
    message = config_error(tmp_path, text)
    assert message.endswith(": duplicate key train (lines 1 and 4); each key may appear only once")


def test_duplicate_key_in_a_block_section(tmp_path: Path):
    text = "model:\n  hidden: [3]\n  activation: tanh\n  hidden: [4]\n"
    assert "duplicate key model.hidden (lines 2 and 4)" in config_error(tmp_path, text)


def test_duplicate_top_level_key(tmp_path: Path):
    assert "duplicate key seed (lines 1 and 2)" in config_error(tmp_path, "seed: 1\nseed: 2\n")


def test_duplicates_are_found_before_unknown_keys(tmp_path: Path):
    # the check runs on the document, not on the keys the schema knows
    message = config_error(tmp_path, "nonsense: {a: 1, a: 2}\n")
    assert "duplicate key nonsense.a" in message


def test_quoting_does_not_hide_a_duplicate(tmp_path: Path):
    assert "duplicate key train.lr" in config_error(tmp_path, "train: {lr: 1, 'lr': 2}\n")


def test_duplicate_inside_a_list_names_the_position(tmp_path: Path):
    message = config_error(tmp_path, "data: {weights: [1, {x: 1, x: 2}]}\n")
    assert "duplicate key data.weights[1].x" in message


def test_duplicate_in_an_override_value():
    with pytest.raises(ConfigError, match=r"duplicate key \[1\]\.a \(line 1, columns 8 and 14\)"):
        load_config(None, ["train.betas=[0.9, {a: 1, a: 2}]"])


def test_merge_keys_may_be_overridden(tmp_path: Path):
    # YAML's merge: an explicit key overrides a merged one; that is not a duplicate
    path = tmp_path / "exp.yaml"
    path.write_text("train: {<<: {lr: 0.5, epochs: 3}, lr: 0.25}\n")
    config = load_config(path)
    assert config["train.lr"] == 0.25 and config["train.epochs"] == 3


def test_distinct_keys_still_load(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("train: {lr: 0.001, epochs: 4}\nmodel: {hidden: [3]}\n")
    assert load_config(path)["train.epochs"] == 4


def test_cli_duplicate_key_is_one_line_exit_2(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("train: {lr: 0.001, lr: 100}\n")
    result = CliRunner().invoke(main, ["train", str(path), "--print-config"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"error: {path}: duplicate key train.lr (line 1, columns 9 and 20); each key may "
        "appear only once\n"
    )


# ----------------------------------------------------------------------------- CSV headers


def test_csv_header_with_a_duplicate_column(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("x,y,x\n1,2,3\n")
    with pytest.raises(ConfigError) as info:
        read_csv(path, None, True, False)
    assert str(info.value) == (
        f"{path} line 1: duplicate column name 'x' (columns 1 and 3); each column needs its "
        "own name"
    )


def test_csv_header_names_are_compared_stripped(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("a, b,b \n1,2,3\n")
    with pytest.raises(ConfigError, match=r"duplicate column name 'b' \(columns 2 and 3\)"):
        read_csv(path, None, True, False)


def test_csv_without_a_header_has_no_names_to_repeat(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n4,5,6\n")
    assert read_csv(path, None, False, False).x.shape == (2, 2)


def test_cli_csv_duplicate_column_exit_2(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("x,y,y\n1,2,3\n")
    result = CliRunner().invoke(main, ["train", "data.kind=csv", f"data.path={path}"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path} line 1: duplicate column name 'y' (columns 2 and 3); each column needs "
        "its own name"
    ]
