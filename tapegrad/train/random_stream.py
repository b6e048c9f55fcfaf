"""Exact resume for models that draw random numbers while training (``model.dropout``).

A checkpoint taken inside a shuffled epoch keeps the generator's state from before the
epoch's shuffle, so a resume can draw the same order again. Dropout draws during every step
too; this callback also keeps the generator's state at the checkpoint and puts it back once
the resumed epoch's order has been drawn (before the first step, or before the epoch is
recorded when the run stopped after its last step), so the masks continue as they would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import tapegrad as tg
from tapegrad.train.callbacks import TrainerCallback
from tapegrad.train.errors import ConfigError

if TYPE_CHECKING:
    from tapegrad.train.events import EpochEnded
    from tapegrad.train.loop import Trainer


class RandomStream(TrainerCallback):
    """Saves the generator's state inside a shuffled epoch and restores it on resume."""

    name = "random_stream"

    def __init__(self) -> None:
        self._trainer: Trainer | None = None
        self._pending: dict[str, Any] | None = None

    def setup(self, trainer: Trainer) -> None:
        """Remember the trainer (its position says whether an epoch is under way)."""
        self._trainer = trainer

    def state(self) -> dict[str, Any] | None:
        """The generator's state now, when the checkpoint's own is the epoch's start."""
        trainer = self._trainer
        if trainer is None or trainer.position.rng is None or not trainer.position.step:
            return None
        return {"rng": tg.default_generator().bit_generator.state}

    def load_state(
        self,
        trainer: Trainer,
        state: Mapping[str, Any] | None,
        arrays: Mapping[str, np.ndarray],
        where: Path,
    ) -> None:
        """Hold the saved state until the resumed epoch's order is drawn."""
        if state is None:
            return
        rng = state.get("rng") if isinstance(state, Mapping) else None
        try:  # on a scratch generator: the run's own must not change yet
            type(tg.default_generator().bit_generator)().state = rng
        except (TypeError, ValueError, KeyError):
            raise ConfigError(f"{where}: damaged random-stream state") from None
        self._pending = rng

    def on_step_start(self, trainer: Trainer) -> None:
        """Put the saved state back (once), after the epoch's shuffle."""
        if self._pending is not None:
            self._apply()

    def measure(self, trainer: Trainer, event: EpochEnded) -> None:
        """The run stopped after an epoch's last step: put the state back before the next."""
        if self._pending is not None:
            self._apply()

    def _apply(self) -> None:
        state, self._pending = self._pending, None
        tg.default_generator().bit_generator.state = state
