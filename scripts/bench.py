#!/usr/bin/env python
"""Benchmark tapegrad against hand-written numpy (the floor) and PyTorch eager.

Run from the repo root::

    python scripts/bench.py                  # full run (several minutes: W3 dominates)
    python scripts/bench.py --quick          # about a minute
    python scripts/bench.py --workloads W1,W4 --impl tapegrad,numpy --profile
    python scripts/bench.py --check          # correctness only, tiny sizes, a few seconds

Workloads (same data and initial weights for every implementation, fixed seed):

- W1 blog: n=100, 3->32->1, ReLU, sum loss, lr 1e-4, 200 epochs; the blog's data and its
  ``randn`` weights with zero biases.
- W2 medium: n=10,000, 64->256->1, ReLU, sum loss, lr 3e-6, 50 epochs; nn.Linear's init.
- W3 large: n=60,000, 784->512->10, ReLU, mean squared error, lr 0.1, 10 epochs, full batch;
  inputs in [0, 1) and one-hot targets of a random linear teacher; nn.Linear's init.
- W4 deep/narrow: n=64, 16-wide input, 50 x (Linear(16, 16) + tanh), then Linear(16, 1); MSE;
  lr 2e-3, 100 epochs; unit-variance weights and zero biases (see ``_init_params``).
- Learning rates are chosen well inside the stable region so float32 rounding differences
  between BLAS libraries stay far below the loss tolerance.
- Micro: ``a * b`` on 2x2 tensors with requires_grad (and without), and a 10,000-op chain
  ``y = y * c`` forward + backward (us per op).

Implementations:

- ``numpy``: ``scripts/bench_numpy.py``, manual backprop, no graph (the floor).
- ``tapegrad``: a ``tapegrad.nn`` model (Sequential of Linear and ReLU/Tanh) trained by
  ``tapegrad.train.fit``, the manual loop ``tapegrad train`` runs (loss ``sse`` or ``mse``).
- ``tapegrad-nn``: the same model with the bench's own loop, the code ``torch`` runs.
- ``tapegrad-raw``: raw tensors as in the blog (``x.mm(w1).add(b1).clamp(min=0)...``).
- ``tapegrad-compiled``: the ``tapegrad-raw`` program with its step (forward, loss, backward,
  update, zeroing) under ``tapegrad.compile``: recorded once, then replayed.
- ``torch``, ``torch-raw``: the nn and raw programs on PyTorch (skipped when not importable).
- ``torch-flat``: the nn program with ``tapegrad train``'s update written in torch: every
  ``.grad`` a view of one flat buffer, then one multiply, one ``_foreach_sub_``, one zeroing.

The bench's loop is the blog's: forward, loss, ``loss.backward()``, ``with no_grad():
p.sub_(lr * p.grad)``, then zero the gradients (``model.zero_grad()`` for the nn programs,
``p.grad.zero_()`` for the raw ones). The same source code drives tapegrad and torch (they
share the API), so both do exactly the same work. ``--quick`` runs every implementation
(each tapegrad row needs its torch peer) unless ``--impl`` says otherwise.

Method:

- Threads: OMP/OPENBLAS/MKL thread counts are set to ``--threads`` (default 1) for every
  implementation, and ``torch.set_num_threads`` likewise: the script re-executes itself with
  that environment before numpy loads. One thread is the default because the machine has two
  cores shared with other work, so one thread gives stable, comparable numbers; use
  ``--threads 2`` to see multi-threaded BLAS.
- Timing: for each workload, a warm-up epoch per implementation (on the shrunk workload for
  W2/W3), then repetitions in which the
  implementations run in rotated order (interleaved); each repetition trains from the same
  initial weights; the reported figure is the median ms/epoch over repetitions. Ratios are to
  hand-numpy and to the PyTorch program written the same way (column ``vs``), measured in the
  same run: ``tapegrad`` (flat-buffer update) against ``torch-flat``, ``tapegrad-nn`` against
  ``torch`` (nn, per-parameter loop), ``tapegrad-raw`` and ``tapegrad-compiled`` against
  ``torch-raw`` (the same raw source); no ratio when that peer did not run.
- Memory: each (workload, implementation) runs in its own process; the peak RSS high-water
  mark is reset (``/proc/self/clear_refs``) once data and model are built, and "added MB" is
  the peak RSS during training minus RSS before the loop (MB = 2**20 bytes).
- Correctness: every pair of implementations in the run (numpy, tapegrad, torch alike) must
  agree on the first-epoch and final losses to ``--rtol`` (1e-4: correct implementations
  agree to about 1e-7, a 0.1% loss error is 1e-3), and every loss and gradient must be
  float32; otherwise the script prints each disagreeing pair and exits 1, so a fast wrong
  engine cannot pass beside any other. The micro-benchmark's chain checks its output and
  gradient against an exact float32 expectation on random inputs.
- ``--quick``: fewer repetitions and epochs (W3 keeps its full shapes, 2 epochs instead of 10,
  one repetition), fewer start-up runs.
- Start-up: median wall time of fresh processes: ``python -c pass``, ``import numpy``,
  ``import tapegrad`` (with a byte-code cache, kept in a temporary directory so nothing is
  written into the repo, and without one), ``tapegrad --help`` and ``tapegrad train --json``,
  whose summary gives the loop's own time and so the share of the wall time that is start-up.
- ``--profile``: cProfile of each selected tapegrad implementation on each selected workload,
  top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_check import DEFAULT_RTOL, check_agreement, max_pair_rel, run_check
from bench_impls import IMPLS, QUICK_IMPLS, Impl
from bench_impls import _numpy_run as _numpy_run  # re-exported for tests/scripts/test_bench.py
from bench_memory import SCRIPT, measure_memory, memory_worker
from bench_overhead import run_micro, run_startup
from bench_report import add_ratios, environment, print_report
from bench_timing import Result, time_workload
from bench_timing import _arrays as _arrays  # re-exported for tests/scripts/test_bench.py
from bench_workloads import WORKLOADS, Workload, make_data

REPO_ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
MARKER_VAR = "TAPEGRAD_BENCH_THREADS"


def profile_impl(w: Workload, impl: Impl, epochs: int, threads: int, top: int = 25) -> str:
    """cProfile one training run; the top functions by own time."""
    data = make_data(w)
    impl.prepare(w, data, threads).train(2)
    run = impl.prepare(w, data, threads)
    profiler = cProfile.Profile()
    profiler.enable()
    run.train(epochs)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return f"--- profile: {w.key} {impl.name}, {epochs} epochs, by tottime\n{stream.getvalue()}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="about a minute: fewer reps/epochs")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="e.g. W1,W4")
    p.add_argument(
        "--impl",
        default=None,
        help=f"e.g. tapegrad,numpy,torch (default: all; with --quick: {','.join(QUICK_IMPLS)})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--no-memory", action="store_true", help="skip per-process RSS runs")
    p.add_argument("--no-micro", action="store_true", help="skip per-op micro-benchmarks")
    p.add_argument("--no-startup", action="store_true", help="skip start-up timings")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    p.add_argument("--reps", type=int, default=None, help="override repetitions per workload")
    p.add_argument("--epochs", type=int, default=None, help="override epochs per workload")
    p.add_argument(
        "--rtol", type=float, default=DEFAULT_RTOL, help="pairwise loss agreement tolerance"
    )
    p.add_argument("--check", action="store_true", help="correctness only, tiny sizes")
    p.add_argument("--profile", action="store_true", help="cProfile tapegrad on each workload")
    p.add_argument("--_memory-worker", dest="memory_worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.workload_list = _pick(args.workloads, WORKLOADS, p)
    default_impls = QUICK_IMPLS if args.quick else tuple(IMPLS)
    args.impl_list = _pick(args.impl or ",".join(default_impls), IMPLS, p)
    return args


def _pick(spec: str, table: dict[str, Any], parser: argparse.ArgumentParser) -> list[Any]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error(f"unknown {unknown}; choose from {', '.join(table)}")
    return [table[n] for n in names]


def _ensure_environment(threads: int) -> None:
    """Re-execute with the thread variables set, before any BLAS initialises threads."""
    if os.environ.get(MARKER_VAR) == str(threads):
        return
    env = dict(os.environ)
    env.update({var: str(threads) for var in THREAD_VARS})
    env[MARKER_VAR] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.execve(sys.executable, [sys.executable, str(SCRIPT), *sys.argv[1:]], env)


def _available(impls: Sequence[Impl], log: Callable[[str], None]) -> list[Impl]:
    keep = []
    for impl in impls:
        reason = impl.unavailable()
        if reason is None:
            keep.append(impl)
        else:
            log(f"skipping {impl.name}: {reason}")
    return keep


def _epochs_reps(w: Workload, args: argparse.Namespace) -> tuple[int, int]:
    epochs = args.epochs or (w.quick_epochs if args.quick else w.epochs)
    reps = args.reps or (w.quick_reps if args.quick else w.reps)
    return epochs, reps


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if implementations disagree."""
    args = parse_args(argv)
    _ensure_environment(args.threads)
    if args.memory_worker:
        key, name, epochs = args.memory_worker.split(":")
        out = memory_worker(WORKLOADS[key], IMPLS[name], int(epochs), args.threads)
        print(json.dumps(out))
        return 0

    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    impls = _available(args.impl_list, log)
    if args.check:
        return _main_check(args, impls, log)
    results = []
    for w in args.workload_list:
        epochs, reps = _epochs_reps(w, args)
        log(f"timing {w.key}: {epochs} epochs x {reps} reps, {[i.name for i in impls]}")
        results += time_workload(w, impls, epochs, reps, args.threads)
    if not args.no_memory:
        _attach_memory(results, args, log)
    rows = add_ratios(results)
    problems = check_agreement(results, args.rtol)
    frameworks = [f for f in ("tapegrad", "torch") if any(i.framework == f for i in impls)]
    micro = [] if args.no_micro else (log("micro-benchmarks") or run_micro(frameworks, args.quick))
    startup = [] if args.no_startup else (log("start-up timings") or run_startup(args.quick))
    report = {"env": environment(args.threads, args.quick), "results": rows, "micro": micro,
              "startup": startup, "problems": problems,
              "agreement": max_pair_rel(results)}  # fmt: skip
    print_report(report, args)
    if args.profile:
        _print_profiles(args, impls)
    return 1 if problems else 0


