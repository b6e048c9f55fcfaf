"""Learning-rate schedules (``train.scheduler``) as a trainer callback.

The schedule is an ``optim.lr_scheduler`` scheduler on the run's optimizer; the manual update
gets a stand-in optimizer that shares its one parameter group, so every schedule works with
it too. Schedules step once per epoch, after it is recorded (plateau with the monitored
figure); onecycle steps after every update, as PyTorch's recipes do. The ``lr`` column holds
the rate of the epoch's last update; the scheduler's ``state_dict`` goes into the checkpoint,
so a resumed run follows the same rates bit for bit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.optim import lr_scheduler
from tapegrad.replay import replayed_by_calling
from tapegrad.train.callbacks import TrainerCallback
from tapegrad.train.errors import ConfigError

if TYPE_CHECKING:
    from tapegrad.train.events import EpochEnded
    from tapegrad.train.loop import Trainer


class ManualGroups(optim.Optimizer):
    """An optimizer that updates nothing: it lends the manual update's parameter group to a
    scheduler (the manual update reads its ``lr`` from the same dict)."""

    def __init__(self, update: Any) -> None:
        super().__init__([tg.zeros(1, requires_grad=True)], {"lr": update.lr})
        update.param_groups = self.param_groups

    def step(self, closure: Any = None) -> None:
        """Nothing to update (the manual update does it)."""


def make_scheduler(updater: Any, options: Mapping[str, Any], steps_per_epoch: int) -> Any:
    """The scheduler ``options`` (a resolved ``train.scheduler``) describe, on ``updater``."""
    optimizer = updater if isinstance(updater, optim.Optimizer) else ManualGroups(updater)
    kind = options["kind"]
    if kind == "step":
        return lr_scheduler.StepLR(optimizer, options["step_size"], options["gamma"])
    if kind == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, options["milestones"], options["gamma"])
    if kind == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, options["gamma"])
    if kind == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, options["T_max"], options["eta_min"])
    if kind == "onecycle":
        return lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=options["max_lr"],
            epochs=options["epochs"],
            steps_per_epoch=steps_per_epoch,
            pct_start=options["pct_start"],
            anneal_strategy=options["anneal_strategy"],
            cycle_momentum=False,  # train.momentum/betas stay as configured
            div_factor=options["div_factor"],
            final_div_factor=options["final_div_factor"],
            three_phase=options["three_phase"],
        )
    return lr_scheduler.ReduceLROnPlateau(
        optimizer,
        factor=options["factor"],
        patience=options["patience"],
        threshold=options["threshold"],
        cooldown=options["cooldown"],
        min_lr=options["min_lr"],
    )


class Schedule(TrainerCallback):
    """Steps the run's scheduler and reports the learning rate as the ``lr`` column."""

    name = "scheduler"
    columns = ("lr",)

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self.per_batch = options["kind"] == "onecycle"
        self.scheduler: Any = None
        self.used: float | None = None  # the rate of the last update

    def setup(self, trainer: Trainer) -> None:
        """Build the scheduler on the trainer's update rule."""
        self.scheduler = make_scheduler(trainer.updater, self.options, trainer.steps_per_epoch)
        self._optimizer = self.scheduler.optimizer

    def _rate(self) -> float:
        return float(self._optimizer.param_groups[0]["lr"])

    def after_update(self, trainer: Trainer) -> None:
        """Remember the rate just used; onecycle steps here (once per update)."""
        self.used = self._rate()
        if self.per_batch:
            self._optimizer._opt_called = True  # the update has run (see LRScheduler.step)
            self.scheduler.step()

    def measure(self, trainer: Trainer, event: EpochEnded) -> None:
        """``event.lr``: the rate of the epoch's last update."""
        event.lr = self.used if self.used is not None else self._rate()

    def on_epoch_end(self, trainer: Trainer, event: EpochEnded) -> None:
        """Step an epoch schedule (plateau with its monitored figure)."""
        if self.per_batch:
            return
        self._optimizer._opt_called = True
        if self.options["kind"] == "plateau":
            value = getattr(event, self.options["monitor"])
            # A non-finite figure counts as no improvement, as a worse one would.
            self.scheduler.step(value if value is not None and math.isfinite(value) else math.inf)
        else:
            self.scheduler.step()

    def state(self) -> dict[str, Any]:
        """The scheduler's ``state_dict`` (JSON values) and the last rate used."""
        state = dict(self.scheduler.state_dict())
        if isinstance(state.get("milestones"), Counter):
            state["milestones"] = sorted(state["milestones"].elements())
        return {"kind": self.options["kind"], "scheduler": state, "used": self.used}

    def load_state(
        self,
        trainer: Trainer,
        state: Mapping[str, Any] | None,
        arrays: Mapping[str, np.ndarray],
        where: Path,
    ) -> None:
        """Continue the schedule; refuse a checkpoint without one or with other rates."""
        if state is None:
            if trainer.result.epochs_done or trainer.position.step:
                raise ConfigError(
                    f"{where}: the checkpoint was trained without train.scheduler; a resumed "
                    "run keeps its config"
                )
            return
        try:
            saved, used = dict(state["scheduler"]), state["used"]
            if state["kind"] != self.options["kind"] or not _rate_or_none(used):
                raise ValueError
            rates = [float(r) for r in saved["_last_lr"]]
            if len(rates) != len(self._optimizer.param_groups):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: damaged scheduler state") from None
        if "milestones" in saved:
            saved["milestones"] = Counter(saved["milestones"])
        current = [float(g["lr"]) for g in self._optimizer.param_groups]
        if isinstance(trainer.updater, optim.Optimizer) and current != rates:
            raise ConfigError(
                f"{where}: the optimizer's lr {current[0]!r} is not the rate the saved "
                f"schedule set ({rates[0]!r})"
            )
        self.scheduler.load_state_dict(saved)
        for group, rate in zip(self._optimizer.param_groups, rates):
            group["lr"] = rate
        self.used = used

    def summary(self) -> dict[str, Any]:
        """The last learning rate used."""
        return {"final_lr": self.used} if self.used is not None else {}


def _rate_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value))


class ClipGradNorm(TrainerCallback):
    """``train.clip_grad_norm``: ``nn.utils.clip_grad_norm_`` before each update."""

    name = "clip_grad_norm"

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm
        self.parameters: list[tg.Tensor] = []

    def setup(self, trainer: Trainer) -> None:
        """Clip the model's parameters."""
        self.parameters = list(trainer.model.parameters())

    def before_update(self, trainer: Trainer) -> None:
        """Scale the gradients so their total 2-norm is at most ``max_norm``."""
        self.clip()

    def clip(self) -> None:
        """``clip_grad_norm_`` on the parameters (a compiled step's replay calls it again)."""
        nn.utils.clip_grad_norm_(self.parameters, self.max_norm)


replayed_by_calling(ClipGradNorm, "clip")
