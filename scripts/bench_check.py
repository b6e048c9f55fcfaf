"""Correctness for ``scripts/bench.py``: every implementation's losses must match every other's.

Each pair of implementations present in a run (hand-numpy, the tapegrad programs, the torch
programs) must reach the same first-epoch and final losses to ``rtol``, so a wrong engine fails
the run whichever others it runs beside (torch alone included), with a message naming the pair.
The default tolerance (``DEFAULT_RTOL``) is below a 0.1% loss error and well above the float32
accumulation differences measured between correct implementations (see ``max_pair_rel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from bench_impls import Impl
from bench_timing import Result, time_workload
from bench_workloads import Workload

# Measured (one BLAS thread, all eight programs): correct implementations agree to <= 1e-7
# relative at full size (W1 200 epochs 9.7e-8, W2 50 epochs 6.3e-8, W3 10 epochs 8.0e-8, W4 100
# epochs 7.5e-8) and <= 2.3e-7 at the --check sizes; 1e-4 leaves a margin of about 400x for other
# BLAS libraries and thread counts and is ten times below a 0.1% (1e-3) loss error.
DEFAULT_RTOL = 1e-4


def check_agreement(results: Sequence[Result], rtol: float = DEFAULT_RTOL) -> list[str]:
    """Each implementation must be sound (finite, float32, repeatable) and every pair must
    agree on the first-epoch and final losses of each workload.

    Returns a list of problems; empty means all agree.
    """
    problems: list[str] = []
    for key, group in _by_workload(results).items():
        sound = []
        for res in group:
            own = _check_one(key, res, rtol)
            problems += own
            if res.error is None and _finite(res):
                sound.append(res)
        problems += _check_pairs(key, sound, rtol)
    return problems


def max_pair_rel(results: Sequence[Result]) -> dict[str, float]:
    """Per workload, the largest relative loss difference between any two implementations."""
    out = {}
    for key, group in _by_workload(results).items():
        sound = [r for r in group if r.error is None and _finite(r)]
        diffs = [
            _rel(getattr(a, f), getattr(b, f))
            for a, b in combinations(sound, 2)
            for f in ("first_loss", "final_loss")
        ]
        out[key] = max(diffs, default=0.0)
    return out


def _by_workload(results: Sequence[Result]) -> dict[str, list[Result]]:
    groups: dict[str, list[Result]] = {}
    for res in results:
        groups.setdefault(res.workload, []).append(res)
    return groups


def _finite(res: Result) -> bool:
    values = [res.first_loss, res.final_loss, *res.losses]
    return all(v is not None and np.isfinite(v) for v in values)


def _check_one(key: str, res: Result, rtol: float) -> list[str]:
    label = f"{key} {res.impl}"
    if res.error is not None:
        return [f"{label}: failed: {res.error}"]
    problems = []
    if any(d != "float32" for d in res.dtypes):
        problems.append(f"{label}: non-float32 loss/grad/parameter dtypes {res.dtypes}")
    if not _finite(res):
        values = [res.first_loss, res.final_loss, *res.losses]
        return [*problems, f"{label}: non-finite loss {values}"]
    if len(set(res.losses)) > 1 and _rel(max(res.losses), min(res.losses)) > rtol:
        problems.append(f"{label}: final loss varies across repetitions {res.losses}")
    return problems


def _check_pairs(key: str, group: Sequence[Result], rtol: float) -> list[str]:
    problems = []
    for a, b in combinations(group, 2):
        for what, got, want in (
            ("first-epoch", a.first_loss, b.first_loss),
            ("final", a.final_loss, b.final_loss),
        ):
            if _rel(got, want) > rtol:
                problems.append(
                    f"{key} {a.impl} vs {b.impl}: {what} loss {got:.7g} != {want:.7g} "
                    f"(rel diff {_rel(got, want):.2e} > {rtol:g})"
                )
    return problems


def _rel(a: float | None, b: float | None) -> float:
    assert a is not None and b is not None
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def run_check(
    workloads: Sequence[Workload], impls: Sequence[Impl], rtol: float = DEFAULT_RTOL
) -> tuple[list[Result], list[str]]:
    """Train every implementation once (no timing claims) and compare losses pairwise."""
    results = [r for w in workloads for r in time_workload(w, impls, w.epochs, 1, 1, False)]
    return results, check_agreement(results, rtol)
