"""Text for ``tapegrad evaluate``: one figure per line."""

from __future__ import annotations

from tapegrad.train.predict import Evaluation


def evaluation_lines(evaluation: Evaluation) -> list[str]:
    """``data``, ``samples``, the loss, and accuracy or R²."""
    lines = [
        f"data      {evaluation.data}",
        f"samples   {evaluation.samples}",
        f"loss      {evaluation.loss:.4e}  ({evaluation.loss_name})",
    ]
    if evaluation.accuracy is not None:
        lines.append(f"accuracy  {evaluation.accuracy:.4f}")
    if evaluation.r2 is not None:
        lines.append(f"r2        {evaluation.r2:.4f}")
    return lines
