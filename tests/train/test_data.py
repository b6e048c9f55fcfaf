"""Data sets: the blog's linear data, spirals, and CSV files (with line-numbered errors)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.train.config import ConfigError, load_config
from tapegrad.train.data import linear, make_dataset, read_csv, spirals


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def test_linear_is_the_blogs_formula_from_the_seeded_generator():
    tg.manual_seed(3)
    data = linear(50, [0.2, -1.3, -0.5], 1.0)
    tg.manual_seed(3)
    x = tg.randn(50, 3).numpy()
    noise = tg.randn(50, 1).numpy()
    expected = x[:, :1] * 0.2 - x[:, 1:2] * 1.3 - x[:, 2:] * 0.5 + noise
    assert data.x.dtype == np.float32 and data.y.shape == (50, 1)
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_allclose(data.y, expected, rtol=1e-5, atol=1e-6)


def test_same_seed_same_data():
    config = load_config(None, ["seed=5"])
    tg.manual_seed(5)
    first = make_dataset(config)
    tg.manual_seed(5)
    second = make_dataset(config)
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.y, second.y)


def test_spirals_shape_and_labels():
    data = spirals(4, 25, 0.2)
    assert data.x.shape == (100, 2) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and sorted(set(data.y.tolist())) == [0, 1, 2, 3]
    assert (data.n_classes, data.d_out) == (4, 4)
    assert np.all(np.linalg.norm(data.x, axis=1) <= 1.0 + 1e-6)


def test_csv_regression_with_header_and_named_target(tmp_path):
    path = csv_file(tmp_path, "a,target,b\n1,2,3\n4,5,6\n\n7,8,9\n")
    data = read_csv(path, ["target"], header=True, classify=False)
    np.testing.assert_array_equal(data.x, [[1, 3], [4, 6], [7, 9]])
    np.testing.assert_array_equal(data.y, [[2], [5], [8]])
    assert data.d_out == 1


def test_csv_without_header_defaults_to_last_column(tmp_path):
    path = csv_file(tmp_path, "1,2,3\n4,5,6\n")
    data = read_csv(path, None, header=False, classify=False)
    np.testing.assert_array_equal(data.y, [[3], [6]])


def test_csv_multiple_targets_by_index(tmp_path):
    path = csv_file(tmp_path, "1,2,3\n4,5,6\n")
    assert read_csv(path, [0, -1], header=False, classify=False).y.shape == (2, 2)


def test_csv_classification_labels(tmp_path):
    path = csv_file(tmp_path, "x,label\n0.5,0\n0.1,2\n0.3,1\n")
    data = read_csv(path, None, header=True, classify=True)
    assert data.y.dtype == np.int64 and data.n_classes == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y\n1,2\n3,abc\n", "line 3: column 'y' must be a number, got 'abc'"),
        ("x,y\n1,2\n\n3,4,5\n", "line 4: expected 2 fields, got 3"),
        ("x,y\n1,nan\n", "line 2: column 'y' must be a number, got 'nan'"),
        ("x,y\n", "line 2: no data rows after the header"),
        ("", "line 1: the file is empty; expected a header row"),
        ("\n\n", "line 1: the file is empty; expected a header row"),
        ("x,y\n1,2\n3\n", "line 3: expected 2 fields, got 1"),
        ("x,y\n1,2\n3,\n", "line 3: column 'y' must be a number, got ''"),
        ("x,y\n1,2\n3,4\x00\n", "line 3: column 'y' must be a number, got '4\\x00'"),
    ],
)
def test_csv_bad_rows_are_reported_with_their_line(tmp_path, text, message):
    path = csv_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_csv(path, None, header=True, classify=False)
    assert str(info.value) == f"{path}{' ' if message.startswith('line') else ': '}{message}"


def test_csv_unknown_target(tmp_path):
    path = csv_file(tmp_path, "x,y\n1,2\n")
    with pytest.raises(ConfigError, match="data.target 'z' is not a column; columns are x, y"):
        read_csv(path, ["z"], header=True, classify=False)


def test_csv_labels_must_be_class_indices(tmp_path):
    path = csv_file(tmp_path, "x,y\n1,0.5\n")
    with pytest.raises(ConfigError, match="must hold class labels 0, 1, 2"):
        read_csv(path, None, header=True, classify=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nope.csv", "CSV file not found (data.path)"),
        (lambda d: d, "is a directory, not a CSV file (data.path)"),
        (lambda d: Path("/dev/zero"), "not a regular file (data.path)"),
    ],
)
def test_csv_path_that_is_not_a_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        read_csv(path, None, header=True, classify=False)
    assert str(info.value) == f"{path}: {message}"


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("x,y\n1,2\n\xe9,3\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_csv(path, None, header=True, classify=False)


def test_csv_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="CSV file not found"):
        read_csv(tmp_path / "nope.csv", None, header=True, classify=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.weights=[1e308, 1, 1]"], "command line: the data hold nan or inf values"),
        (["data.noise=1e39"], "check data.weights and data.noise"),
    ],
)
def test_data_beyond_float32_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_dataset(load_config(None, overrides))


def test_csv_values_beyond_float32_are_refused(tmp_path):
    path = csv_file(tmp_path, "x,y\n1,2\n1e300,3\n")
    config = load_config(None, ["data.kind=csv", f"data.path={path}"])
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: the data hold nan or inf"):
        make_dataset(config)
