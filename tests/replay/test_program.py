"""The program's in-place pass: an operand reused only where nothing else can see it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.replay import callback
from tapegrad.replay.program import in_place
from tapegrad.replay.recorder import READS

F32 = np.dtype(np.float32)
A = ((4, 3), F32)


def test_a_dying_operand_is_reused() -> None:
    lines = ["v1 = c1.dot(c2)", "v2 = v1 + c3", "v3 = c4 * v2"]
    assert in_place(lines, [A, A, A], "_fresh(v3)") == [
        "v1 = c1.dot(c2)",
        "v1 += c3",
        "v2 = v1",
        "v2 *= c4",  # a product commutes exactly
        "v3 = v2",
    ]


def test_operands_others_may_see_are_not_reused() -> None:
    # used again later, returned, handed to a call, made by a call, of another shape or dtype,
    # subtracted from (does not commute), or a precedence the rewrite would change
    lines = ["v1 = c1.dot(c2)", "v2 = v1 + c3", "v3 = v1 * c4"]
    assert in_place(lines, [A, A, A], "")[1] == "v2 = v1 + c3"  # v1 is used again after
    cases = [
        (["v1 = c1.dot(c2)", "v2 = v1 + c3"], [A, A], "(_fresh(v1), _fresh(v2))"),
        (["v1 = c1.dot(c2)", "c9(v1)", "v2 = v1 + c3"], [A, None, A], ""),
        (["v1 = c5(c1)", "v2 = v1 + c3"], [None, A], ""),
        (["v1 = c1.dot(c2)", "v2 = v1 + c3"], [((4, 1), F32), A], ""),
        (["v1 = c1.dot(c2)", "v2 = v1 + c3"], [((4, 3), np.dtype(np.float64)), A], ""),
        (["v1 = c1.dot(c2)", "v2 = c3 - v1"], [A, A], ""),
        (["v1 = c1.dot(c2)", "v2 = v1 - c3 + c4"], [A, A], ""),
        (["v1 = c1.dot(c2)", "v2 = v1 * (c3) + (c4)"], [A, A], ""),
    ]
    for lines, tags, returned in cases:
        assert in_place(lines, tags, returned) == lines, lines


def test_reads_in_between_do_not_stop_the_reuse() -> None:
    lines = ["v1 = c1.dot(c2)", "_add(c7, v1, c7)", "v2 = v1 * (v1 > c3)"]
    assert in_place(lines, [A, READS, A], "") == lines  # v1 is read by the right side
    lines = ["v1 = c1.dot(c2)", "_add(c7, v1, c7)", "v2 = v1 * (c5 > c3)"]
    assert in_place(lines, [A, READS, A], "")[2] == "v1 *= (c5 > c3)"


def test_an_array_a_callback_kept_is_never_written_into() -> None:
    def make() -> tuple[Any, np.ndarray, Any]:
        # numpy holders: the guards do not look into arrays, so keeping one changes no guard
        kept = np.empty(8, dtype=object)
        count = np.zeros(1, dtype=np.int64)

        def keep(array: np.ndarray) -> None:
            kept[count[0]] = array
            count[0] += 1

        w = tg.full((3, 2), 0.5, requires_grad=True)
        x = tg.from_numpy(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))

        def step() -> Any:
            h = x.mm(w)
            callback(keep, h)  # keeps the array itself
            loss = (h + 1.0).tanh().sum()
            loss.backward()
            with tg.no_grad():
                w.sub_(0.1 * w.grad)
                w.grad.zero_()
            return loss

        return step, kept, w

    eager, kept_e, w_e = make()
    step, kept_c, w_c = make()
    compiled = tg.compile(step)
    for _ in range(5):
        assert eager().item() == compiled().item()
    assert compiled.replays == 3
    for a, b in zip(kept_e[:5], kept_c[:5]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w_e._data, w_c._data)


def test_the_backward_pass_ignores_float_errors_and_restores_the_settings() -> None:
    w = tg.full((2, 1), 1e30, requires_grad=True)
    x = tg.full((3, 2), 1e30)

    def step() -> Any:
        loss = x.mm(w).exp().sum()  # overflows: inf, then inf * 0 in backward
        loss.backward()
        w.grad = None
        return loss

    compiled = tg.compile(step)
    before = np.geterr()
    with np.errstate(all="raise"):
        for _ in range(2):  # eager, then recorded: the forward's overflow raises
            with pytest.raises(FloatingPointError):
                compiled()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(4):
            assert compiled().item() == float("inf")
    assert compiled.replays == 3  # the second call raised while recording: the third records
    assert np.geterr() == before
