"""Fuzzing the config loader and ``KEY=VALUE`` overrides: whatever the input, ``tapegrad
train`` ends with exit 0, 1 or 2 and a message, never an uncaught exception or a traceback.

Values are drawn "small or absurd" (integers up to 40 or beyond any memory, floats in
[-50, 50] or extreme): big enough to hit every check, never a slow but legal run. The
number of epochs is always fixed to 2, and paths come from a fixed list, inside a fresh
temporary directory, so that nothing is read or written outside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from tapegrad.cli.main import main
from tapegrad.train.config import SCHEMA, ConfigError, load_config

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Keys that could make a legal run slow are never drawn (the command line fixes epochs).
SLOW_KEYS = {"train.epochs"}
KEYS = sorted(set(SCHEMA) - SLOW_KEYS)
ODD_KEYS = ["train.lrr", "data", "model", "nope", "data.kind.x", "", " ", "seed.x", "Train.lr"]
PATHS = ["data.csv", "bad.csv", "missing.csv", "/dev/zero", ".", "", "a" * 300, "sub/dir", "\0"]

scalars = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([10**12, 2**63, 10**400, -(10**30)]),
    st.floats(-50, 50),
    st.sampled_from([1e308, float("inf"), float("-inf"), float("nan"), 5e-324, 1e15, -0.0]),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.sampled_from(
        ["1e-3", "1e400", "relu", "adam", "sgd", "csv", "spirals", "linear", "sse", "mse",
         "cross_entropy", "nan", "0x10", "1_000", "Relu", "torch", "ünïcødé", "🚀", "\u202e"]
    ),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """Draw from one of the strategies, picked in proportion to its weight."""
    picks = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(picks) - 1).flatmap(lambda i: picks[i])


#: Values each key accepts (and a few it refuses), drawn more often than arbitrary ones so
#: that many fuzzed runs get far enough to train.
GOOD: dict[str, list[object]] = {
    "seed": [0, 1, 7, 2**40],
    "data.kind": ["linear", "spirals", "csv"],
    "data.n": [1, 2, 17, 40],
    "data.d_in": [1, 3],
    "data.weights": [[0.2, -1.3, -0.5], [1.0], [1e308, 1, 1]],
    "data.noise": [0, 1.0, 0.2, 1e300],
    "data.classes": [2, 3],
    "data.points_per_class": [1, 5, 20],
    "data.path": PATHS,
    "data.target": [None, "y", 0, -1, ["a", "b"], "zz"],
    "data.header": [True, False],
    "data.val_split": [None, 0.2, 0.5, 0.999, 1.5],
    "data.val_path": PATHS,
    "data.normalize": ["none", "standard"],
    "model.hidden": [[], [4], [8, 4], 3],
    "model.activation": ["relu", "tanh", "sigmoid", "gelu", "leaky_relu"],
    "model.dropout": [0, 0.5, 1, -0.1],
    "model.norm": ["none", "batch", "layer"],
    "model.init": ["normal", "torch"],
    "train.lr": [1e-4, 0.1, 100, "1e-2"],
    "train.loss": ["sse", "mse", "cross_entropy"],
    "train.optimizer": ["manual", "sgd", "adam", "adamw", "rmsprop", "adagrad"],
    "train.weight_decay": [None, 0, 0.01, -1],
    "train.clip_grad_norm": [None, 1.0, 0],
    "train.scheduler": [
        None,
        "cosine",
        {"kind": "step", "step_size": 2},
        {"kind": "onecycle"},
        {"kind": "plateau", "patience": 1},
        {"kind": "step"},
        {"kind": "cosine", "x": 1},
    ],
    "train.momentum": [0, 0.9],
    "train.betas": [[0.9, 0.999], [0, 0.5]],
    "train.batch_size": [None, 1, 7, 1000],
    "train.log_every": [1, 2],
    "train.stop_on_nonfinite": [True, False],
    "train.compile": [True, False],
    "train.checkpoint_every": [None, 1],
    "train.threads": ["auto", 1, 2, 0],
    "train.early_stopping": [None, True, 2, {"patience": 1}, {"monitor": "val_loss"}, {"x": 1}],
    "output.dir": ["out", "sub/dir", ".", "", "a" * 300, "\0", 3],
}
#: Paths are only ever drawn from the fixed lists above.
PATH_KEYS = ("data.path", "data.val_path", "output.dir")


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, object]:
    """A (dotted key, value) pair: mostly real keys and good values, sometimes anything."""
    key = draw(
        weighted(
            (8, st.sampled_from(KEYS)), (1, st.sampled_from(ODD_KEYS)), (1, st.text(max_size=10))
        )
    )
    good = GOOD.get(key)
    if key in PATH_KEYS or (good and draw(st.integers(0, 3)) > 0):
        return key, draw(st.sampled_from(good))
    return key, draw(values)


def as_override(key: str, value: object) -> str:
    try:
        text = json.dumps(value)  # JSON is YAML (flow style)
    except (TypeError, ValueError):
        text = str(value)
    return f"{key}={text}"


@st.composite
def coherent(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Entries that fit together (keys that apply to the drawn data.kind and optimizer),
    mostly with good values: runs that get as far as training."""
    chosen: dict[str, object] = {
        "data.kind": draw(st.sampled_from(["linear", "spirals", "csv"])),
        "train.optimizer": draw(st.sampled_from(["manual", "sgd", "adam", "adamw", "rmsprop"])),
    }
    if chosen["data.kind"] == "csv":
        chosen["data.path"] = draw(st.sampled_from(PATHS[:3]))
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True)):
        when = SCHEMA[key].only_if
        if key in chosen or (when is not None and chosen[when.key] not in when.values):
            continue
        good = st.sampled_from(GOOD[key])
        chosen[key] = draw(good if key in PATH_KEYS else weighted((6, good), (1, values)))
    return list(chosen.items())


