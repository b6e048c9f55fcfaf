"""The protocol of the callbacks a ``Trainer`` runs at the end of every epoch (validation,
early stopping, the best model; ``plugins`` says which ones a config asks for).

A callback first ``measure``\\ s: it may add figures to the epoch's event (``val_loss``), but
must not change anything a checkpoint holds, so a stop request may land while it runs. Then,
once the epoch is recorded and before the event is emitted, ``on_epoch_end`` updates its own
state and may ask the trainer to stop (``Trainer.request_stop``). Its state goes into the
checkpoint (``state``: JSON values, ``arrays``: named arrays) and comes back on resume
(``load_state``), so a resumed run carries on exactly; ``summary`` adds to ``summary.json``
and ``files`` names the files it writes at the end of the run. The step hooks
(``on_step_start``, ``before_update``, ``after_update``: gradient clipping, per-batch
schedules) run only for callbacks that override them, so the others cost no step any time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tapegrad.train.events import EpochEnded
    from tapegrad.train.loop import Trainer


class TrainerCallback:
    """Does nothing; subclasses override what they need. ``name`` keys its checkpoint state;
    ``columns`` are the per-epoch figures it adds to the event (and to metrics.csv)."""

    name = ""
    columns: tuple[str, ...] = ()

    def setup(self, trainer: Trainer) -> None:
        """Attach to the trainer once its model and update rule exist (before any restore)."""

    def on_step_start(self, trainer: Trainer) -> None:
        """Before a batch's forward pass (only for callbacks that override it)."""

    def before_update(self, trainer: Trainer) -> None:
        """After backward, before the update (only for callbacks that override it)."""

    def after_update(self, trainer: Trainer) -> None:
        """After the update, inside the step (only for callbacks that override it)."""

    def measure(self, trainer: Trainer, event: EpochEnded) -> None:
        """Add figures to ``event``; runs before the epoch is recorded."""

    def on_epoch_end(self, trainer: Trainer, event: EpochEnded) -> None:
        """Update the callback's state once the epoch is recorded."""

    def state(self) -> dict[str, Any] | None:
        """JSON-able state for the checkpoint (None: nothing to keep)."""
        return None

    def arrays(self) -> dict[str, np.ndarray]:
        """Named arrays for the checkpoint."""
        return {}

    def load_state(
        self,
        trainer: Trainer,
        state: Mapping[str, Any] | None,
        arrays: Mapping[str, np.ndarray],
        where: Path,
    ) -> None:
        """Continue from a checkpoint's ``state`` and ``arrays`` (ConfigError if unfit)."""

    def summary(self) -> dict[str, Any]:
        """Entries for ``summary.json``."""
        return {}

    def files(self) -> dict[str, dict[str, np.ndarray]]:
        """Run files to write at the end: file name -> arrays."""
        return {}


def overriding(callbacks: list[TrainerCallback], hook: str) -> list[TrainerCallback]:
    """The callbacks whose class overrides ``hook`` (the others' would do nothing)."""
    base = getattr(TrainerCallback, hook)
    return [c for c in callbacks if getattr(type(c), hook) is not base]
