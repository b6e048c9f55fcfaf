"""Anomaly mode: remember where each node was created; check backward outputs for NaN.

As torch, only NaN is an anomaly: an infinite gradient (``sqrt`` at 0) is a valid result.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np


class _State(threading.local):
    enabled = False
    check_nan = True


_state = _State()


def is_anomaly_enabled() -> bool:
    """Return True inside ``detect_anomaly()`` or after ``set_detect_anomaly(True)``."""
    return _state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Return True when anomaly mode also fails on NaN in backward (``check_nan``)."""
    return _state.check_nan


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly mode on or off; as a context manager the old mode is restored on exit.

    ``check_nan=False`` keeps the forward traces but does not fail on NaN gradients.
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev = _state.enabled, _state.check_nan
        _state.enabled, _state.check_nan = bool(mode), bool(check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.enabled, _state.check_nan = self._prev


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager: record forward stacks on nodes and, unless ``check_nan=False``, fail
    on NaN in backward."""

    def __init__(self, check_nan: bool = True) -> None:
        self._check_nan = bool(check_nan)

    def __enter__(self) -> None:
        self._prev = _state.enabled, _state.check_nan
        _state.enabled, _state.check_nan = True, self._check_nan

    def __exit__(self, *exc: object) -> None:
        _state.enabled, _state.check_nan = self._prev


_PACKAGE = Path(__file__).resolve().parents[1]
# Frames from tapegrad's layers below nn are the engine's own; these parts are kept.
_KEPT = tuple(str(_PACKAGE / part) for part in ("nn", "optim", "train", "cli", "testing"))


def _is_engine_frame(filename: str) -> bool:
    path = str(Path(filename).resolve())
    return path.startswith(str(_PACKAGE)) and not path.startswith(_KEPT)


def forward_trace() -> str:
    """The stack at the point a node is created, without the engine's own frames."""
    frames = [f for f in traceback.extract_stack()[:-1] if not _is_engine_frame(f.filename)]
    return "".join(traceback.format_list(frames[-8:]))


def annotate(node: Any, exc: BaseException) -> None:
    """Attach the forward trace of the failing node to an exception raised in backward."""
    if node._trace:
        exc.add_note(f"Traceback of forward call that caused the error:\n{node._trace}")


def check_outputs(node: Any, outputs: tuple[Any, ...]) -> None:
    """Raise PyTorch's anomaly error for the first gradient containing NaN (with
    ``check_nan``)."""
    if not _state.check_nan:
        return
    for i, g in enumerate(outputs):
        if g is None:
            continue
        data = getattr(g, "_data", g)
        if np.isnan(np.asarray(data)).any():
            message = f"Function '{node.name()}' returned nan values in its {i}th output."
            if node._trace:
                message += f"\nTraceback of forward call that caused the error:\n{node._trace}"
            raise RuntimeError(message)
