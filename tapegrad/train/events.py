"""What a run reports while it trains: ``RunStarted`` once, then ``EpochEnded`` per epoch,
and ``RunWarning`` when something went wrong that does not stop it (a periodic checkpoint
that could not be written).

A ``Callback`` receives them (the command line renders them, a notebook can collect them);
a ``StopCheck`` is how a caller asks a run to stop before its next step.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from tapegrad.train.schema import Config


@dataclass(frozen=True)
class RunStarted:
    """Emitted once, before the first epoch (``start_epoch`` > 0 when resuming)."""

    config: Config
    samples: int
    layer_sizes: list[int]
    parameters: int
    classification: bool
    start_epoch: int = 0
    val_samples: int = 0  # held out for validation (``samples`` are the training part)


@dataclass  # not frozen: a frozen dataclass takes 4x longer to make, and one is made every epoch
class EpochEnded:
    """Emitted after every epoch; ``log`` marks the ``train.log_every`` boundaries;
    ``val_loss``/``val_accuracy`` are set when the run has validation data."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float | None
    seconds: float
    log: bool
    val_loss: float | None = None
    val_accuracy: float | None = None
    lr: float | None = None  # with train.scheduler: the rate of the epoch's last update


@dataclass(frozen=True)
class RunWarning:
    """Something went wrong but training goes on; ``message`` is one line."""

    message: str


Event = RunStarted | EpochEnded | RunWarning
Callback = Callable[[Event], None]
StopCheck = Callable[[], bool]
#: Makes the window in which a signal handler may raise KeyboardInterrupt (see Trainer.train).
Interruptible = Callable[[], AbstractContextManager[Any]]
