"""``train.compile``: the Trainer's step (forward, loss, backward, update, zeroing) under
``tapegrad.compile``, so that after the first steps it replays as plain numpy calls.

The step checks the loss inside (a ``callback`` that raises on nan or inf before backward, as
the eager step skips the update), clips the gradients (``train.clip_grad_norm``: each replay
calls ``ClipGradNorm.clip`` again) and marks the moment the parameters start to change. A step
with another hook between backward and the update cannot replay: ``compiled_step`` returns
None, and the Trainer keeps its own eager step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

import tapegrad as tg
from tapegrad.replay import CompiledStep, callback
from tapegrad.train.schedule import ClipGradNorm

if TYPE_CHECKING:
    from tapegrad.train.loop import Trainer


class NonFiniteLoss(Exception):
    """The loss of a compiled step is nan or inf: the step stopped before backward."""

    def __init__(self, value: float) -> None:
        super().__init__(value)
        self.value = value


def _check_finite(loss: np.ndarray) -> None:
    value = float(loss)
    if not math.isfinite(value):
        raise NonFiniteLoss(value)


def why_eager(trainer: Trainer) -> str | None:
    """Why the trainer's step cannot be compiled, or None when it can."""
    if not trainer.config.get("train.compile", True):
        return "train.compile is false"
    if any(not isinstance(hook, ClipGradNorm) for hook in trainer.step_hooks("before_update")):
        return "a step hook runs between backward and the update"
    return None


def compiled_step(trainer: Trainer) -> CompiledStep | None:
    """The trainer's step as a compiled callable ``(x, y) -> (loss, y_pred or None)``, or None
    when ``why_eager`` says it cannot be."""
    if why_eager(trainer) is not None:
        return None
    model, loss_fn, updater = trainer.model, trainer.loss_fn, trainer.updater
    check = trainer.config["train.stop_on_nonfinite"]
    classes = trainer.data.n_classes is not None
    begin_update = _marker(trainer)
    clippers = trainer.step_hooks("before_update")  # ClipGradNorm: each replay clips again

    def step(x: tg.Tensor, y: tg.Tensor) -> tuple[tg.Tensor, tg.Tensor | None]:
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        if check:
            callback(_check_finite, loss)
        loss.backward()
        for clipper in clippers:
            clipper.clip()
        callback(begin_update)
        updater.step()
        updater.zero_grad()
        return loss, (y_pred.detach() if classes else None)

    return CompiledStep(step, read_when_run=[updater])  # only updater.step reads its rate


def _marker(trainer: Trainer) -> Callable[[], None]:
    def begin_update() -> None:  # from here an interruption leaves a half-made update
        trainer._critical = True

    return begin_update


def summary(step: CompiledStep | None, reason: str | None) -> dict[str, Any]:
    """What ``summary.json`` says of compile: steps replayed, and why some ran eagerly."""
    if step is None:
        return {"replayed_steps": 0, "eager_reason": reason}
    return {"replayed_steps": step.replays, "eager_reason": step.eager_reason}
