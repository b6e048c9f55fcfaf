"""Smoke test for ``scripts/bench.py``: its correctness check on tiny sizes (no timing claims).

Every implementation must reach the same losses as every other (hand-numpy, tapegrad, torch),
and the check must reject an engine that is fast but wrong, naming the disagreeing pair.
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
    "name",
    [
        "tapegrad",
        "tapegrad-nn",
        "tapegrad-raw",
        "tapegrad-compiled",
        "torch",
        "torch-raw",
        "torch-flat",
    ],
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
    assert all("numpy vs wrong: final loss" in p for p in problems)


def _result(bench: ModuleType, impl: str, final: float, **kw: Any) -> Any:
    fields = {"first_loss": 2.0, "final_loss": final, "losses": [final], "dtypes": ["float32"]}
    return bench.Result("W1", impl, 3, **{**fields, **kw})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"final": 1.01}, "W1 numpy vs other: final loss"),
        ({"final": 1.0011}, "W1 numpy vs other: final loss"),
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
    assert bench.check_agreement(results) == []


def test_default_tolerance_is_below_a_tenth_of_a_percent(bench: ModuleType) -> None:
    assert bench.DEFAULT_RTOL < 1e-3
    assert bench.parse_args([]).rtol == bench.DEFAULT_RTOL


def test_check_compares_every_pair_not_only_numpy(bench: ModuleType) -> None:
    results = [_result(bench, "tapegrad", 1.0), _result(bench, "torch", 1.002)]
    problems = bench.check_agreement(results)
    assert problems == ["W1 tapegrad vs torch: final loss 1 != 1.002 (rel diff 2.00e-03 > 0.0001)"]
    results.insert(0, _result(bench, "numpy", 1.0))
    problems = bench.check_agreement(results)
    assert len(problems) == 2
    assert all(p.startswith(("W1 numpy vs torch:", "W1 tapegrad vs torch:")) for p in problems)


def test_max_pair_rel_reports_the_largest_pairwise_difference(bench: ModuleType) -> None:
    results = [_result(bench, n, v) for n, v in (("a", 1.0), ("b", 1.0005), ("c", 0.9995))]
    assert bench.max_pair_rel(results)["W1"] == pytest.approx(1e-3 / 1.0005)


def _available(bench: ModuleType) -> list[Any]:
    return [i for i in bench.IMPLS.values() if i.unavailable() is None]


def test_all_present_implementations_agree_closely(bench: ModuleType) -> None:
    results, problems = bench.run_check(_tiny(bench), _available(bench))
    assert problems == []
    spread = bench.max_pair_rel(results)
    assert all(v < 1e-5 for v in spread.values()), spread


def _tanh_backward_off(factor: float) -> Any:
    return lambda self, xp, g, out: (g * (1 - out * out) * factor,)


def _tanh_backward_dropping_a_factor(self: Any, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
    return (g * (1 - out),)


@pytest.mark.parametrize(
    "broken", [_tanh_backward_off(1.005), _tanh_backward_dropping_a_factor], ids=["off", "drop"]
)
@pytest.mark.parametrize("name", ["tapegrad-nn", "tapegrad-raw", "tapegrad-compiled"])
def test_check_fails_on_a_broken_tanh_backward(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, broken: Any, name: str
) -> None:
    pointwise = importlib.import_module("tapegrad.ops.pointwise")
    impls = [bench.IMPLS["numpy"], _require(bench, name)]
    monkeypatch.setattr(pointwise.Tanh, "backward", broken)
    _, problems = bench.run_check([bench.WORKLOADS["W4"].tiny()], impls)
    assert problems and all(p.startswith(f"W4 numpy vs {name}: final loss") for p in problems)


def test_check_fails_on_a_broken_tapegrad_beside_torch_alone(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--impl tapegrad,torch`` with a broken Tanh backward used to print "correctness: ok"."""
    impls = [_require(bench, "tapegrad"), _require(bench, "torch")]
    pointwise = importlib.import_module("tapegrad.ops.pointwise")
    monkeypatch.setattr(pointwise.Tanh, "backward", _tanh_backward_off(1.005))
    _, problems = bench.run_check([bench.WORKLOADS["W4"].tiny()], impls)
    assert problems and all(p.startswith("W4 tapegrad vs torch: final loss") for p in problems)


