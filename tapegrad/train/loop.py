"""The blog's training loop, made general: forward, loss, backward, update, zero the gradients.

Nothing here prints. ``run`` reports what happens as events (``RunStarted``, ``EpochEnded``)
to a callback; the command line renders them, a notebook can collect them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.nn import functional as F
from tapegrad.train.config import Config
from tapegrad.train.data import Dataset, make_dataset
from tapegrad.train.outputs import RunDirectory

OK, DIVERGED, INTERRUPTED = "ok", "diverged", "interrupted"

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def sse_loss(y_pred: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
    """The blog's loss: the sum of squared errors."""
    return ((y_pred - y) ** 2).sum()


LOSSES: dict[str, Callable[[tg.Tensor, tg.Tensor], tg.Tensor]] = {
    "sse": sse_loss,
    "mse": F.mse_loss,
    "cross_entropy": F.cross_entropy,
}

#: How a batch loss becomes the epoch loss: sse adds up, means are weighted by batch size.
SUMMED_LOSSES = {"sse"}


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class RunStarted:
    """Emitted once, before the first epoch."""

    config: Config
    samples: int
    layer_sizes: list[int]
    parameters: int
    classification: bool


@dataclass(frozen=True)
class EpochEnded:
    """Emitted after every epoch; ``log`` marks the ``train.log_every`` boundaries."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float | None
    seconds: float
    log: bool


Event = RunStarted | EpochEnded
Callback = Callable[[Event], None]


@dataclass
class RunResult:
    """What a run did: per-epoch losses, timing, and how it ended (``ok``/``diverged``/...)."""

    status: str
    epochs: int
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    message: str | None = None
    model: nn.Module | None = field(default=None, repr=False)
    out_dir: str | None = None

    @property
    def epochs_done(self) -> int:
        """Epochs completed (the diverging epoch counts: its loss was computed)."""
        return len(self.losses)

    @property
    def final_loss(self) -> float:
        """Loss of the last epoch run (nan if none ran)."""
        return self.losses[-1] if self.losses else math.nan

    @property
    def best_epoch(self) -> int | None:
        """Epoch (from 1) with the lowest finite loss."""
        finite = [(loss, i) for i, loss in enumerate(self.losses, 1) if math.isfinite(loss)]
        return min(finite)[1] if finite else None

    @property
    def best_loss(self) -> float:
        """The lowest finite loss (nan if none)."""
        best = self.best_epoch
        return self.losses[best - 1] if best is not None else math.nan

    @property
    def epochs_per_second(self) -> float:
        """Training speed over the whole run."""
        return self.epochs_done / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> dict[str, Any]:
        """Plain data for ``summary.json`` and ``--json``."""
        summary = {
            "status": self.status,
            "epochs": self.epochs_done,
            "final_loss": self.final_loss,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 6),
            "epochs_per_second": round(self.epochs_per_second, 3),
        }
        if self.accuracies:
            summary["final_accuracy"] = self.accuracies[-1]
        if self.message:
            summary["message"] = self.message
        if self.out_dir:
            summary["out_dir"] = self.out_dir
        return summary


# ----------------------------------------------------------------------------- model


def build_model(sizes: Sequence[int], activation: str, init: str) -> nn.Sequential:
    """``Linear`` layers of ``sizes`` with ``activation`` between them.

    ``init="normal"`` is the blog's: N(0,1) weights drawn as ``randn(in, out)`` layer by layer
    (the blog's ``w1``, ``w2``), zero biases. ``"torch"`` keeps ``nn.Linear``'s default.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    # Draw before building the layers, so the weights follow the data in the seeded stream
    # exactly as the blog's torch_randn calls do.
    drawn = [tg.randn(n_in, n_out) for n_in, n_out in pairs] if init == "normal" else []
    layers: list[nn.Module] = []
    for n_in, n_out in pairs:
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
    model = nn.Sequential(*layers[:-1])
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    with tg.no_grad():
        for layer, weight in zip(linears, drawn):
            layer.weight.copy_(weight.t())
            layer.bias.zero_()
    return model


# ----------------------------------------------------------------------------- updates


class ManualUpdate:
    """The blog's update: ``p.sub_(lr * p.grad)`` under ``no_grad``, then zero the gradients."""

    def __init__(self, params: Sequence[tg.Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr

    def step(self) -> None:
        """Move every parameter against its gradient and zero the gradient."""
        with tg.no_grad():
            for p in self.params:
                p.sub_(self.lr * p.grad)
            for p in self.params:
                p.grad.zero_()

    def zero_grad(self) -> None:
        """Nothing to do: ``step`` already zeroed the gradients, as the blog does."""


def make_updater(model: nn.Module, config: Config) -> Any:
    """The configured update rule: ``ManualUpdate``, ``optim.SGD`` or ``optim.Adam``."""
    name, lr, params = config["train.optimizer"], config["train.lr"], list(model.parameters())
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config["train.momentum"])
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(config["train.betas"]))
    return ManualUpdate(params, lr)


# ----------------------------------------------------------------------------- the loop


def run(config: Config, callback: Callback | None = None) -> RunResult:
    """Seed, build data and model, train, and write the run's files if ``output.dir`` is set."""
    tg.manual_seed(config["seed"])
    data = make_dataset(config)
    sizes = [data.d_in, *config["model.hidden"], data.d_out]
    model = build_model(sizes, config["model.activation"], config["model.init"])
    classification = data.n_classes is not None
    out_dir = config["output.dir"]
    files = RunDirectory(out_dir, config, _columns(classification)) if out_dir else None
    emit = _fan_out(callback, files)
    try:
        emit(RunStarted(config, data.n, sizes, _count(model), classification))
        result = fit(model, data, config, emit)
    finally:
        if files is not None:
            files.close()
    result.out_dir = out_dir
    if files is not None:
        files.finish(state_arrays(model), result.summary())
    return result


def fit(model: nn.Module, data: Dataset, config: Config, emit: Callback | None = None) -> RunResult:
    """Train ``model`` on ``data`` for ``train.epochs`` epochs, emitting ``EpochEnded`` events."""
    result = RunResult(OK, config["train.epochs"], model=model)
    start = time.perf_counter()
    # A diverging run overflows; the loop reports the non-finite loss itself, once.
    with np.errstate(over="ignore", invalid="ignore"):
        _train_epochs(model, data, config, result, emit or (lambda event: None), start)
    result.seconds = time.perf_counter() - start
    return result


def _train_epochs(
    model: nn.Module, data: Dataset, config: Config, result: RunResult, emit: Callback, start: float
) -> None:
    epochs, log_every = result.epochs, config["train.log_every"]
    loss_fn, updater = LOSSES[config["train.loss"]], make_updater(model, config)
    try:
        for epoch in range(1, epochs + 1):
            loss, accuracy = _epoch(model, data, config, loss_fn, updater)
            result.losses.append(loss)
            if accuracy is not None:
                result.accuracies.append(accuracy)
            result.seconds = time.perf_counter() - start
            log = epoch % log_every == 0
            emit(EpochEnded(epoch, epochs, loss, accuracy, round(result.seconds, 6), log))
            if not math.isfinite(loss):
                result.status, result.message = DIVERGED, divergence_message(epoch, loss, config)
                break
    except KeyboardInterrupt:
        result.status = INTERRUPTED
        result.message = f"interrupted after epoch {result.epochs_done}"


def divergence_message(epoch: int, loss: float, config: Config) -> str:
    """Why training stopped, and what to try."""
    lr = config["train.lr"]
    return (
        f"loss is {loss} at epoch {epoch} with train.lr = {lr:g}; training stopped. "
        f"Try a smaller learning rate, e.g. train.lr={lr / 10:g}"
    )


def _epoch(
    model: nn.Module, data: Dataset, config: Config, loss_fn: Callable[..., tg.Tensor], updater: Any
) -> tuple[float, float | None]:
    total, correct = 0.0, 0
    for x, y, size in batches(data, config["train.batch_size"]):
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        value = loss.item()
        total += value if config["train.loss"] in SUMMED_LOSSES else value * size
        if data.n_classes is not None:
            correct += int((y_pred.detach().numpy().argmax(axis=1) == y.numpy()).sum())
        if not math.isfinite(value):
            return value, None
        loss.backward()
        updater.step()
        updater.zero_grad()
    loss_value = total if config["train.loss"] in SUMMED_LOSSES else total / data.n
    return loss_value, (correct / data.n if data.n_classes is not None else None)


def batches(data: Dataset, batch_size: int | None) -> Iterator[tuple[tg.Tensor, tg.Tensor, int]]:
    """``(x, y, size)`` batches: the whole set, or a fresh seeded shuffle cut into batches."""
    if batch_size is None or batch_size >= data.n:
        yield tg.from_numpy(data.x), tg.from_numpy(data.y), data.n
        return
    order = tg.default_generator().permutation(data.n)
    for start in range(0, data.n, batch_size):
        index = order[start : start + batch_size]
        yield tg.from_numpy(data.x[index]), tg.from_numpy(data.y[index]), len(index)


# ----------------------------------------------------------------------------- helpers


def state_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's ``state_dict`` as plain numpy arrays (what ``model.npz`` holds)."""
    return {name: np.array(t.detach().numpy()) for name, t in model.state_dict().items()}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _columns(classification: bool) -> list[str]:
    return (
        ["epoch", "loss", "accuracy", "seconds"] if classification else ["epoch", "loss", "seconds"]
    )


def _fan_out(callback: Callback | None, files: RunDirectory | None) -> Callback:
    def emit(event: Event) -> None:
        if files is not None and isinstance(event, EpochEnded):
            files.add_metrics(vars(event))
        if callback is not None:
            callback(event)

    return emit
