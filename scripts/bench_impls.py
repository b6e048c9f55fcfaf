"""The implementations ``scripts/bench.py`` compares: hand-numpy, tapegrad and torch programs.

Each implementation turns a workload and its data into a ``Run``: a fresh model holding copies
of the initial weights, ready to train.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench_numpy import NumpyMLP
from bench_workloads import Data, Workload


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
    style: str  # "manual" | "cli" | "nn" | "raw" | "compiled" | "flat"

    def unavailable(self) -> str | None:
        """Why this implementation cannot run here, or None."""
        if self.framework == "numpy":
            return None
        try:
            fw = load_framework(self.framework, 1)
            if self.style in ("nn", "cli", "flat"):
                fw.nn.Linear, fw.nn.Sequential, fw.nn.ReLU, fw.nn.Tanh, fw.nn.MSELoss  # noqa: B018
            if self.style == "cli":
                importlib.import_module("tapegrad.train").fit  # noqa: B018
            if self.style == "compiled":
                fw.compile  # noqa: B018
            if self.style == "flat":
                fw._foreach_sub_  # noqa: B018
        except (ImportError, AttributeError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def prepare(self, w: Workload, data: Data, threads: int = 1) -> Run:
        """Copy the initial weights into a fresh model (untimed)."""
        if self.framework == "numpy":
            return _numpy_run(w, data)
        fw = load_framework(self.framework, threads)
        build = {
            "nn": _nn_run,
            "raw": _raw_run,
            "cli": _cli_run,
            "compiled": _compiled_run,
            "flat": _flat_run,
        }
        return build[self.style](fw, w, data)


IMPLS: dict[str, Impl] = {
    i.name: i
    for i in (
        Impl("numpy", "numpy", "manual"),
        Impl("tapegrad", "tapegrad", "cli"),
        Impl("tapegrad-nn", "tapegrad", "nn"),
        Impl("tapegrad-raw", "tapegrad", "raw"),
        Impl("tapegrad-compiled", "tapegrad", "compiled"),
        Impl("torch", "torch", "nn"),
        Impl("torch-raw", "torch", "raw"),
        Impl("torch-flat", "torch", "flat"),
    )
}


QUICK_IMPLS = tuple(IMPLS)  # every peer, so each "x torch" ratio is like for like

# The torch program written the same way as each tapegrad one: the "x torch" column's peer.
TORCH_PEERS = {
    "tapegrad": "torch-flat",  # nn model, one flat gradient buffer, update in a few calls
    "tapegrad-nn": "torch",  # nn model, the bench's per-parameter loop
    "tapegrad-raw": "torch-raw",  # raw tensors, the blog's per-parameter loop
    "tapegrad-compiled": "torch-raw",  # the same raw source, its step under tapegrad.compile
}


def load_framework(name: str, threads: int) -> Any:
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
    compiled: bool = False,
) -> Run:
    """The blog's training loop, shared by every framework program; with ``compiled`` its
    step (forward, loss, backward, update, zeroing) runs under ``tapegrad.compile``."""
    seen: set[str] = set()

    def step() -> Any:
        loss = loss_fn(forward())
        loss.backward()
        with fw.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
        return loss

    def step_and_zero() -> Any:
        loss = step()
        zero_grad()
        return loss

    run_step = fw.compile(step_and_zero) if compiled else None

    def train(epochs: int) -> tuple[float, float]:
        first = float("nan")
        for epoch in range(epochs):
            if run_step is not None:
                loss = run_step()
            else:
                loss = step()
                if epoch == epochs - 1:  # read before zeroing (torch may drop zeroed grads)
                    seen.update(_dtype_name(p.grad) for p in params)
                zero_grad()
            if epoch == 0:
                first = loss.item()
        seen.add(_dtype_name(loss))
        if run_step is not None:  # the compiled step zeroes its gradients in place
            seen.update(_dtype_name(p.grad) for p in params)
        return first, loss.item()

    return Run(train, lambda: seen | {_dtype_name(p) for p in params})


def _compiled_run(fw: Any, w: Workload, data: Data) -> Run:
    """The blog's raw program with its step under ``tapegrad.compile``."""
    return _raw_run(fw, w, data, compiled=True)


def _raw_run(fw: Any, w: Workload, data: Data, compiled: bool = False) -> Run:
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

    loss_fn = _loss_fn(fw, w, nn=False, y=y)
    return _loop(fw, forward, loss_fn, params, zero_grad, w.lr, compiled)


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


def _flat_run(fw: Any, w: Workload, data: Data) -> Run:
    """The nn model with ``tapegrad train``'s update: every ``.grad`` a view of one flat
    buffer, so scaling, subtracting and zeroing take a few calls (``tapegrad._flat``'s way)."""
    x, y = fw.from_numpy(data.x), fw.from_numpy(data.y)
    model = _nn_model(fw, w, data)
    params = list(model.parameters())
    flat = fw.zeros(sum(p.numel() for p in params))
    scaled = fw.empty_like(flat)
    deltas, start = [], 0
    for p in params:
        p.grad = flat[start : start + p.numel()].view_as(p)
        deltas.append(scaled[start : start + p.numel()].view_as(p))
        start += p.numel()
    loss_fn = _loss_fn(fw, w, nn=True, y=y)
    seen: set[str] = set()

    def train(epochs: int) -> tuple[float, float]:
        first = float("nan")
        for epoch in range(epochs):
            loss = loss_fn(model(x))
            loss.backward()
            if epoch == epochs - 1:
                seen.update([_dtype_name(loss), *(_dtype_name(p.grad) for p in params)])
            with fw.no_grad():
                fw.mul(flat, w.lr, out=scaled)
                fw._foreach_sub_(params, deltas)
                flat.zero_()
            if epoch == 0:
                first = loss.item()
        return first, loss.item()

    return Run(train, lambda: seen | {_dtype_name(p) for p in params})
