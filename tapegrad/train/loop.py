"""The blog's training loop, made general: forward, loss, backward, update, zero the gradients.

Nothing here prints: the ``Trainer`` reports each epoch as an event to a callback (see
``events``). Nothing here installs signal handlers either: a caller asks the loop to stop
through ``should_stop``, which it checks before every step. ``prepare`` builds a Trainer
from a config; ``runs`` wraps it with the run's files and ``resume``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.train import compiled, memory
from tapegrad.train.callbacks import TrainerCallback, overriding
from tapegrad.train.checkpoint import Snapshot, check_model_arrays
from tapegrad.train.data import Dataset, make_dataset
from tapegrad.train.errors import ConfigError
from tapegrad.train.events import Callback, EpochEnded, Event, Interruptible, StopCheck
from tapegrad.train.heldout import DataInfo, prepare_data, run_digest
from tapegrad.train.model import LOSSES, SUMMED_LOSSES, build_model, state_arrays
from tapegrad.train.outputs import RunFileError
from tapegrad.train.plugins import make_callbacks
from tapegrad.train.result import DIVERGED, FAILED, INTERRUPTED, OK, RunResult
from tapegrad.train.schema import Config
from tapegrad.train.updates import ManualUpdate, make_updater

# ManualUpdate and LOSSES lived here before updates.py and model.py; callers still import them.
__all__ = [
    "LOSSES",
    "ManualUpdate",
    "Position",
    "Trainer",
    "batches",
    "build_model",
    "divergence_message",
    "fit",
    "prepare",
]


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
    fresh Trainer, continues the run exactly (same losses, bit for bit). ``held_out`` is the
    validation data, ``callbacks`` run at the end of every epoch (see ``callbacks``), ``info``
    describes the data's columns and scaling (``data.json``).
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        config: Config,
        held_out: Dataset | None = None,
        callbacks: Sequence[TrainerCallback] = (),
        info: DataInfo | None = None,
    ) -> None:
        self.model, self.data, self.config = model, data, config
        self.held_out, self.callbacks, self.info = held_out, list(callbacks), info
        self.loss_fn = LOSSES[config["train.loss"]]
        self.summed = config["train.loss"] in SUMMED_LOSSES
        self.updater = make_updater(model, config)
        self.result = RunResult(OK, config["train.epochs"], model=model)
        self.columns = [name for callback in self.callbacks for name in callback.columns]
        self.result.extra = {name: [] for name in self.columns}
        self.position = Position()
        self._critical = False  # True while parameters or the history change
        self._digest: str | None = None
        for callback in self.callbacks:
            callback.setup(self)
        self._hooks = {
            hook: overriding(self.callbacks, hook)
            for hook in ("on_step_start", "before_update", "after_update")
        }
        self._eager_reason = compiled.why_eager(self)
        self._compiled = compiled.compiled_step(self)

    def step_hooks(self, hook: str) -> list[TrainerCallback]:
        """The callbacks that run at this step hook (``on_step_start``, ``before_update``,
        ``after_update``)."""
        return list(self._hooks[hook])

    # ------------------------------------------------------------------ running

    def train(
        self,
        emit: Callback | None = None,
        should_stop: StopCheck | None = None,
        interruptible: Interruptible | None = None,
    ) -> RunResult:
        """Run the remaining epochs; ``should_stop`` is asked before every step.

        ``interruptible()`` is a context manager entered around the epochs, inside the
        handler of KeyboardInterrupt: a signal handler that raises it only within that
        window can never cut the files being saved afterwards.
        """
        result = self.result
        start = time.perf_counter() - result.seconds
        window = interruptible or contextlib.nullcontext
        try:
            # A diverging run overflows; the loop reports the non-finite loss itself, once.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), window():
                self._epochs(emit or _ignore, should_stop or _never, start)
        except KeyboardInterrupt:
            self._stopped(resumable=not self._critical)
        except Exception as exc:  # noqa: BLE001 - finished epochs must still be saved
            self._failed(exc)
        result.seconds = time.perf_counter() - start
        for callback in self.callbacks:
            result.notes.update(callback.summary())
        result.compile = compiled.summary(self._compiled, self._eager_reason)
        return result

    def _epochs(self, emit: Callback, should_stop: StopCheck, start: float) -> None:
        result, stop_on_nonfinite = self.result, self.config["train.stop_on_nonfinite"]
        while result.epochs_done < result.epochs and result.stop_reason is None:
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
        for callback in self._hooks["on_step_start"]:
            callback.on_step_start(self)
        if self._compiled is not None:
            return self._replayed_step(x, y, size)
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
        for callback in self._hooks["before_update"]:
            callback.before_update(self)
        self.updater.step()
        for callback in self._hooks["after_update"]:
            callback.after_update(self)
        self.updater.zero_grad()
        p.step, p.correct = p.step + 1, p.correct + correct
        p.total += value if self.summed else value * size
        self._critical = False
        return value

    def _replayed_step(self, x: tg.Tensor, y: tg.Tensor, size: int) -> float:
        """The step under ``train.compile``: the same work, in one compiled call."""
        try:
            loss, y_pred = self._compiled(x, y)  # type: ignore[misc]
        except compiled.NonFiniteLoss as stop:  # raised before backward: nothing changed
            return stop.value
        value = loss.item()
        for callback in self._hooks["after_update"]:
            callback.after_update(self)
        correct = 0
        if y_pred is not None:
            correct = int((y_pred.numpy().argmax(axis=1) == y.numpy()).sum())
        p = self.position
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
        epoch, log_every = result.epochs_done + 1, self.config["train.log_every"]
        event = EpochEnded(epoch, result.epochs, loss, accuracy, 0.0, epoch % log_every == 0)
        for callback in self.callbacks:  # validation figures: nothing a checkpoint holds
            callback.measure(self, event)
        event.seconds = seconds = round(time.perf_counter() - start, 6)
        self._critical = True
        result.losses.append(loss)
        if self.data.n_classes is not None:
            result.accuracies.append(accuracy)
        for name in self.columns:
            result.extra[name].append(getattr(event, name))
        result.times.append(seconds)
        result.seconds = seconds
        self.position = Position()
        for callback in self.callbacks:
            callback.on_epoch_end(self, event)
        self._critical = False
        emit(event)

    def request_stop(self, reason: str) -> None:
        """End the run after this epoch (a callback's request, e.g. early stopping)."""
        self.result.stop_reason = reason

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
        anomaly = tg.autograd.is_anomaly_enabled() and isinstance(exc, RuntimeError)
        if not (anomaly or isinstance(exc, RunFileError)):  # these name themselves
            text = f"{type(exc).__name__}: {text}"
        # The epoch goes on the first line: anomaly reports continue with the forward trace.
        first, newline, rest = text.partition("\n")
        where = f"in epoch {result.epochs_done + 1}"
        if isinstance(exc, RunFileError):  # raised by the metrics row of a finished epoch
            where = f"after epoch {result.epochs_done}"
        result.message = f"{first} ({where}){newline}{rest}"

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
            self._digest = run_digest(self.data, self.held_out)
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
            extra={name: list(values) for name, values in result.extra.items()},
            callbacks={c.name: c.state() for c in self.callbacks if c.state() is not None},
            arrays={k: v for c in self.callbacks for k, v in c.arrays().items()},
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
        # step == steps_per_epoch: stopped after the epoch's last step, before it was recorded
        if not 0 <= p.step <= self.steps_per_epoch:
            raise ConfigError(f"{where}: step {p.step} is outside an epoch")
        self._restore_callbacks(snapshot, where)

    def _restore_callbacks(self, snapshot: Snapshot, where: Path) -> None:
        if set(snapshot.extra) != set(self.columns):
            found = ", ".join(snapshot.extra) or "none"
            raise ConfigError(
                f"{where}: the checkpoint's per-epoch figures ({found}) are not the run's "
                f"({', '.join(self.columns) or 'none'})"
            )
        self.result.extra = {name: list(snapshot.extra[name]) for name in self.columns}
        for callback in self.callbacks:
            state = snapshot.callbacks.get(callback.name)
            callback.load_state(self, state, snapshot.arrays, where)

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
        rows = [
            {"epoch": i, "loss": loss, "accuracy": accuracy, "seconds": seconds}
            for i, (loss, accuracy, seconds) in enumerate(
                zip(result.losses, accuracies, result.times), 1
            )
        ]
        for name, values in result.extra.items():
            for row, value in zip(rows, values):
                row[name] = value
        return rows


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


def prepare(config: Config) -> Trainer:
    """Seed, build the data and the model, and return the run's Trainer (before epoch 1)."""
    # make_dataset and build_model are found in this module's namespace, where tests patch them.
    tg.manual_seed(config["seed"])
    data = make_dataset(config)
    memory.check(memory.estimate_model(config, data.n, data.d_in, data.d_out), config)
    # The split is drawn here, between the data and the weights: a resume draws it again.
    prepared = prepare_data(data, config)
    sizes = [data.d_in, *config["model.hidden"], data.d_out]
    model = build_model(
        sizes,
        config["model.activation"],
        config["model.init"],
        config["model.dropout"],
        config["model.norm"],
    )
    callbacks = make_callbacks(config, prepared.held_out)
    return Trainer(model, prepared.train, config, prepared.held_out, callbacks, prepared.info)
