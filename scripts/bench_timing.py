"""Timing for ``scripts/bench.py``: a warm-up, then interleaved repetitions of each program."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bench_impls import Impl
from bench_workloads import Data, Workload, make_data


@dataclass
class Result:
    """One (workload, implementation) measurement."""

    workload: str
    impl: str
    epochs: int
    ms_per_epoch: float | None = None
    samples_ms: list[float] = field(default_factory=list)
    first_loss: float | None = None
    final_loss: float | None = None
    losses: list[float] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    added_mb: float | None = None
    rss_before_mb: float | None = None
    error: str | None = None


def _timed_run(
    impl: Impl, w: Workload, data: Data, epochs: int, threads: int, collect: bool = True
) -> tuple[Any, ...]:
    run = impl.prepare(w, data, threads)
    if collect:
        gc.collect()
    start = time.perf_counter()
    first, final = run.train(epochs)
    elapsed = time.perf_counter() - start
    return elapsed, first, final, run.dtypes()


def time_workload(
    w: Workload,
    impls: Sequence[Impl],
    epochs: int,
    reps: int,
    threads: int,
    collect: bool = True,
) -> list[Result]:
    """Warm up, then interleave the implementations over ``reps`` repetitions.

    ``collect``: run the garbage collector before each timed run (off for the quick check).
    """
    data = make_data(w)
    results = {i.name: Result(w.key, i.name, epochs) for i in impls}
    _warm_up(w, impls, results, threads, collect)
    pristine = _arrays(data, copy=True)
    for rep in range(reps):
        order = list(impls[rep % len(impls) :]) + list(impls[: rep % len(impls)])
        for impl in order:
            res = results[impl.name]
            if res.error is None:
                out = _guarded(res, lambda i=impl: _timed_run(i, w, data, epochs, threads, collect))
                if out is not None:
                    _record(res, *out)
            if rep == 0 and _restore(data, pristine):
                res.error = "wrote into the shared data or initial weights"
    for res in results.values():
        if res.samples_ms:
            res.ms_per_epoch = statistics.median(res.samples_ms)
    return list(results.values())


def _warm_up(
    w: Workload, impls: Sequence[Impl], results: dict[str, Result], threads: int, collect: bool
) -> None:
    """One untimed epoch each (imports, first-call caches); big workloads warm up shrunk."""
    small = w if w.n * max(w.widths) <= 2**20 else w.tiny()
    data = make_data(small)
    for impl in impls:
        _guarded(results[impl.name], lambda i=impl: _timed_run(i, small, data, 1, threads, collect))


def _arrays(data: Data, copy: bool = False) -> list[np.ndarray]:
    arrays = [data.x, data.y, *data.weights, *data.biases]
    return [a.copy() for a in arrays] if copy else arrays


def _restore(data: Data, pristine: list[np.ndarray]) -> bool:
    """Put back any array an implementation wrote into; True if one had changed."""
    changed = False
    for current, original in zip(_arrays(data), pristine):
        if not np.array_equal(current, original):
            current[...] = original
            changed = True
    return changed


def _guarded(res: Result, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; on an exception record it on the result (the run goes on)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a failing engine is a finding, not a crash
        res.error = f"{type(exc).__name__}: {exc}"
        return None


def _record(res: Result, elapsed: float, first: float, final: float, dtypes: set[str]) -> None:
    res.samples_ms.append(1e3 * elapsed / res.epochs)
    res.first_loss, res.final_loss = first, final
    res.losses.append(final)
    res.dtypes = sorted(set(res.dtypes) | dtypes)
