"""Config schema, loading, overrides and the precise validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapegrad.train.config import (
    SCHEMA,
    ConfigError,
    default_config,
    dump_config,
    load_config,
)

BLOG = {
    "seed": 0,
    "data.kind": "linear",
    "data.n": 100,
    "data.d_in": 3,
    "data.weights": [0.2, -1.3, -0.5],
    "data.noise": 1.0,
    "model.hidden": [32],
    "model.activation": "relu",
    "model.init": "normal",
    "train.epochs": 200,
    "train.lr": 1e-4,
    "train.loss": "sse",
    "train.optimizer": "manual",
    "train.batch_size": None,
    "train.log_every": 10,
    "output.dir": None,
}
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path | None = None, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def test_defaults_are_the_blog_experiment():
    config = default_config()
    assert {k: config[k] for k in BLOG} == BLOG


def test_every_default_passes_its_own_check():
    for key, spec in SCHEMA.items():
        assert spec.check.convert(spec.default) == spec.default, key


def test_empty_file_means_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).values == default_config().values


def test_blog_yaml_is_the_default():
    assert load_config(CONFIGS / "blog.yaml").values == default_config().values


def test_exponent_without_dot_is_a_number(tmp_path):
    # PyYAML reads `1e-4` as the string "1e-4".
    config = load_config(write(tmp_path, "train:\n  lr: 1e-4\n  epochs: 1e3\n"))
    assert config["train.lr"] == 1e-4 and isinstance(config["train.lr"], float)
    assert config["train.epochs"] == 1000 and isinstance(config["train.epochs"], int)


def test_bad_value_names_file_key_expected_and_found(tmp_path):
    path = write(tmp_path, "train:\n  lr: -0.1\n")
    assert error_of(path) == f"{path}: train.lr must be a number > 0, got -0.1"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=0", "train.epochs must be an integer >= 1, got 0"),
        ("train.epochs=2.5", "train.epochs must be an integer >= 1, got 2.5"),
        ("train.lr=fast", 'train.lr must be a number > 0, got "fast"'),
        ("train.lr=.nan", "train.lr must be a number > 0, got NaN"),
        ("seed=true", "seed must be an integer >= 0, got true"),
        ("model.hidden=[64, 0]", "model.hidden must be an integer >= 1 or a list of them"),
        ("model.activation=ReLU", 'got "ReLU"; did you mean relu?'),
        (
            "train.optimizer=lbfgs",
            "train.optimizer must be one of manual, sgd, adam, adamw, rmsprop, adagrad",
        ),
        ("train.batch_size=-1", "train.batch_size must be an integer >= 1 or null, got -1"),
        ("data.weights=[]", "data.weights must be a non-empty list of numbers, got []"),
        ("data.noise=-1", "data.noise must be a number >= 0, got -1"),
    ],
)
def test_bad_override_values(override, message):
    error = error_of(overrides=(override,))
    assert error.startswith("command line: ")
    assert message in error


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        ("train.lrr=3", "unknown key train.lrr; did you mean train.lr?"),
        ("model.activaton=tanh", "did you mean model.activation?"),
        ("sed=1", "unknown key sed; did you mean seed?"),
        ("train.frobnicate=1", "valid keys in train: train.epochs, train.lr"),
        ("zzz.q=1", "valid top-level keys: seed, data, model, train, output"),
    ],
)
def test_unknown_keys_get_a_suggestion(override, hint):
    assert hint in error_of(overrides=(override,))


def test_unknown_section_in_file(tmp_path):
    path = write(tmp_path, "trian:\n  lr: 0.1\n")
    assert error_of(path) == f"{path}: unknown key trian; did you mean train?"


def test_unknown_nested_key_in_file(tmp_path):
    path = write(tmp_path, "model:\n  hiden: [8]\n")
    assert error_of(path) == f"{path}: unknown key model.hiden; did you mean model.hidden?"


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write(tmp_path, "train:\n  lr: 1\n   epochs: 3\n")
    assert error_of(path).startswith(f"{path}:3:10: YAML syntax error: ")


def test_top_level_must_be_a_mapping(tmp_path):
    error = error_of(write(tmp_path, "- 1\n- 2\n"))
    assert "the top level must be a mapping" in error and "got a list" in error


def test_section_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "train: 5\n")
    assert error_of(path) == f"{path}: train must be a mapping, got an integer (5)"


def test_missing_file():
    assert error_of(Path("no/such.yaml")) == "no/such.yaml: config file not found"


def test_overrides_win_over_the_file_and_parse_as_yaml(tmp_path):
    path = write(tmp_path, "train:\n  epochs: 7\n")
    config = load_config(path, ["train.epochs=500", "model.hidden=[64,64]", "seed=3"])
    assert (config["train.epochs"], config["model.hidden"], config["seed"]) == (500, [64, 64], 3)


def test_hidden_accepts_one_int_or_an_empty_list():
    assert load_config(None, ["model.hidden=16"])["model.hidden"] == [16]
    assert load_config(None, ["model.hidden=[]"])["model.hidden"] == []


@pytest.mark.parametrize("item", ["train", "train.lr", "=3"])
def test_override_needs_key_equals_value(item):
    assert "expected KEY=VALUE" in error_of(overrides=(item,)) or "is a section" in error_of(
        overrides=(item,)
    )


def test_section_override_is_rejected():
    assert "train is a section; set one of its keys" in error_of(overrides=("train={}",))


def test_override_yaml_error():
    assert "YAML syntax error" in error_of(overrides=("train.lr=[1",))


def test_keys_of_another_data_kind_are_rejected():
    error = error_of(overrides=("data.classes=4",))
    assert error == (
        "command line: data.classes applies only to data.kind spirals, but data.kind is linear"
    )


def test_weights_must_match_d_in():
    error = error_of(overrides=("data.d_in=4",))
    assert error == (
        "command line: data.weights must have one number per input feature (data.d_in = 4), got 3"
    )


def test_loss_must_fit_the_task():
    assert "must be cross_entropy for data.kind spirals" in error_of(
        overrides=("data.kind=spirals", "train.loss=mse")
    )
    assert "must be sse or mse for data.kind linear" in error_of(
        overrides=("train.loss=cross_entropy",)
    )


def test_optimizer_specific_keys():
    assert "train.momentum applies only to train.optimizer sgd" in error_of(
        overrides=("train.momentum=0.9",)
    )
    config = load_config(None, ["train.optimizer=sgd", "train.momentum=0.9"])
    assert config["train.momentum"] == 0.9


def test_spirals_kind_defaults():
    config = load_config(None, ["data.kind=spirals"])
    assert config["train.loss"] == "cross_entropy"
    assert config["data.noise"] == 0.2
    assert "data.n" not in config.values


def test_csv_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "data:\n  kind: csv\n  path: points.csv\n")
    assert load_config(path)["data.path"] == str(tmp_path / "sub" / "points.csv")


def test_csv_needs_a_path():
    assert "data.path must be set for data.kind csv" in error_of(overrides=("data.kind=csv",))


def test_dump_then_load_round_trips(tmp_path):
    config = load_config(None, ["model.hidden=[8, 4]", "train.optimizer=adam", "seed=5"])
    again = load_config(write(tmp_path, dump_config(config)))
    assert again.values == config.values


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_are_valid(name):
    load_config(CONFIGS / name)