def test_chain_micro_checks_an_exact_gradient(bench: ModuleType) -> None:
    overhead = importlib.import_module("bench_overhead")
    x, c, v, y, g = overhead._chain_inputs(50)
    assert not np.allclose(c, 1) and not np.allclose(g, v) and not np.allclose(y, x)
    tapegrad = importlib.import_module("tapegrad")
    fwd, bwd = overhead._chain_once(tapegrad, 50)
    assert fwd > 0 and bwd > 0


def test_chain_micro_checks_torch_too(bench: ModuleType) -> None:
    torch = pytest.importorskip("torch")
    importlib.import_module("bench_overhead")._chain_once(torch, 50)


@pytest.mark.parametrize(
    "broken",
    [
        lambda self, xp, g, a, b: (g, None),  # dropped factor
        lambda self, xp, g, a, b: (g * b * 1.001, None),  # off by 0.1%
    ],
    ids=["drop", "off"],
)
def test_chain_micro_rejects_a_broken_mul_backward(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, broken: Any
) -> None:
    overhead = importlib.import_module("bench_overhead")
    arithmetic = importlib.import_module("tapegrad.ops.arithmetic")
    monkeypatch.setattr(arithmetic.Mul, "backward", broken)
    with pytest.raises(RuntimeError, match="chain gradient is wrong"):
        overhead._chain_once(importlib.import_module("tapegrad"), 50)


def _timed(bench: ModuleType, impl: str, ms: float) -> Any:
    return bench.Result("W1", impl, 3, ms_per_epoch=ms)


def test_torch_ratio_is_like_for_like(bench: ModuleType) -> None:
    report = importlib.import_module("bench_report")
    names = ["numpy", "tapegrad", "tapegrad-nn", "tapegrad-raw", "tapegrad-compiled", "torch"]
    names += ["torch-raw", "torch-flat"]
    results = [_timed(bench, n, 10.0 * (i + 1)) for i, n in enumerate(names)]
    rows = {r["impl"]: r for r in report.add_ratios(results)}
    peers = {"tapegrad": "torch-flat", "tapegrad-nn": "torch", "tapegrad-raw": "torch-raw"}
    peers["tapegrad-compiled"] = "torch-raw"
    for impl, peer in peers.items():
        assert rows[impl]["torch_peer"] == peer
        assert rows[impl]["vs_torch"] == pytest.approx(
            rows[impl]["ms_per_epoch"] / rows[peer]["ms_per_epoch"]
        )
    without_flat = [r for r in results if r.impl != "torch-flat"]
    row = next(r for r in report.add_ratios(without_flat) if r["impl"] == "tapegrad")
    assert row["vs_torch"] is None and row["torch_peer"] is None
    table = report.render_table(report.add_ratios(results))
    assert "torch-flat" in table.splitlines()[3]


def test_command_line_check_mode() -> None:
    cmd = [sys.executable, str(SCRIPTS / "bench.py"), "--check", "--impl", "numpy,tapegrad-raw"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "correctness: ok (pairwise" in proc.stderr


def test_targets_follow_issue_22(bench: ModuleType) -> None:
    report = importlib.import_module("bench_report")
    results = [_timed(bench, n, ms) for n, ms in (("numpy", 1.0), ("tapegrad-compiled", 1.5))]
    results.append(_timed(bench, "tapegrad-raw", 1.5))
    lines = report.render_table(report.add_ratios(results)).splitlines()
    assert "<=1.00 MISS" in lines[3] and "<=2.00 ok" in lines[4]
    micro = [
        {"impl": "torch", "bench": "mul 2x2 requires_grad", "us_per_op": 2.0},
        {"impl": "tapegrad", "bench": "mul 2x2 requires_grad", "us_per_op": 1.7},
    ]
    assert "<=1.60 MISS" in report.render_micro(micro)
