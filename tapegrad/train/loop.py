"""The blog's training loop, made general: forward, loss, backward, update, zero the gradients.

Nothing here prints. ``run`` reports what happens as events (``RunStarted``, ``EpochEnded``)
to a callback; the command line renders them, a notebook can collect them. Nothing here
installs signal handlers either: a caller asks the loop to stop through ``should_stop``,
which it checks before every step, and ``resume`` continues a saved run bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad._flat import FlatGrads
from tapegrad.nn import functional as F
from tapegrad.train import memory
from tapegrad.train.checkpoint import Snapshot, check_model_arrays, data_digest, load_run, pack
from tapegrad.train.config import Config, ConfigError
from tapegrad.train.data import Dataset, make_dataset
from tapegrad.train.outputs import CHECKPOINT_FILE, RunDirectory, check_output_dir

OK, DIVERGED, INTERRUPTED, FAILED = "ok", "diverged", "interrupted", "failed"

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
    """Emitted once, before the first epoch (``start_epoch`` > 0 when resuming)."""

    config: Config
    samples: int
    layer_sizes: list[int]
    parameters: int
    classification: bool
    start_epoch: int = 0


@dataclass  # not frozen: a frozen dataclass takes 4x longer to make, and one is made every epoch
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
StopCheck = Callable[[], bool]


@dataclass
class RunResult:
    """What a run did: per-epoch history, timing, and how it ended.

    ``status`` is ``ok``, ``diverged`` (non-finite loss), ``interrupted`` (a stop request or
    KeyboardInterrupt) or ``failed`` (an exception, kept in ``error``; with anomaly detection
    on, the NaN/inf found in backward). ``step`` counts batches done in the epoch after the
    last complete one when a run stopped inside an epoch. ``resumable`` is False only when a
    KeyboardInterrupt landed while parameters were being updated (their state is then mixed).
    """

    status: str
    epochs: int
    losses: list[float] = field(default_factory=list)
    accuracies: list[float | None] = field(default_factory=list)
    seconds: float = 0.0
    message: str | None = None
    model: nn.Module | None = field(default=None, repr=False)
    out_dir: str | None = None
    times: list[float] = field(default_factory=list)
    step: int = 0
    start_epoch: int = 0
    resumable: bool = True
    error: BaseException | None = field(default=None, repr=False)

    @property
    def epochs_done(self) -> int:
        """Epochs completed (the diverging epoch counts: its loss was computed)."""
        return len(self.losses)

    @property
    def final_loss(self) -> float:
        """Loss of the last epoch run (nan if none ran)."""
        return self.losses[-1] if self.losses else math.nan

    @property
    def final_accuracy(self) -> float | None:
        """Accuracy of the last epoch that has one (classification only)."""
        measured = [a for a in self.accuracies if a is not None]
        return measured[-1] if measured else None

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
        if self.final_accuracy is not None:
            summary["final_accuracy"] = self.final_accuracy
        if self.step:
            summary["steps_into_next_epoch"] = self.step
        if self.start_epoch:
            summary["resumed_from_epoch"] = self.start_epoch
        if self.status == INTERRUPTED:
            summary["resumable"] = self.resumable
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
    """The blog's update: ``p.sub_(lr * p.grad)`` under ``no_grad``, then zero the gradients.

    The gradients live in one flat buffer (each ``p.grad`` a view of it), so the update costs
    a few numpy calls whatever the number of parameters. A ``.grad`` replaced from outside
    makes the buffer be rebuilt; parameters it cannot stand behind (mixed dtypes, frozen)
    take the per-parameter path.
    """

    def __init__(self, params: Sequence[tg.Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr
        self._flat = FlatGrads.for_params(self.params)

    def step(self) -> None:
        """Move every parameter against its gradient and zero the gradient."""
        if self._flat is not None and not self._flat.intact():
            self._flat = FlatGrads.for_params(self.params)
        if self._flat is not None:
            self._flat.sgd_step(self.lr)
            return
        with tg.no_grad():
            grads = [p.grad for p in self.params]
            # = p.sub_(lr * p.grad) and p.grad.zero_() for each p, in one call each
            tg._foreach_sub_(self.params, grads, alpha=self.lr)
            tg._foreach_zero_(grads)

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


@dataclass
class Position:
    """Where training stands inside an epoch: batches done, their partial sums, and the
    generator's state before the epoch's shuffle (None when the epoch draws nothing)."""

    step: int = 0
    total: float = 0.0
    correct: int = 0
    rng: dict[str, Any] | None = None


class Trainer:
    """One run's moving parts: model, data, update rule, history and position.

    ``train`` runs epochs until ``train.epochs`` are done or something stops it; between
    any two steps the state is complete, so ``snapshot`` can be saved and, restored into a
    fresh Trainer, continues the run exactly (same losses, bit for bit).
    """

    def __init__(self, model: nn.Module, data: Dataset, config: Config) -> None:
        self.model, self.data, self.config = model, data, config
        self.loss_fn = LOSSES[config["train.loss"]]
        self.summed = config["train.loss"] in SUMMED_LOSSES
        self.updater = make_updater(model, config)
        self.result = RunResult(OK, config["train.epochs"], model=model)
        self.position = Position()
        self._critical = False  # True while parameters or the history change
        self._digest: str | None = None

    # ------------------------------------------------------------------ running

    def train(
        self, emit: Callback | None = None, should_stop: StopCheck | None = None
    ) -> RunResult:
        """Run the remaining epochs; ``should_stop`` is asked before every step."""
        result = self.result
        start = time.perf_counter() - result.seconds
        try:
            # A diverging run overflows; the loop reports the non-finite loss itself, once.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._epochs(emit or _ignore, should_stop or _never, start)
        except KeyboardInterrupt:
            self._stopped(resumable=not self._critical)
        except Exception as exc:  # noqa: BLE001 - finished epochs must still be saved
            self._failed(exc)
        result.seconds = time.perf_counter() - start
        return result

    def _epochs(self, emit: Callback, should_stop: StopCheck, start: float) -> None:
        result, stop_on_nonfinite = self.result, self.config["train.stop_on_nonfinite"]
        while result.epochs_done < result.epochs:
            for x, y, size in self._batches():
                if should_stop():
                    self._stopped()
                    return
                value = self._step(x, y, size, stop_on_nonfinite)
                if not math.isfinite(value) and stop_on_nonfinite:
                    self._record(value, None, start, emit)
                    result.status = DIVERGED
                    result.message = divergence_message(result.epochs_done, value, self.config)
                    return
            self._end_epoch(start, emit)

    def _batches(self) -> Iterable[tuple[tg.Tensor, tg.Tensor, int]]:
        batch_size = self.config["train.batch_size"]
        if batch_size is not None and batch_size < self.data.n:
            self.position.rng = tg.default_generator().bit_generator.state
        return batches(self.data, batch_size, skip=self.position.step)

    def _step(self, x: tg.Tensor, y: tg.Tensor, size: int, stop_on_nonfinite: bool) -> float:
        y_pred = self.model(x)
        loss = self.loss_fn(y_pred, y)
        value = loss.item()
        if not math.isfinite(value) and stop_on_nonfinite:
            return value
        correct = 0
        if self.data.n_classes is not None:
            correct = int((y_pred.detach().numpy().argmax(axis=1) == y.numpy()).sum())
        loss.backward()
        p = self.position
        self._critical = True
        self.updater.step()
        self.updater.zero_grad()
        p.step, p.correct = p.step + 1, p.correct + correct
        p.total += value if self.summed else value * size
        self._critical = False
        return value

    def _end_epoch(self, start: float, emit: Callback) -> None:
        p, n = self.position, self.data.n
        loss = p.total if self.summed else p.total / n
        accuracy = p.correct / n if self.data.n_classes is not None else None
        self._record(loss, accuracy, start, emit)

    def _record(self, loss: float, accuracy: float | None, start: float, emit: Callback) -> None:
        result = self.result
        seconds = round(time.perf_counter() - start, 6)
        self._critical = True
        result.losses.append(loss)
        if self.data.n_classes is not None:
            result.accuracies.append(accuracy)
        result.times.append(seconds)
        result.seconds = seconds
        self.position = Position()
        self._critical = False
        epoch, log_every = result.epochs_done, self.config["train.log_every"]
        emit(EpochEnded(epoch, result.epochs, loss, accuracy, seconds, epoch % log_every == 0))

    def _stopped(self, resumable: bool = True) -> None:
        result, step = self.result, self.position.step
        result.status, result.step, result.resumable = INTERRUPTED, step, resumable
        done = result.epochs_done
        if not resumable:
            result.message = f"stopped in epoch {done + 1} while updating the parameters"
        elif step:
            result.message = (
                f"stopped in epoch {done + 1} after step {step} of {self.steps_per_epoch}"
            )
        else:
            result.message = f"stopped after epoch {done}"

    def _failed(self, exc: Exception) -> None:
        result = self.result
        result.status, result.error, result.resumable = FAILED, exc, not self._critical
        result.step = self.position.step
        text = str(exc)
        if not (tg.autograd.is_anomaly_enabled() and isinstance(exc, RuntimeError)):
            text = f"{type(exc).__name__}: {text}"
        # The epoch goes on the first line: anomaly reports continue with the forward trace.
        first, newline, rest = text.partition("\n")
        result.message = f"{first} (in epoch {result.epochs_done + 1}){newline}{rest}"

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch."""
        batch_size = self.config["train.batch_size"]
        return 1 if batch_size is None else -(-self.data.n // batch_size)

    # ------------------------------------------------------------------ checkpoints

    @property
    def data_digest(self) -> str:
        """The data's SHA-256 (computed once: the data never change during a run)."""
        if self._digest is None:
            self._digest = data_digest(self.data.x, self.data.y)
        return self._digest

    def snapshot(self) -> Snapshot:
        """The complete state, for ``checkpoint.pack``."""
        result, p = self.result, self.position
        optimizer = None
        if isinstance(self.updater, optim.Optimizer):
            optimizer = self.updater.state_dict()
        rng = p.rng if p.rng is not None else tg.default_generator().bit_generator.state
        return Snapshot(
            status=result.status,
            config=dict(self.config.values),
            data_digest=self.data_digest,
            model=state_arrays(self.model),
            optimizer=optimizer,
            losses=list(result.losses),
            accuracies=list(result.accuracies),
            times=list(result.times),
            rng=rng,
            step=p.step,
            total=p.total,
            correct=p.correct,
            seconds=result.seconds,
            classification=self.data.n_classes is not None,
        )

    def restore(self, snapshot: Snapshot, where: Path) -> None:
        """Continue from ``snapshot``: weights, optimizer buffers, history, position, RNG."""
        if snapshot.data_digest != self.data_digest:
            raise ConfigError(
                f"{where}: the data differ from those the checkpoint was trained on "
                "(was the CSV file changed?)"
            )
        shapes = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        check_model_arrays(shapes, snapshot.model, where)
        self.model.load_state_dict(snapshot.model)
        self._restore_optimizer(snapshot, where)
        try:
            tg.default_generator().bit_generator.state = snapshot.rng
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{where}: bad random generator state ({exc})") from None
        result = self.result
        result.losses, result.times = list(snapshot.losses), list(snapshot.times)
        result.accuracies = list(snapshot.accuracies)
        result.seconds, result.start_epoch = snapshot.seconds, snapshot.epochs_done
        p = self.position
        p.step, p.total, p.correct = snapshot.step, snapshot.total, snapshot.correct
        if not 0 <= p.step < self.steps_per_epoch:
            raise ConfigError(f"{where}: step {p.step} is outside an epoch")

    def _restore_optimizer(self, snapshot: Snapshot, where: Path) -> None:
        is_optimizer = isinstance(self.updater, optim.Optimizer)
        if (snapshot.optimizer is None) == is_optimizer:
            raise ConfigError(f"{where}: the optimizer state does not match train.optimizer")
        if snapshot.optimizer is None:
            return
        try:
            self.updater.load_state_dict(snapshot.optimizer)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise ConfigError(f"{where}: optimizer state does not fit the model ({exc})") from None

    def rows(self) -> list[dict[str, Any]]:
        """The history as metrics.csv rows."""
        result = self.result
        accuracies = result.accuracies or [None] * result.epochs_done
        return [
            {"epoch": i, "loss": loss, "accuracy": accuracy, "seconds": seconds}
            for i, (loss, accuracy, seconds) in enumerate(
                zip(result.losses, accuracies, result.times), 1
            )
        ]


def _never() -> bool:
    return False


def _ignore(event: Event) -> None:
    pass


def fit(
    model: nn.Module,
    data: Dataset,
    config: Config,
    emit: Callback | None = None,
    should_stop: StopCheck | None = None,
) -> RunResult:
    """Train ``model`` on ``data`` for ``train.epochs`` epochs, emitting ``EpochEnded`` events."""
    return Trainer(model, data, config).train(emit, should_stop)


def divergence_message(epoch: int, loss: float, config: Config) -> str:
    """Why training stopped, and what to try."""
    lr = config["train.lr"]
    return (
        f"loss is {loss} at epoch {epoch} with train.lr = {lr:g}; training stopped. "
        f"Try a smaller learning rate, e.g. train.lr={lr / 10:g}"
    )


def batches(
    data: Dataset, batch_size: int | None, skip: int = 0
) -> Iterable[tuple[tg.Tensor, tg.Tensor, int]]:
    """``(x, y, size)`` batches: the whole set, or a fresh seeded shuffle cut into batches.

    ``skip`` leaves out the first batches (a run resumed inside an epoch); the shuffle is
    drawn all the same, so the generator advances as it did the first time.
    """
    if batch_size is None or batch_size >= data.n:
        # a tuple, not a generator: this runs every epoch, and full-batch epochs are short
        return () if skip else ((tg.from_numpy(data.x), tg.from_numpy(data.y), data.n),)
    return _shuffled_batches(data, batch_size, skip)


def _shuffled_batches(
    data: Dataset, batch_size: int, skip: int
) -> Iterator[tuple[tg.Tensor, tg.Tensor, int]]:
    order = tg.default_generator().permutation(data.n)
    for start in range(skip * batch_size, data.n, batch_size):
        index = order[start : start + batch_size]
        yield tg.from_numpy(data.x[index]), tg.from_numpy(data.y[index]), len(index)


# ----------------------------------------------------------------------------- runs


def run(
    config: Config,
    callback: Callback | None = None,
    *,
    should_stop: StopCheck | None = None,
    detect_anomaly: bool = False,
    overwrite: bool = False,
) -> RunResult:
    """Seed, build data and model, train, and write the run's files if ``output.dir`` is set.

    ``should_stop`` is asked before every step (a signal handler sets it); ``detect_anomaly``
    runs under ``tapegrad.autograd.detect_anomaly()``; ``overwrite`` allows an output
    directory that already holds files. Sizes that cannot fit in memory, a non-empty output
    directory and bad data raise ConfigError before anything is written.
    """
    memory.check(memory.estimate_config(config), config)
    out_dir = config["output.dir"]
    if out_dir:
        check_output_dir(out_dir, overwrite, config.sources.get("output.dir", "defaults"))
    trainer = prepare(config)
    classification = trainer.data.n_classes is not None
    columns = _columns(classification)
    files = RunDirectory.create(out_dir, config, columns, overwrite) if out_dir else None
    return _session(trainer, files, callback, should_stop, detect_anomaly)


def resume(
    run_dir: str | Path,
    overrides: Sequence[str] = (),
    callback: Callback | None = None,
    *,
    should_stop: StopCheck | None = None,
    detect_anomaly: bool = False,
) -> RunResult:
    """Continue the run saved in ``run_dir`` from its checkpoint, appending to its files.

    ``overrides`` may change only ``checkpoint.RESUMABLE_KEYS`` (e.g. ``train.epochs=500``
    to train further). The result's history covers the whole run, earlier sessions included.
    """
    config, snapshot = load_run(run_dir, list(overrides))
    memory.check(memory.estimate_config(config), config)
    trainer = prepare(config)
    trainer.restore(snapshot, Path(run_dir) / CHECKPOINT_FILE)
    columns = _columns(trainer.data.n_classes is not None)
    files = RunDirectory.reopen(run_dir, config, columns, trainer.rows())
    return _session(trainer, files, callback, should_stop, detect_anomaly)


def prepare(config: Config) -> Trainer:
    """Seed, build the data and the model, and return the run's Trainer (before epoch 1)."""
    tg.manual_seed(config["seed"])
    data = make_dataset(config)
    memory.check(memory.estimate_model(config, data.n, data.d_in, data.d_out), config)
    sizes = [data.d_in, *config["model.hidden"], data.d_out]
    model = build_model(sizes, config["model.activation"], config["model.init"])
    return Trainer(model, data, config)


def _session(
    trainer: Trainer,
    files: RunDirectory | None,
    callback: Callback | None,
    should_stop: StopCheck | None,
    detect_anomaly: bool,
) -> RunResult:
    config, data, model = trainer.config, trainer.data, trainer.model
    sizes = [data.d_in, *config["model.hidden"], data.d_out]
    every = config["train.checkpoint_every"]
    emit = _fan_out(callback, files, trainer, every)
    start = trainer.result.epochs_done
    started = RunStarted(config, data.n, sizes, _count(model), data.n_classes is not None, start)
    anomaly = tg.autograd.detect_anomaly() if detect_anomaly else contextlib.nullcontext()
    try:
        with anomaly:
            emit(started)
            result = trainer.train(emit, should_stop)
    finally:
        if files is not None:
            files.close()
    if files is not None:
        result.out_dir = str(files.path)
        saved = result.resumable
        files.finish(
            state_arrays(model) if saved else None,
            result.summary(),
            pack(trainer.snapshot()) if saved else None,
        )
    return result


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


def _fan_out(
    callback: Callback | None, files: RunDirectory | None, trainer: Trainer, every: int | None
) -> Callback:
    def emit(event: Event) -> None:
        if files is not None and isinstance(event, EpochEnded):
            files.add_metrics(vars(event))
            if every and event.epoch % every == 0 and event.epoch < event.epochs:
                files.save_checkpoint(pack(trainer.snapshot()))
        if callback is not None:
            callback(event)

    return emit
