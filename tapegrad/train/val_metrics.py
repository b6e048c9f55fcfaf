"""Validation figures: the loss (and accuracy) of the model on the held-out data, each epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import tapegrad as tg
from tapegrad import nn
from tapegrad.train.callbacks import TrainerCallback
from tapegrad.train.data import Dataset

if TYPE_CHECKING:
    from collections.abc import Callable

    from tapegrad.train.events import EpochEnded
    from tapegrad.train.loop import Trainer


def evaluate_loss(
    model: nn.Module, data: Dataset, loss_fn: Callable[[tg.Tensor, tg.Tensor], tg.Tensor]
) -> tuple[float, float | None]:
    """``(loss, accuracy)`` of ``model`` on ``data`` in one forward pass without recording
    (accuracy None for regression), in eval mode (dropout off, norms on their running
    statistics; the mode is put back). Draws nothing from the random generator."""
    training = model.training
    model.train(False)
    try:
        with tg.no_grad():
            y_pred = model(tg.from_numpy(data.x))
            loss = loss_fn(y_pred, tg.from_numpy(data.y)).item()
    finally:
        model.train(training)
    accuracy = None
    if data.n_classes is not None:
        accuracy = float((y_pred.numpy().argmax(axis=1) == data.y).mean())
    return loss, accuracy


class ValidationMetrics(TrainerCallback):
    """Adds ``val_loss`` (the run's loss on the held-out data, as the training loss is
    computed: summed for sse, a mean otherwise) and, for classes, ``val_accuracy``."""

    name = "validation"

    def __init__(self, held_out: Dataset) -> None:
        self.held_out = held_out
        classes = held_out.n_classes is not None
        self.columns = ("val_loss", "val_accuracy") if classes else ("val_loss",)

    def measure(self, trainer: Trainer, event: EpochEnded) -> None:
        """Fill in ``event.val_loss`` (and ``val_accuracy``)."""
        event.val_loss, event.val_accuracy = evaluate_loss(
            trainer.model, self.held_out, trainer.loss_fn
        )
