"""Memory for ``scripts/bench.py``: peak RSS added by training, one fresh process per run."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_impls import Impl
from bench_workloads import Workload, make_data

# The entry point: it re-executes itself (threads) and runs as the memory worker.
SCRIPT = Path(__file__).resolve().with_name("bench.py")
MB = 2**20


def _vm_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_worker(w: Workload, impl: Impl, epochs: int, threads: int) -> dict[str, Any]:
    """In a fresh process: RSS before the loop and the peak RSS the loop reaches."""
    data = make_data(w)
    run = impl.prepare(w, data, threads)
    gc.collect()
    before = _vm_kb("VmRSS")
    if not _reset_peak_rss():
        raise RuntimeError("cannot reset the RSS high-water mark (/proc/self/clear_refs)")
    first, final = run.train(epochs)
    peak = _vm_kb("VmHWM")
    return {
        "rss_before_mb": before * 1024 / MB,
        "added_mb": (peak - before) * 1024 / MB,
        "first_loss": first,
        "final_loss": final,
    }


def measure_memory(w: Workload, impl: Impl, epochs: int, threads: int) -> dict[str, Any]:
    """Run ``memory_worker`` in a subprocess and parse its JSON line."""
    cmd = [sys.executable, str(SCRIPT), "--_memory-worker", f"{w.key}:{impl.name}:{epochs}"]
    cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit " + str(proc.returncode)])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])