items = entries().map(lambda kv: as_override(*kv))
#: Half coherent; half chaotic: mostly KEY=VALUE items, one in eight anything at all.
overrides = weighted(
    (1, coherent().map(lambda kvs: [as_override(k, v) for k, v in kvs])),
    (1, st.lists(weighted((7, items), (1, st.text(max_size=15))), max_size=4)),
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """YAML text: a nested mapping of drawn entries, sometimes cut or spliced with junk."""
    nested: dict[object, object] = {}
    for key, value in draw(weighted((1, coherent()), (1, st.lists(entries(), max_size=5)))):
        section, dot, leaf = key.partition(".")
        if dot and draw(st.booleans()):
            target = nested.setdefault(section, {})
            if isinstance(target, dict):
                target[leaf] = value
        else:
            nested[key] = value
    text = yaml.safe_dump(nested, allow_unicode=True, sort_keys=False)
    mutation = draw(st.sampled_from(["none", "none", "none", "cut", "junk", "raw"]))
    if mutation == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == "junk":
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(
                st.sampled_from(
                    [
                        "[",
                        "{",
                        ":",
                        "- ",
                        "\t",
                        "&a *a",
                        "!!python/object:os.system",
                        "'",
                        "\0",
                        "[" * 600,
                    ]
                )
            )
            + text[at:]
        )  # noqa: E501
    elif mutation == "raw":
        text = draw(st.text(max_size=40))
    return text


@contextlib.contextmanager
def _fresh_directory() -> Iterator[None]:
    """Run inside a new empty temporary directory (restoring the working directory)."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(previous)


def invoke(args: list[str], config_text: str | None = None) -> tuple[int, str, str]:
    """Run ``tapegrad train`` in a fresh directory with data files; check it ended cleanly."""
    runner = CliRunner()
    with _fresh_directory():
        Path("data.csv").write_text(
            "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(12))
        )
        Path("bad.csv").write_text("a,y\n1,2\n3,x\n")
        if config_text is not None:
            Path("exp.yaml").write_text(config_text, encoding="utf-8")
            args = ["exp.yaml", *args]
        result = runner.invoke(main, ["train", *args, "train.epochs=2", "--json", "-q"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 0:
        assert json.loads(result.stdout.splitlines()[-1])["status"] == "ok"
    else:
        assert "error: " in result.stderr, result.stderr
    if currently_in_test_context():  # shown by pytest --hypothesis-show-statistics
        event(f"exit {result.exit_code}")
    return result.exit_code, result.stdout, result.stderr


@FUZZ
@given(overrides)
def test_fuzzed_overrides_end_cleanly(items):
    invoke(items)


@FUZZ
@given(documents(), overrides)
def test_fuzzed_config_files_end_cleanly(text, items):
    invoke(items, text)


@settings(FUZZ, max_examples=500)
@given(documents(), overrides)
def test_fuzzed_loader_raises_only_config_errors(text, items):
    path = Path("/nonexistent-dir-for-fuzz/exp.yaml")
    try:
        load_config(None, items)
    except ConfigError as exc:
        assert str(exc)
    try:
        _load_text(text, path)
    except ConfigError as exc:
        assert str(exc)


def _load_text(text: str, path: Path) -> None:
    from tapegrad.train import config as config_module

    document = config_module._safe_load(text, str(path))
    config_module.resolve(config_module.flatten(document, str(path)), {}, path)


def test_good_values_cover_the_schema():
    assert set(GOOD) == set(KEYS)


def test_known_nasty_inputs():
    nasty = [
        ["model.hidden=&a [1, *a]"],  # a cycle
        ["data.weights=" + "[" * 600 + "]" * 600],  # deeper than PyYAML can parse
        ['output.dir="a\\0b"'],
        ["seed=" + "9" * 5000],
        ["train.lr=1e400"],
        ["data.n=1e15"],
        ["=1"],
        ["train.lr"],
        ["x" * 5000 + "=1"],
        ["train.lr=!!python/object/apply:os.system ['echo owned']"],  # safe_load refuses
    ]
    for items in nasty:
        code, _, stderr = invoke(items)
        assert code == 2 and len(stderr) < 1000, (items, stderr)
    laughs = "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")
    )
    code, _, stderr = invoke([], laughs + "model:\n  hidden: *i\n")
    assert code == 2 and "YAML aliases expand to more than 100000 values" in stderr
