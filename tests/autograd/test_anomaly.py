"""Anomaly mode: forward traces on nodes, NaN/inf checks in backward, zero cost when off."""

from __future__ import annotations

import pytest

import tapegrad as tg
from tapegrad.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly


def test_sqrt_at_zero_is_reported_with_node_and_forward_line():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()  # the line the message must show
        with pytest.raises(RuntimeError) as err:
            y.sum().backward()
    message = str(err.value)
    assert "Function 'SqrtBackward0' returned nan values in its 0th output." in message
    assert "y = x.sqrt()  # the line the message must show" in message
    assert "test_anomaly.py" in message


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_log_of_zero_is_reported():
    x = tg.tensor([0.0, 2.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(RuntimeError, match="'LogBackward0' returned nan"):
        x.log().sum().backward()


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
