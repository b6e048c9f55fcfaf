"""Smoke test for ``scripts/bench.py``: its correctness check on tiny sizes (no timing claims).

Every implementation must reach the same losses as the hand-written numpy baseline, and the
check must reject an engine that is fast but wrong.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """``scripts/bench.py`` imported as a module (it imports ``bench_numpy`` beside it)."""
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("tapegrad_bench", SCRIPTS / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        sys.path.remove(str(SCRIPTS))


def _tiny(bench: ModuleType) -> list[Any]:
    return [w.tiny() for w in bench.WORKLOADS.values()]


def _require(bench: ModuleType, name: str) -> Any:
    impl = bench.IMPLS[name]
    reason = impl.unavailable()
    if reason is not None:
        pytest.skip(f"{name} unavailable: {reason}")
    return impl


@pytest.mark.parametrize(
    "name", ["tapegrad", "tapegrad-nn", "tapegrad-raw", "tapegrad-compiled", "torch", "torch-raw"]
)
def test_tiny_workloads_agree_with_numpy(bench: ModuleType, name: str) -> None:
    impls = [bench.IMPLS["numpy"], _require(bench, name)]
    results, problems = bench.run_check(_tiny(bench), impls)
    assert problems == []
    assert {r.impl for r in results} == {"numpy", name}
    assert all(r.dtypes == ["float32"] for r in results)


def test_tiny_losses_move_enough_for_the_check_to_bite(bench: ModuleType) -> None:
    results, _ = bench.run_check(_tiny(bench), [bench.IMPLS["numpy"]])
    for res in results:
        assert res.final_loss < res.first_loss * (1 - 20 * 1e-3), res


def test_data_is_deterministic_float32(bench: ModuleType) -> None:
    w = bench.WORKLOADS["W4"].tiny()
    a, b = bench.make_data(w), bench.make_data(w)
    for x, y in zip(bench._arrays(a), bench._arrays(b)):
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, y)


class _WrongEngine:
    """Hand-numpy with a 1.5x learning rate: fast, plausible, wrong."""

    name, framework, style = "wrong", "numpy", "manual"

    def __init__(self, bench: ModuleType) -> None:
        self._bench = bench

    def unavailable(self) -> None:
        return None

    def prepare(self, w: Any, data: Any, threads: int = 1) -> Any:
        return self._bench._numpy_run(replace(w, lr=1.5 * w.lr), data)


def test_check_rejects_a_wrong_engine(bench: ModuleType) -> None:
    _, problems = bench.run_check(_tiny(bench), [bench.IMPLS["numpy"], _WrongEngine(bench)])
    assert len(problems) == len(bench.WORKLOADS)
    assert all("wrong: final loss" in p for p in problems)


def _result(bench: ModuleType, impl: str, final: float, **kw: Any) -> Any:
    fields = {"first_loss": 2.0, "final_loss": final, "losses": [final], "dtypes": ["float32"]}
    return bench.Result("W1", impl, 3, **{**fields, **kw})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"final": 1.01}, "final loss"),
        ({"final": float("nan")}, "non-finite"),
        ({"final": 1.0, "dtypes": ["float32", "float64"]}, "non-float32"),
        ({"final": 1.0, "error": "ValueError: boom"}, "failed"),
        ({"final": 1.0, "losses": [1.0, 1.1]}, "varies across repetitions"),
    ],
)
def test_check_agreement_flags(bench: ModuleType, kw: dict[str, Any], message: str) -> None:
    results = [_result(bench, "numpy", 1.0), _result(bench, "other", **kw)]
    problems = bench.check_agreement(results, rtol=1e-3)
    assert len(problems) == 1 and message in problems[0]


def test_check_agreement_accepts_float32_rounding(bench: ModuleType) -> None:
    results = [_result(bench, "numpy", 1.0), _result(bench, "other", 1.0 + 1e-6)]
    assert bench.check_agreement(results, rtol=1e-3) == []


def test_command_line_check_mode() -> None:
    cmd = [sys.executable, str(SCRIPTS / "bench.py"), "--check", "--impl", "numpy,tapegrad-raw"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "correctness: ok" in proc.stderr
