"""Reporting for ``scripts/bench.py``: ratios, text tables, the environment, the printed report."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from bench_timing import Result
from bench_workloads import WORKLOADS


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _torch_peer(impl: str, present: set[str]) -> str | None:
    peer = "torch-raw" if impl.endswith(("-raw", "-compiled")) else "torch"
    if peer in present:
        return peer
    return next((p for p in ("torch", "torch-raw") if p in present), None)


def add_ratios(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Rows with ratios to numpy and to the matching PyTorch program, same run."""
    rows = []
    for key in dict.fromkeys(r.workload for r in results):
        group = {r.impl: r for r in results if r.workload == key}
        present = {name for name, r in group.items() if r.ms_per_epoch is not None}
        numpy_ms = group["numpy"].ms_per_epoch if "numpy" in group else None
        for res in group.values():
            peer = _torch_peer(res.impl, present)
            row = asdict(res)
            row["vs_numpy"] = _ratio(res.ms_per_epoch, numpy_ms)
            row["vs_torch"] = _ratio(res.ms_per_epoch, group[peer].ms_per_epoch) if peer else None
            rows.append(row)
    return rows


def _fmt(value: float | None, spec: str, width: int) -> str:
    return f"{'-' if value is None else format(value, spec):>{width}}"


def render_table(rows: Sequence[dict[str, Any]]) -> str:
    """The main table: one line per (workload, implementation)."""
    head = (
        f"{'workload':<10} {'impl':<13} {'ms/epoch':>10} {'x numpy':>8} {'x torch':>8} "
        f"{'target':>11} {'added MB':>9} {'final loss':>13}"
    )
    lines = [head, "-" * len(head)]
    previous = None
    for row in rows:
        w = WORKLOADS[row["workload"]]
        name = f"{w.key} {w.title}" if row["workload"] != previous else ""
        previous = row["workload"]
        target = ""
        if row["impl"].startswith("tapegrad") and row["vs_numpy"] is not None:
            target = f"<={w.target:.2f} " + ("ok" if row["vs_numpy"] <= w.target else "MISS")
        lines.append(
            f"{name:<10} {row['impl']:<13} {_fmt(row['ms_per_epoch'], '.3f', 10)} "
            f"{_fmt(row['vs_numpy'], '.2f', 8)} {_fmt(row['vs_torch'], '.2f', 8)} {target:>11} "
            f"{_fmt(row['added_mb'], '.1f', 9)} {_fmt(row['final_loss'], '.6g', 13)}"
            + (f"  ERROR {row['error']}" if row["error"] else "")
        )
    return "\n".join(lines)


def render_micro(rows: Sequence[dict[str, Any]]) -> str:
    """Per-op overhead table, with the targets for tapegrad."""
    targets = {"mul 2x2 requires_grad": 1.5, "chain 10k: fwd+backward": 5.0}
    lines = [f"{'benchmark':<26} {'impl':<10} {'us/op':>9} {'target':>11}"]
    for row in rows:
        limit = targets.get(row["bench"]) if row["impl"] == "tapegrad" else None
        mark = f"<={limit} " + ("ok" if row["us_per_op"] <= limit else "MISS") if limit else ""
        lines.append(f"{row['bench']:<26} {row['impl']:<10} {row['us_per_op']:>9.3f} {mark:>11}")
    return "\n".join(lines)


def render_startup(rows: Sequence[dict[str, Any]]) -> str:
    """Start-up times (median wall ms of a fresh process)."""
    lines = [f"{'start-up (fresh process)':<36} {'ms':>9}"]
    for row in rows:
        value = _fmt(row["ms"], ".1f", 9) if row["ms"] is not None else ""
        extra = f"  {row['note']}" if row["note"] else ""
        lines.append(f"{row['what']:<36} {value:>9}{extra}")
    return "\n".join(lines)


def memory_summary(rows: Sequence[dict[str, Any]]) -> str | None:
    """W3: memory training adds, tapegrad vs 1.5x hand-numpy."""
    w3 = {r["impl"]: r for r in rows if r["workload"] == "W3"}
    base = w3.get("numpy", {}).get("added_mb")
    if not base:
        return None
    parts = []
    for name in ("tapegrad", "tapegrad-raw", "torch"):
        added = w3.get(name, {}).get("added_mb")
        if added is not None:
            ok = "ok" if added <= 1.5 * base else "MISS"
            parts.append(f"{name} {added:.0f} MB = {added / base:.2f}x ({ok})")
    return f"W3 added memory vs numpy {base:.0f} MB (target <= 1.5x): " + "; ".join(parts)


def environment(threads: int, quick: bool) -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "threads": threads,
        "quick": quick,
        "machine": platform.machine(),
    }
    with contextlib.suppress(ImportError):
        info["torch"] = importlib.import_module("torch").__version__
    with contextlib.suppress(ImportError):
        info["tapegrad"] = importlib.import_module("tapegrad").__version__
    return info


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    """The report as text tables, or as one JSON document with ``--json``."""
    if args.json:
        print(json.dumps(report, indent=2))
        return
    env = report["env"]
    print(f"tapegrad benchmark: {json.dumps(env)}")
    print(render_table(report["results"]))
    summary = memory_summary(report["results"])
    if summary:
        print(summary)
    if report["micro"]:
        print("\n" + render_micro(report["micro"]))
    if report["startup"]:
        print("\n" + render_startup(report["startup"]))
    status = "FAILED" if report["problems"] else f"ok (losses agree to rtol {args.rtol:g})"
    print(f"\ncorrectness: {status}")
    for problem in report["problems"]:
        print(f"  DISAGREE {problem}")
