"""Benchmark: a small CNN training step in tapegrad vs PyTorch eager (issue 19's conv workload).

Batch 32 of 3x32x32 float32 images -> conv(16, 3x3, padding 1) -> ReLU -> max_pool 2 ->
conv(32, 3x3) -> ReLU -> flatten -> linear(10), cross-entropy, forward + backward + SGD step.

- Time: steps are interleaved (one tapegrad step, one torch step, ...) after a warm-up, so
  both see the same machine load; the median seconds per step is reported.
- Memory: each framework runs in a fresh process; the peak RSS the training loop adds over
  what the process held before it (VmHWM after resetting it through /proc/self/clear_refs).
- One BLAS/OpenMP thread (``--threads``): the script re-executes itself with the thread
  variables set before numpy loads, and calls ``torch.set_num_threads``.

Usage: ``python scripts/bench_conv.py [--steps 50] [--threads 1] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MARKER = "TAPEGRAD_BENCH_CONV_THREADS"
BATCH, LR = 32, 0.01


def _ensure_threads(threads: int) -> None:
    """Re-execute with the thread variables set, before any BLAS initialises threads."""
    if os.environ.get(MARKER) == str(threads):
        return
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS}, **{MARKER: str(threads)})
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def _data(seed: int = 0) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    return x, y


def _layers(ns: Any) -> tuple[list[Any], Any]:
    """The conv part (a list of modules) and the final linear layer, in ``ns`` (torch or
    tapegrad), created from the seeded generator."""
    nn = ns.nn
    conv = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3)]
    return [*conv, nn.ReLU()], nn.Linear(32 * 14 * 14, 10)


def make_step(name: str, threads: int) -> Any:
    """A function running one training step of ``name`` (tapegrad or torch); returns loss."""
    x_np, y_np = _data()
    if name == "torch":
        import torch as ns

        ns.set_num_threads(threads)
        x, y = ns.from_numpy(x_np), ns.from_numpy(y_np)
    else:
        import tapegrad as ns

        x, y = ns.tensor(x_np), ns.tensor(y_np)
    ns.manual_seed(0)
    layers, head = _layers(ns)
    params = [p for m in (*layers, head) for p in m.parameters()]
    opt = ns.optim.SGD(params, lr=LR)

    def step() -> float:
        opt.zero_grad()
        h = x
        for m in layers:
            h = m(h)
        loss = ns.nn.functional.cross_entropy(head(h.flatten(1)), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def time_steps(steps: int, threads: int) -> dict[str, Any]:
    """Median seconds per step of each framework, steps interleaved."""
    fns = {name: make_step(name, threads) for name in ("tapegrad", "torch")}
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    losses: dict[str, float] = {}
    for _ in range(steps):
        for name, fn in fns.items():
            gc.collect()
            start = time.perf_counter()
            losses[name] = fn()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "ms_per_step": {k: 1e3 * v for k, v in med.items()},
        "ratio": med["tapegrad"] / med["torch"],
        "last_loss": losses,
    }


def _vm_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_worker(name: str, steps: int, threads: int) -> dict[str, float]:
    """In a fresh process: the peak RSS (MB) the training loop adds."""
    step = make_step(name, threads)
    gc.collect()
    before = _vm_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(steps):
        step()
    return {"added_mb": (_vm_kb("VmHWM") - before) / 1024}


def measure_memory(name: str, steps: int, threads: int) -> float:
    """``memory_worker`` in a subprocess."""
    cmd = [sys.executable, __file__, "--_memory", name, "--steps", str(steps)]
    cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ)
    return json.loads(out.stdout.strip().splitlines()[-1])["added_mb"]


def main() -> None:
    """Parse arguments, run the timing and the memory measurements, print the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--_memory", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    _ensure_threads(args.threads)
    if args._memory:
        print(json.dumps(memory_worker(args._memory, args.steps, args.threads)))
        return
    report = time_steps(args.steps, args.threads)
    mem = {name: measure_memory(name, 10, args.threads) for name in ("tapegrad", "torch")}
    report["peak_added_mb"] = mem
    report["memory_ratio"] = mem["tapegrad"] / max(mem["torch"], 1e-9)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    ms = report["ms_per_step"]
    print(f"conv workload, batch {BATCH}, {args.threads} thread(s), median of {args.steps} steps")
    print(
        f"  tapegrad {ms['tapegrad']:8.2f} ms/step   torch {ms['torch']:8.2f} ms/step   "
        f"ratio {report['ratio']:.2f}x (target <= 2x)"
    )
    print(
        f"  tapegrad {mem['tapegrad']:8.1f} MB peak    torch {mem['torch']:8.1f} MB peak    "
        f"ratio {report['memory_ratio']:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
