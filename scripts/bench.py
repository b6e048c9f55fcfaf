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
- ``torch``, ``torch-raw``: the nn and raw programs on PyTorch (skipped when not importable).

The bench's loop is the blog's: forward, loss, ``loss.backward()``, ``with no_grad():
p.sub_(lr * p.grad)``, then zero the gradients (``model.zero_grad()`` for the nn programs,
``p.grad.zero_()`` for the raw ones). The same source code drives tapegrad and torch (they
share the API), so both do exactly the same work. ``--quick`` runs numpy, tapegrad,
tapegrad-raw and torch unless ``--impl`` says otherwise.

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
  hand-numpy and to PyTorch (the nn program for ``tapegrad``, the raw one for
  ``tapegrad-raw``) measured in the same run.
- Memory: each (workload, implementation) runs in its own process; the peak RSS high-water
  mark is reset (``/proc/self/clear_refs``) once data and model are built, and "added MB" is
  the peak RSS during training minus RSS before the loop (MB = 2**20 bytes).
- Correctness: the first-epoch and final losses of every implementation must agree with
  hand-numpy to ``--rtol`` (1e-3), and every loss and gradient must be float32; otherwise the
  script prints what disagreed and exits 1, so a fast wrong engine cannot pass.
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
import contextlib
import cProfile
import gc
import importlib
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from bench_numpy import NumpyMLP

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
SEED = 20200929  # the blog post's publication date
MB = 2**20
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
MARKER_VAR = "TAPEGRAD_BENCH_THREADS"
CHAIN_LENGTH = 10_000


# ============================================================================ workloads


@dataclass(frozen=True)
class Workload:
    """One training benchmark: data, model shape, loss, schedule and its target ratio."""

    key: str
    title: str
    n: int
    widths: tuple[int, ...]
    activation: str
    loss: str
    lr: float
    epochs: int
    quick_epochs: int
    reps: int
    quick_reps: int
    init: str  # "blog": randn W, b=0 | "torch": nn.Linear's U(-k, k) | "lecun": W4's, b=0
    data: str  # "blog" | "regression" | "classification"
    target: float  # tapegrad / numpy ms-per-epoch ratio to meet

    def tiny(self) -> Workload:
        """The same workload shrunk to test size (used by ``--check`` and the smoke test)."""
        n, widths = min(self.n, 16), tuple(min(w, 8) for w in self.widths)
        # A summed loss's gradient grows with n: scale lr back up so 3 epochs move the loss.
        lr = self.lr * self.n / n if self.loss == "sum" else self.lr
        return replace(self, n=n, widths=widths, lr=lr, epochs=3, quick_epochs=3)


def _deep_widths(depth: int, width: int) -> tuple[int, ...]:
    return (width,) * (depth + 1) + (1,)


_W = Workload
WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        _W("W1", "blog", n=100, widths=(3, 32, 1), activation="relu", loss="sum", lr=1e-4,
           epochs=200, quick_epochs=200, reps=9, quick_reps=5, init="blog", data="blog",
           target=2.0),
        _W("W2", "medium", n=10_000, widths=(64, 256, 1), activation="relu", loss="sum",
           lr=3e-6, epochs=50, quick_epochs=10, reps=5, quick_reps=3, init="torch",
           data="regression", target=1.10),
        _W("W3", "large", n=60_000, widths=(784, 512, 10), activation="relu", loss="mse",
           lr=0.1, epochs=10, quick_epochs=2, reps=3, quick_reps=1, init="torch",
           data="classification", target=1.10),
        _W("W4", "deep", n=64, widths=_deep_widths(50, 16), activation="tanh", loss="mse",
           lr=2e-3, epochs=100, quick_epochs=100, reps=7, quick_reps=3, init="lecun",
           data="regression", target=2.0),
    )
}  # fmt: skip


@dataclass
class Data:
    """Inputs, targets and initial parameters, all float32 numpy arrays."""

    x: np.ndarray
    y: np.ndarray
    weights: list[np.ndarray]  # (out, in), as nn.Linear
    biases: list[np.ndarray]  # (out,)


