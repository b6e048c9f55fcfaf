"""Overheads for ``scripts/bench.py``: per-op micro-benchmarks and fresh-process start-up times."""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Sequence
from typing import Any

import numpy as np
from bench_impls import load_framework

CHAIN_LENGTH = 10_000


def _micro_mul(fw_name: str, requires_grad: bool, number: int, repeat: int) -> float:
    """Median microseconds for ``a * b`` on 2x2 float32 operands."""
    base = np.arange(1, 5, dtype=np.float32).reshape(2, 2)
    if fw_name == "numpy":
        a, b = base.copy(), base.copy()
    else:
        fw = load_framework(fw_name, 1)
        a = fw.from_numpy(base.copy()).requires_grad_(requires_grad)
        b = fw.from_numpy(base.copy()).requires_grad_(requires_grad)
    times = timeit.repeat("a * b", globals={"a": a, "b": b}, number=number, repeat=repeat)
    return 1e6 * statistics.median(times) / number


def _chain_inputs(length: int) -> tuple[np.ndarray, ...]:
    """Non-trivial float32 inputs for the chain and the exact float32 expectations.

    ``x`` and the loss weights ``v`` are random, and ``c`` is random around 1 with
    ``c ** length`` in [1/e, e], so a backward rule that drops its factor (``g`` instead of
    ``g * c``), swaps it (``g * y``) or skips the weights changes the gradient by far more than
    rounding. The expectations repeat the engine's float32 multiplications in the same order,
    so a correct engine matches them to the last bit or two.
    """
    rng = np.random.default_rng(length)
    x = rng.uniform(0.5, 2.0, (2, 2)).astype(np.float32)
    c = np.exp(rng.uniform(-1.0, 1.0, (2, 2)) / length).astype(np.float32)
    v = rng.uniform(-2.0, 2.0, (2, 2)).astype(np.float32)
    y, g = x.copy(), v.copy()
    for _ in range(length):
        y = y * c
        g = g * c
    return x, c, v, y, g


def _chain_once(fw: Any, length: int) -> tuple[float, float]:
    """Seconds to build a ``length``-op chain and to run backward through it; raises if the
    output or the gradient differ from the exact expectation."""
    x_np, c_np, v_np, want_y, want_grad = _chain_inputs(length)
    x = fw.from_numpy(x_np.copy()).requires_grad_()
    c, v = fw.from_numpy(c_np.copy()), fw.from_numpy(v_np.copy())
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = y * c
    loss = (y * v).sum()
    mid = time.perf_counter()
    loss.backward()
    end = time.perf_counter()
    _expect("chain output", y.detach().numpy(), want_y)
    _expect("chain gradient", x.grad.numpy(), want_grad)
    return mid - start, end - mid


def _expect(what: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.dtype != np.float32 or not np.allclose(got, want, rtol=1e-6, atol=0):
        raise RuntimeError(f"{what} is wrong: got {got!r}, expected {want!r}")


def _micro_chain(fw_name: str, repeat: int) -> tuple[float, float]:
    """Median us per op: (forward, forward + backward) over a 10,000-op chain."""
    fw = load_framework(fw_name, 1)
    _chain_once(fw, 100)
    runs = []
    for _ in range(repeat):
        gc.collect()
        runs.append(_chain_once(fw, CHAIN_LENGTH))
    fwd = statistics.median(r[0] for r in runs)
    total = statistics.median(r[0] + r[1] for r in runs)
    return 1e6 * fwd / CHAIN_LENGTH, 1e6 * total / CHAIN_LENGTH


def run_micro(frameworks: Sequence[str], quick: bool) -> list[dict[str, Any]]:
    """Per-op overhead rows: framework, benchmark, microseconds per op."""
    number, repeat = (5_000, 5) if quick else (20_000, 7)
    rows = []
    for name in ("numpy", *frameworks):
        rows.append(_micro_row(name, "mul 2x2 (no grad)", _micro_mul(name, False, number, repeat)))
        if name == "numpy":
            continue
        rows.append(_micro_row(name, "mul 2x2 requires_grad", _micro_mul(name, True, number, 5)))
        fwd, total = _micro_chain(name, 3 if quick else 5)
        rows.append(_micro_row(name, "chain 10k: forward", fwd))
        rows.append(_micro_row(name, "chain 10k: fwd+backward", total))
    return rows


def _micro_row(impl: str, bench: str, us: float) -> dict[str, Any]:
    return {"impl": impl, "bench": bench, "us_per_op": us}


def _wall(cmd: Sequence[str], runs: int, env: dict[str, str]) -> tuple[float | None, str]:
    """Median wall seconds of a command after one warm-up run, and its last stdout line.

    (None, the error) if it fails.
    """
    times, last = [], ""
    for _ in range(runs + 1):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        times.append(time.perf_counter() - start)
        lines = (proc.stdout if proc.returncode == 0 else proc.stderr or proc.stdout).splitlines()
        last = lines[-1].strip() if lines else f"exit {proc.returncode}"
        if proc.returncode != 0:
            return None, last
    return statistics.median(times[1:]), last


def _cli() -> list[str]:
    exe = shutil.which("tapegrad")
    return [exe] if exe else [sys.executable, "-m", "tapegrad"]


_PROBE = (
    "import sys, tapegrad; "
    "print([m for m in ('click', 'rich', 'yaml', 'torch') if m in sys.modules])"
)


def run_startup(quick: bool) -> list[dict[str, Any]]:
    """Median wall time of fresh processes: interpreter, imports, the CLI, ``tapegrad train``.

    Byte-code caching is on (as for an installed package) with the cache in a temporary
    directory, so nothing is written into the repo; one row shows ``import tapegrad`` without
    it (``PYTHONDONTWRITEBYTECODE=1``: every module compiled at each start).
    """
    runs = 3 if quick else 7
    py = [sys.executable, "-c"]
    commands = {
        "python -c pass": [*py, "pass"],
        "import numpy": [*py, "import numpy"],
        "import tapegrad": [*py, "import tapegrad"],
        "import tapegrad (no .pyc cache)": [*py, "import tapegrad"],
        "tapegrad --help": [*_cli(), "--help"],
        "tapegrad train --json (blog config)": [*_cli(), "train", "--json"],
        "modules loaded by import tapegrad": [*py, _PROBE],
    }
    with tempfile.TemporaryDirectory(prefix="tapegrad-bench-pyc-") as cache:
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = cache
        uncached = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        return [
            _startup_row(label, cmd, runs, uncached if "no .pyc" in label else cached)
            for label, cmd in commands.items()
        ]


def _startup_row(label: str, cmd: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    seconds, last = _wall(cmd, runs, env)
    ms = None if seconds is None else 1e3 * seconds
    note = last if seconds is None else ""
    if label.startswith("modules"):
        ms, note = None, last
    elif seconds is not None and "train" in label:
        note = _loop_share(last, seconds)
    return {"what": label, "ms": ms, "note": note}


def _loop_share(summary_line: str, wall: float) -> str:
    """The training loop's share of ``tapegrad train``'s wall time (from its JSON summary)."""
    try:
        loop = float(json.loads(summary_line)["seconds"])
    except (ValueError, KeyError, TypeError):
        return f"(no loop time in: {summary_line[:80]})"
    return f"loop {1e3 * loop:.1f} ms = {loop / wall:.0%} of wall; the rest is start-up"
