"""Which end-of-epoch callbacks a config asks for, in the order they must run."""

from __future__ import annotations

from tapegrad.train.best_model import BestModel
from tapegrad.train.callbacks import TrainerCallback
from tapegrad.train.data import Dataset
from tapegrad.train.early_stopping import EarlyStopping
from tapegrad.train.random_stream import RandomStream
from tapegrad.train.schedule import ClipGradNorm, Schedule
from tapegrad.train.schema import Config
from tapegrad.train.val_metrics import ValidationMetrics


def make_callbacks(config: Config, held_out: Dataset | None) -> list[TrainerCallback]:
    """The random stream (dropout), gradient clipping (``train.clip_grad_norm``), validation
    (with held-out data), the schedule (``train.scheduler``), early stopping
    (``train.early_stopping``) and the best model (``best.npz``: runs that write files and
    have validation data or early stopping)."""
    callbacks: list[TrainerCallback] = []
    if config.get("model.dropout", 0.0) > 0:  # dropout draws in every step
        callbacks.append(RandomStream())
    if config.get("train.clip_grad_norm") is not None:
        callbacks.append(ClipGradNorm(config["train.clip_grad_norm"]))
    if held_out is not None:
        callbacks.append(ValidationMetrics(held_out))
    if config.get("train.scheduler") is not None:
        callbacks.append(Schedule(config["train.scheduler"]))
    options = config.get("train.early_stopping")
    if options is not None:
        callbacks.append(EarlyStopping(**options))
    if config["output.dir"] is not None and (held_out is not None or options is not None):
        monitor = options["monitor"] if options else "val_loss" if held_out else "loss"
        callbacks.append(BestModel(monitor))
    return callbacks