def make_data(w: Workload, seed: int = SEED) -> Data:
    """Deterministic data and initial weights for one workload."""
    rng = np.random.default_rng([seed, int(w.key[1:])])
    x, y = _make_xy(w, rng)
    weights, biases = _init_params(w, rng)
    return Data(x, y, weights, biases)


def _make_xy(w: Workload, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d_in, d_out = w.widths[0], w.widths[-1]
    if w.data == "blog":
        x = rng.standard_normal((w.n, d_in), dtype=np.float32)
        coef = np.array([0.2, -1.3, -0.5], dtype=np.float32)[:d_in]
        noise = rng.standard_normal((w.n, 1), dtype=np.float32)
        return x, (x[:, : coef.size] @ coef)[:, None] + noise
    if w.data == "classification":
        x = rng.random((w.n, d_in), dtype=np.float32)
        teacher = rng.standard_normal((d_in, d_out), dtype=np.float32)
        labels = np.argmax((x - np.float32(0.5)) @ teacher, axis=1)
        return x, np.eye(d_out, dtype=np.float32)[labels]
    x = rng.standard_normal((w.n, d_in), dtype=np.float32)
    teacher = rng.standard_normal((d_in, d_out), dtype=np.float32) / np.float32(np.sqrt(d_in))
    y = np.tanh(x @ teacher) + np.float32(0.1) * rng.standard_normal((w.n, d_out), np.float32)
    return x, y


def _init_params(w: Workload, rng: np.random.Generator) -> tuple[list[np.ndarray], ...]:
    weights, biases = [], []
    for d_in, d_out in zip(w.widths[:-1], w.widths[1:]):
        if w.init == "blog":
            weights.append(rng.standard_normal((d_in, d_out), np.float32).T.copy())
            biases.append(np.zeros(d_out, np.float32))
        elif w.init == "lecun":
            # NOTE: W4 uses unit-variance weights and zero biases so signal and gradient reach
            # all 50 layers (the loss check sees every layer) while training stays far from
            # the chaotic regime where float32 rounding differences between BLAS libraries
            # would grow (lr 5e-3 already diverges between numpy and torch; we use 2e-3).
            k = np.float32(np.sqrt(3.0 / d_in))
            weights.append(rng.uniform(-k, k, (d_out, d_in)).astype(np.float32))
            biases.append(np.zeros(d_out, np.float32))
        else:
            k = np.float32(1.0 / np.sqrt(d_in))
            weights.append(rng.uniform(-k, k, (d_out, d_in)).astype(np.float32))
            biases.append(rng.uniform(-k, k, d_out).astype(np.float32))
    return weights, biases


# ============================================================================ implementations


@dataclass
class Run:
    """A model ready to train: ``train(epochs)`` returns (first loss, final loss)."""

    train: Callable[[int], tuple[float, float]]
    dtypes: Callable[[], set[str]]


@dataclass(frozen=True)
class Impl:
    """An implementation of the benchmark programs."""

    name: str
    framework: str  # "numpy" | "tapegrad" | "torch"
    style: str  # "manual" | "cli" | "nn" | "raw"

    def unavailable(self) -> str | None:
        """Why this implementation cannot run here, or None."""
        if self.framework == "numpy":
            return None
        try:
            fw = _framework(self.framework, 1)
            if self.style in ("nn", "cli"):
                fw.nn.Linear, fw.nn.Sequential, fw.nn.ReLU, fw.nn.Tanh, fw.nn.MSELoss  # noqa: B018
            if self.style == "cli":
                importlib.import_module("tapegrad.train").fit  # noqa: B018
        except (ImportError, AttributeError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def prepare(self, w: Workload, data: Data, threads: int = 1) -> Run:
        """Copy the initial weights into a fresh model (untimed)."""
        if self.framework == "numpy":
            return _numpy_run(w, data)
        fw = _framework(self.framework, threads)
        build = {"nn": _nn_run, "raw": _raw_run, "cli": _cli_run}[self.style]
        return build(fw, w, data)


IMPLS: dict[str, Impl] = {
    i.name: i
    for i in (
        Impl("numpy", "numpy", "manual"),
        Impl("tapegrad", "tapegrad", "cli"),
        Impl("tapegrad-nn", "tapegrad", "nn"),
        Impl("tapegrad-raw", "tapegrad", "raw"),
        Impl("torch", "torch", "nn"),
        Impl("torch-raw", "torch", "raw"),
    )
}


QUICK_IMPLS = ("numpy", "tapegrad", "tapegrad-raw", "torch")


def _framework(name: str, threads: int) -> Any:
    """Import tapegrad or torch (lazily: their import time is not part of any loop)."""
    module = importlib.import_module(name)
    if name == "torch":
        importlib.import_module("torch.nn")
        module.set_num_threads(threads)
    else:
        with contextlib.suppress(ImportError):
            importlib.import_module("tapegrad.nn")
    return module


def _numpy_run(w: Workload, data: Data) -> Run:
    model = NumpyMLP.from_arrays(data.weights, data.biases, w.activation, w.loss)
    return Run(lambda epochs: model.train(data.x, data.y, w.lr, epochs), model.dtypes)


def _dtype_name(t: Any) -> str:
    return str(t.dtype).rsplit(".", 1)[-1]


def _loop(
    fw: Any,
    forward: Callable[[], Any],
    loss_fn: Callable[[Any], Any],
    params: Sequence[Any],
    zero_grad: Callable[[], None],
    lr: float,
) -> Run:
    """The blog's training loop, shared by every framework program."""
    seen: set[str] = set()

    def train(epochs: int) -> tuple[float, float]:
        first = float("nan")
        for epoch in range(epochs):
            loss = loss_fn(forward())
            loss.backward()
            with fw.no_grad():
                for p in params:
                    p.sub_(lr * p.grad)
            if epoch == epochs - 1:
                seen.update([_dtype_name(loss), *(_dtype_name(p.grad) for p in params)])
            zero_grad()
            if epoch == 0:
                first = loss.item()
        return first, loss.item()

    return Run(train, lambda: seen | {_dtype_name(p) for p in params})


def _raw_run(fw: Any, w: Workload, data: Data) -> Run:
    """The blog's program on raw tensors: weights (in, out), biases (1, out)."""
    x, y = fw.from_numpy(data.x), fw.from_numpy(data.y)
    params = []
    for weight, bias in zip(data.weights, data.biases):
        params.append(fw.from_numpy(weight.T.copy()).requires_grad_())  # always a copy
        params.append(fw.from_numpy(bias.reshape(1, -1).copy()).requires_grad_())
    pairs = list(zip(params[::2], params[1::2]))
    last = len(pairs) - 1
    relu = w.activation == "relu"

    def forward() -> Any:
        h = x
        for i, (weight, bias) in enumerate(pairs):
            h = h.mm(weight).add(bias)
            if i < last:
                h = h.clamp(min=0) if relu else h.tanh()
        return h

    def zero_grad() -> None:
        for p in params:
            p.grad.zero_()

    return _loop(fw, forward, _loss_fn(fw, w, nn=False, y=y), params, zero_grad, w.lr)


def _nn_model(fw: Any, w: Workload, data: Data) -> Any:
    """Sequential(Linear, ReLU/Tanh, ..., Linear) holding copies of the initial weights."""
    layers: list[Any] = []
    for weight, bias in zip(data.weights, data.biases):
        linear = fw.nn.Linear(weight.shape[1], weight.shape[0])
        with fw.no_grad():
            linear.weight.copy_(fw.from_numpy(weight))
            linear.bias.copy_(fw.from_numpy(bias))
        layers += [linear, fw.nn.ReLU() if w.activation == "relu" else fw.nn.Tanh()]
    return fw.nn.Sequential(*layers[:-1])


def _nn_run(fw: Any, w: Workload, data: Data) -> Run:
    """The same program through ``nn``, with the loop above (same code for torch)."""
    x, y = fw.from_numpy(data.x), fw.from_numpy(data.y)
    model = _nn_model(fw, w, data)
    params = list(model.parameters())
    return _loop(fw, lambda: model(x), _loss_fn(fw, w, nn=True, y=y), params, model.zero_grad, w.lr)


def _cli_run(fw: Any, w: Workload, data: Data) -> Run:
    """``tapegrad.nn`` trained by ``tapegrad.train.fit``: the loop ``tapegrad train`` runs."""
    train_mod = importlib.import_module("tapegrad.train")
    dataset = importlib.import_module("tapegrad.train.data").Dataset(data.x, data.y)
    model = _nn_model(fw, w, data)
    loss = "sse" if w.loss == "sum" else "mse"

    def train(epochs: int) -> tuple[float, float]:
        values = {"train.epochs": epochs, "train.lr": w.lr, "train.loss": loss}
        config = train_mod.load_config(None, values=values)
        result = train_mod.fit(model, dataset, config, lambda event: None)
        if result.status != "ok":
            raise RuntimeError(f"tapegrad.train.fit: {result.status}: {result.message}")
        return result.losses[0], result.losses[-1]

    return Run(train, lambda: {_dtype_name(p) for p in model.parameters()})


def _loss_fn(fw: Any, w: Workload, nn: bool, y: Any) -> Callable[[Any], Any]:
    if w.loss == "sum":
        return lambda out: (out - y).pow(2).sum()
    if nn:
        mse = fw.nn.MSELoss()
        return lambda out: mse(out, y)
    return lambda out: (out - y).pow(2).mean()


# ============================================================================ timing


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


# ============================================================================ correctness


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


# ============================================================================ memory


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


# ============================================================================ micro-benchmarks


def _micro_mul(fw_name: str, requires_grad: bool, number: int, repeat: int) -> float:
    """Median microseconds for ``a * b`` on 2x2 float32 operands."""
    base = np.arange(1, 5, dtype=np.float32).reshape(2, 2)
    if fw_name == "numpy":
        a, b = base.copy(), base.copy()
    else:
        fw = _framework(fw_name, 1)
        a = fw.from_numpy(base.copy()).requires_grad_(requires_grad)
        b = fw.from_numpy(base.copy()).requires_grad_(requires_grad)
    times = timeit.repeat("a * b", globals={"a": a, "b": b}, number=number, repeat=repeat)
    return 1e6 * statistics.median(times) / number


def _chain_once(fw: Any, length: int) -> tuple[float, float]:
    """Seconds to build a ``length``-op chain and to run backward through it."""
    x = fw.from_numpy(np.ones((2, 2), np.float32)).requires_grad_()
    c = fw.from_numpy(np.ones((2, 2), np.float32))
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = y * c
    loss = y.sum()
    mid = time.perf_counter()
    loss.backward()
    end = time.perf_counter()
    if float(x.grad.sum()) != 4.0:
        raise RuntimeError(f"chain gradient is wrong: {x.grad}")
    return mid - start, end - mid


def _micro_chain(fw_name: str, repeat: int) -> tuple[float, float]:
    """Median us per op: (forward, forward + backward) over a 10,000-op chain."""
    fw = _framework(fw_name, 1)
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


# ============================================================================ start-up


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


# ============================================================================ profile


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


# ============================================================================ report


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _torch_peer(impl: str, present: set[str]) -> str | None:
    peer = "torch-raw" if impl.endswith("-raw") else "torch"
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


# ============================================================================ main


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
    p.add_argument("--rtol", type=float, default=1e-3, help="loss agreement tolerance")
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
              "startup": startup, "problems": problems}  # fmt: skip
    _print_report(report, args)
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
    log("correctness: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


def _print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
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


def _print_profiles(args: argparse.Namespace, impls: Sequence[Impl]) -> None:
    for w in args.workload_list:
        for impl in impls:
            if impl.framework == "tapegrad":
                print(profile_impl(w, impl, _epochs_reps(w, args)[0], args.threads))


if __name__ == "__main__":
    sys.exit(main())
