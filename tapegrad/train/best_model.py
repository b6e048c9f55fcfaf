"""The best model: the weights of the epoch with the lowest monitored figure, kept in memory
(and in checkpoints, as ``best.<key>`` entries) and written as ``best.npz`` at the end."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tapegrad.train.callbacks import TrainerCallback
from tapegrad.train.checkpoint_entries import check_model_arrays
from tapegrad.train.errors import ConfigError
from tapegrad.train.model import state_arrays
from tapegrad.train.outputs import BEST_FILE

if TYPE_CHECKING:
    from tapegrad.train.events import EpochEnded
    from tapegrad.train.loop import Trainer

PREFIX = "best."


class BestModel(TrainerCallback):
    """Keeps a copy of the ``state_dict`` whenever ``monitor`` reaches a new (finite) low."""

    name = "best_model"

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best = math.inf
        self.epoch: int | None = None
        self.weights: dict[str, np.ndarray] = {}

    def on_epoch_end(self, trainer: Trainer, event: EpochEnded) -> None:
        """Copy the weights when the monitored figure is the lowest so far."""
        value = getattr(event, self.monitor)
        if value is not None and math.isfinite(value) and value < self.best:
            self.best, self.epoch = value, event.epoch
            self.weights = state_arrays(trainer.model)

    def state(self) -> dict[str, Any] | None:
        """The monitor, the best figure and its epoch."""
        if self.epoch is None:
            return None
        return {"monitor": self.monitor, "best": self.best, "epoch": self.epoch}

    def arrays(self) -> dict[str, np.ndarray]:
        """The best weights as ``best.<key>`` entries."""
        return {PREFIX + key: value for key, value in self.weights.items()}

    def load_state(
        self,
        trainer: Trainer,
        state: Mapping[str, Any] | None,
        arrays: Mapping[str, np.ndarray],
        where: Path,
    ) -> None:
        """The best weights so far, from a checkpoint (absent before the first epoch)."""
        weights = {k[len(PREFIX) :]: v for k, v in arrays.items() if k.startswith(PREFIX)}
        if state is None and not weights:
            return
        try:
            monitor, best, epoch = state["monitor"], float(state["best"]), state["epoch"]  # type: ignore[index]
            if monitor != self.monitor or not isinstance(epoch, int) or not math.isfinite(best):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: damaged best-model state {state!r}") from None
        shapes = {k: tuple(v.shape) for k, v in trainer.model.state_dict().items()}
        check_model_arrays(shapes, weights, where)
        self.best, self.epoch, self.weights = best, epoch, dict(weights)

    def summary(self) -> dict[str, Any]:
        """Which epoch ``best.npz`` holds, and by which figure."""
        if self.epoch is None:
            return {}
        return {"best_model": {"file": BEST_FILE, "monitor": self.monitor, "epoch": self.epoch,
                               "value": self.best}}  # fmt: skip

    def files(self) -> dict[str, dict[str, np.ndarray]]:
        """``best.npz`` (once an epoch has been measured)."""
        return {BEST_FILE: self.weights} if self.weights else {}
