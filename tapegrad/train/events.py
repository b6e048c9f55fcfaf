"""What a run reports while it trains: ``RunStarted`` once, then ``EpochEnded`` per epoch.

A ``Callback`` receives them (the command line renders them, a notebook can collect them);
a ``StopCheck`` is how a caller asks a run to stop before its next step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