def _attach_memory(results: list[Result], args: argparse.Namespace, log: Callable) -> None:
    """Memory runs, one process each; as many at once as there are free cores."""
    todo = [r for r in results if r.error is None]
    workers = max(1, (os.cpu_count() or 1) // args.threads)
    log(f"memory: {len(todo)} runs, {workers} at a time")

    def measure(res: Result) -> dict[str, Any]:
        w = WORKLOADS[res.workload]
        return measure_memory(w, IMPLS[res.impl], _epochs_reps(w, args)[0], args.threads)

    with ThreadPoolExecutor(workers) as pool:
        for res, mem in zip(todo, pool.map(measure, todo)):
            if "error" in mem:
                res.error = f"memory run: {mem['error']}"
                continue
            res.added_mb, res.rss_before_mb = mem["added_mb"], mem["rss_before_mb"]
            res.losses.append(mem["final_loss"])


def _main_check(args: argparse.Namespace, impls: Sequence[Impl], log: Callable) -> int:
    results, problems = run_check([w.tiny() for w in args.workload_list], impls, args.rtol)
    for res in results:
        log(f"{res.workload} {res.impl:<13} first {res.first_loss} final {res.final_loss}")
    for problem in problems:
        log(f"DISAGREE {problem}")
    spread = ", ".join(f"{k} {v:.1e}" for k, v in max_pair_rel(results).items())
    status = "FAILED" if problems else "ok"
    log(f"correctness: {status} (pairwise, rtol {args.rtol:g}; largest rel diff: {spread})")
    return 1 if problems else 0


def _print_profiles(args: argparse.Namespace, impls: Sequence[Impl]) -> None:
    for w in args.workload_list:
        for impl in impls:
            if impl.framework == "tapegrad":
                print(profile_impl(w, impl, _epochs_reps(w, args)[0], args.threads))


if __name__ == "__main__":
    sys.exit(main())
