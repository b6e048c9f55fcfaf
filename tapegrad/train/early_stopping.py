"""Early stopping: end the run once the monitored figure has stopped improving.

As Keras's ``EarlyStopping``: an epoch improves when its figure is below the best so far by
more than ``min_delta``; after ``patience`` epochs in a row without one, the run stops. The
counter and the best figure are saved in checkpoints, so a resumed run stops at the epoch
the uninterrupted one would have; a run that stopped early is complete.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tapegrad.train.callbacks import TrainerCallback
from tapegrad.train.errors import ConfigError

if TYPE_CHECKING:
    from tapegrad.train.events import EpochEnded
    from tapegrad.train.loop import Trainer


class EarlyStopping(TrainerCallback):
    """Stops the run after ``patience`` epochs without ``monitor`` improving by > ``min_delta``."""

    name = "early_stopping"

    def __init__(self, monitor: str, patience: int, min_delta: float) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, event: EpochEnded) -> None:
        """Count the epochs without improvement; ask the trainer to stop after ``patience``."""
        value = getattr(event, self.monitor)
        if value is not None and math.isfinite(value) and value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, event.epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = event.epoch
            trainer.request_stop(self.reason())

    def reason(self) -> str:
        """Why the run stopped, in one line."""
        last = (
            f"last improvement at epoch {self.best_epoch}: {self.best:.4e}"
            if self.best_epoch
            else "no finite value"
        )
        return (
            f"stopped early at epoch {self.stopped_epoch}: {self.monitor} did not improve by "
            f"more than {self.min_delta:g} for {self.patience} epochs ({last})"
        )

    def state(self) -> dict[str, Any]:
        """The counter, the best figure and its epoch, and the epoch the run stopped at."""
        best = self.best if math.isfinite(self.best) else None
        return {
            "wait": self.wait, "best": best, "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
        }  # fmt: skip

    def load_state(
        self,
        trainer: Trainer,
        state: Mapping[str, Any] | None,
        arrays: Mapping[str, np.ndarray],
        where: Path,
    ) -> None:
        """Continue counting from a checkpoint; a run that stopped early cannot go on."""
        if state is None:  # a checkpoint of a run without early stopping: start counting
            return
        try:
            wait, best, epoch, stopped = (
                state["wait"],
                state["best"],
                state["best_epoch"],
                state["stopped_epoch"],
            )
            if not (_count(wait) and _count(epoch, True) and _count(stopped, True)):
                raise ValueError
            self.best = math.inf if best is None else float(best)
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: damaged early-stopping state {state!r}") from None
        self.wait, self.best_epoch, self.stopped_epoch = wait, epoch, stopped
        if stopped is not None:
            raise ConfigError(
                f"{where.parent}: the run {self.reason()}; it is complete. Start a new run "
                "to train on (e.g. with a larger train.early_stopping patience)"
            )

    def summary(self) -> dict[str, Any]:
        """Whether the run stopped early, and why."""
        summary: dict[str, Any] = {"stopped_early": self.stopped_epoch is not None}
        if self.stopped_epoch is not None:
            summary["stop_reason"] = self.reason()
        return summary


def _count(value: Any, optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
