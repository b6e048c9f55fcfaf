"""How a run ended: ``RunResult`` (history, timing, status) and the status names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tapegrad import nn

OK, DIVERGED, INTERRUPTED, FAILED = "ok", "diverged", "interrupted", "failed"


@dataclass
class RunResult:
    """What a run did: per-epoch history, timing, and how it ended.

    ``status`` is ``ok``, ``diverged`` (non-finite loss), ``interrupted`` (a stop request or
    KeyboardInterrupt) or ``failed`` (an exception, kept in ``error``; with anomaly detection
    on, the NaN/inf found in backward). ``step`` counts batches done in the epoch after the
    last complete one when a run stopped inside an epoch. ``resumable`` is False only when a
    KeyboardInterrupt landed while parameters were being updated (their state is then mixed).
    ``files_not_saved`` maps each run file the final save could not write to the reason.
    """

    status: str
    epochs: int
    losses: list[float] = field(default_factory=list)
    accuracies: list[float | None] = field(default_factory=list)
    seconds: float = 0.0
    message: str | None = None
    model: nn.Module | None = field(default=None, repr=False)
    out_dir: str | None = None
    times: list[float] = field(default_factory=list)
    step: int = 0
    start_epoch: int = 0
    resumable: bool = True
    error: BaseException | None = field(default=None, repr=False)
    files_not_saved: dict[str, str] = field(default_factory=dict)
    #: Per-epoch figures beyond loss and accuracy, by metrics.csv column (``val_loss``).
    extra: dict[str, list[float | None]] = field(default_factory=dict)
    #: Set when a callback ended the run before ``epochs`` (early stopping): why.
    stop_reason: str | None = None
    #: Entries the callbacks add to the summary (``best_model``, ``stopped_early``).
    notes: dict[str, Any] = field(default_factory=dict)
    #: ``train.compile`` in this session: steps replayed, and why others ran eagerly.
    compile: dict[str, Any] | None = None

    @property
    def epochs_done(self) -> int:
        """Epochs completed (the diverging epoch counts: its loss was computed)."""
        return len(self.losses)

    @property
    def final_loss(self) -> float:
        """Loss of the last epoch run (nan if none ran)."""
        return self.losses[-1] if self.losses else math.nan

    @property
    def final_accuracy(self) -> float | None:
        """Accuracy of the last epoch that has one (classification only)."""
        measured = [a for a in self.accuracies if a is not None]
        return measured[-1] if measured else None

    @property
    def best_epoch(self) -> int | None:
        """Epoch (from 1) with the lowest finite loss."""
        finite = [(loss, i) for i, loss in enumerate(self.losses, 1) if math.isfinite(loss)]
        return min(finite)[1] if finite else None

    @property
    def best_loss(self) -> float:
        """The lowest finite loss (nan if none)."""
        best = self.best_epoch
        return self.losses[best - 1] if best is not None else math.nan

    @property
    def epochs_per_second(self) -> float:
        """Training speed over the whole run."""
        return self.epochs_done / self.seconds if self.seconds > 0 else math.inf

    def validation_summary(self) -> dict[str, Any]:
        """``final_val_loss``, ``best_val_loss``, ``best_val_epoch`` and
        ``final_val_accuracy`` (empty without validation data)."""
        losses = self.extra.get("val_loss") or []
        if not losses:
            return {}
        summary: dict[str, Any] = {"final_val_loss": losses[-1]}
        finite = [(v, i) for i, v in enumerate(losses, 1) if v is not None and math.isfinite(v)]
        if finite:
            summary["best_val_loss"], summary["best_val_epoch"] = min(finite)
        accuracies = self.extra.get("val_accuracy") or []
        if accuracies and accuracies[-1] is not None:
            summary["final_val_accuracy"] = accuracies[-1]
        return summary

    def summary(self) -> dict[str, Any]:
        """Plain data for ``summary.json`` and ``--json``."""
        summary = {
            "status": self.status,
            "epochs": self.epochs_done,
            "final_loss": self.final_loss,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 6),
            "epochs_per_second": round(self.epochs_per_second, 3),
        }
        if self.final_accuracy is not None:
            summary["final_accuracy"] = self.final_accuracy
        summary.update(self.validation_summary())
        summary.update(self.notes)
        if self.compile is not None:
            summary["compile"] = self.compile
        if self.step:
            summary["steps_into_next_epoch"] = self.step
        if self.start_epoch:
            summary["resumed_from_epoch"] = self.start_epoch
        if self.status == INTERRUPTED:
            summary["resumable"] = self.resumable
        if self.message:
            summary["message"] = self.message
        if self.out_dir:
            summary["out_dir"] = self.out_dir
        if self.files_not_saved:
            summary["files_not_saved"] = dict(self.files_not_saved)
        return summary
