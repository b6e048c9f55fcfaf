"""Anomaly mode: forward traces on nodes, NaN checks in backward, zero cost when off."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)


def test_nan_gradient_is_reported_with_node_and_forward_line():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()  # the line the message must show
        with pytest.raises(RuntimeError) as err:
            (y * 0).sum().backward()  # 0 / sqrt(0) in SqrtBackward0
    message = str(err.value)
    assert "Function 'SqrtBackward0' returned nan values in its 0th output." in message
    assert "y = x.sqrt()  # the line the message must show" in message
    assert "test_anomaly.py" in message


@pytest.mark.filterwarnings("ignore:divide by zero", "ignore:invalid value")
def test_nan_from_log_is_reported():
    x = tg.tensor([0.0, 2.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(RuntimeError, match="'LogBackward0' returned nan"):
        (x.log() * 0).sum().backward()


@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("op", ["sqrt", "log"])
def test_infinite_gradient_is_not_an_anomaly(op):
    # torch checks for NaN only: sqrt and log at 0 have a valid, infinite gradient
    x = tg.tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        getattr(x, op)().sum().backward()
    assert x.grad.tolist()[0] == float("inf")


def test_check_nan_false_keeps_traces_without_failing():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly(check_nan=False):
        assert is_anomaly_enabled() and not is_anomaly_check_nan_enabled()
        y = x.sqrt()
        (y * 0).sum().backward()
    assert y.grad_fn._trace is not None
    assert np.isnan(x.grad.tolist()[0])
    assert is_anomaly_check_nan_enabled() and not is_anomaly_enabled()
    with set_detect_anomaly(True, check_nan=False):
        assert is_anomaly_enabled() and not is_anomaly_check_nan_enabled()
    assert is_anomaly_check_nan_enabled() and not is_anomaly_enabled()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("check_nan", [True, False])
@pytest.mark.parametrize(("op", "scale"), [("sqrt", 0.0), ("sqrt", 1.0), ("log", 0.0)])
def test_anomaly_checks_agree_with_torch(op, scale, check_nan):
    torch = pytest.importorskip("torch")
    outcomes = []
    for lib, mode in ((tg, detect_anomaly), (torch, torch.autograd.detect_anomaly)):
        x = lib.tensor([0.0, 4.0], requires_grad=True)
        with mode(check_nan=check_nan):
            try:
                (getattr(x, op)() * scale).sum().backward()
                outcomes.append(("ok", str(x.grad.tolist())))
            except RuntimeError as exc:
                outcomes.append(("error", str(exc).splitlines()[0]))
    assert outcomes[0] == outcomes[1]


def test_anomaly_mode_off_records_nothing_and_does_not_raise():
    assert not is_anomaly_enabled()
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt()
    assert y.grad_fn._trace is None
    y.sum().backward()
    assert x.grad.tolist()[0] == float("inf")


def test_set_detect_anomaly_as_call_and_context():
    with set_detect_anomaly(True):
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
    finally:
        set_detect_anomaly(False)


def test_forward_trace_keeps_frames_outside_the_engine(tmp_path, monkeypatch):
    # a caller in a folder named like the package must still appear in the trace
    module = tmp_path / "tapegrad_project" / "user_code.py"
    module.parent.mkdir()
    module.write_text("def build(x):\n    return x.sqrt()\n")
    monkeypatch.syspath_prepend(str(module.parent))
    import user_code

    with detect_anomaly():
        y = user_code.build(tg.tensor([1.0], requires_grad=True))
    assert "user_code.py" in y.grad_fn._trace and "return x.sqrt()" in y.grad_fn._trace
    assert "tensor.py" not in y.grad_fn._trace
