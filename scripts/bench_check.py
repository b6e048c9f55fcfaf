"""Correctness for ``scripts/bench.py``: every implementation's losses must match hand-numpy's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bench_impls import Impl
from bench_timing import Result, time_workload
from bench_workloads import Workload


def check_agreement(results: Sequence[Result], rtol: float = 1e-3) -> list[str]:
    """Every implementation's losses must match hand-numpy's (and be finite, float32).

    Returns a list of problems; empty means all agree.
    """
    problems: list[str] = []
    by_workload: dict[str, list[Result]] = {}
    for res in results:
        by_workload.setdefault(res.workload, []).append(res)
    for key, group in by_workload.items():
        ref = next((r for r in group if r.impl == "numpy" and r.error is None), None)
        for res in group:
            problems += _check_one(key, res, ref, rtol)
    return problems


def _check_one(key: str, res: Result, ref: Result | None, rtol: float) -> list[str]:
    label = f"{key} {res.impl}"
    if res.error is not None:
        return [f"{label}: failed: {res.error}"]
    problems = []
    if any(d != "float32" for d in res.dtypes):
        problems.append(f"{label}: non-float32 loss/grad/parameter dtypes {res.dtypes}")
    values = [res.first_loss, res.final_loss, *res.losses]
    if not all(v is not None and np.isfinite(v) for v in values):
        return [*problems, f"{label}: non-finite loss {values}"]
    if len(set(res.losses)) > 1 and _rel(max(res.losses), min(res.losses)) > rtol:
        problems.append(f"{label}: final loss varies across repetitions {res.losses}")
    if ref is None or ref is res:
        return problems
    for what, got, want in (
        ("first-epoch", res.first_loss, ref.first_loss),
        ("final", res.final_loss, ref.final_loss),
    ):
        if _rel(got, want) > rtol:
            problems.append(
                f"{label}: {what} loss {got:.7g} != numpy {want:.7g} "
                f"(rel diff {_rel(got, want):.2e} > {rtol:g})"
            )
    return problems


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def run_check(
    workloads: Sequence[Workload], impls: Sequence[Impl], rtol: float = 1e-3
) -> tuple[list[Result], list[str]]:
    """Train every implementation once (no timing claims) and compare losses."""
    results = [r for w in workloads for r in time_workload(w, impls, w.epochs, 1, 1, False)]
    return results, check_agreement(results, rtol)
