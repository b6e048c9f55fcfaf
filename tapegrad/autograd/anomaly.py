"""Anomaly mode: remember where each node was created; check backward outputs for NaN/inf."""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np


class _State(threading.local):
    enabled = False


_state = _State()


def is_anomaly_enabled() -> bool:
    """Return True inside ``detect_anomaly()`` or after ``set_detect_anomaly(True)``."""
    return _state.enabled


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly mode on or off; as a context manager the old mode is restored on exit."""

    def __init__(self, mode: bool) -> None:
        self._prev = _state.enabled
        _state.enabled = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager: record forward stacks on nodes and fail on NaN/inf in backward."""

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = True

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev


_PACKAGE = Path(__file__).resolve().parents[1]
# Frames from these parts of tapegrad are the engine's own; nn/, train/, cli/ are kept.
_ENGINE = tuple(
    str(_PACKAGE / part)
    for part in ("autograd", "ops", "tensor.py", "functional.py", "_indexing.py")
)


def forward_trace() -> str:
    """The stack at the point a node is created, without the engine's own frames."""
    frames = [
        f
        for f in traceback.extract_stack()[:-1]
        if not str(Path(f.filename).resolve()).startswith(_ENGINE)
    ]
    return "".join(traceback.format_list(frames[-8:]))


def annotate(node: Any, exc: BaseException) -> None:
    """Attach the forward trace of the failing node to an exception raised in backward."""
    if node._trace:
        exc.add_note(f"Traceback of forward call that caused the error:\n{node._trace}")


def check_outputs(node: Any, outputs: tuple[Any, ...]) -> None:
    """Raise PyTorch's anomaly error for the first gradient containing NaN or inf."""
    for i, g in enumerate(outputs):
        if g is None:
            continue
        data = getattr(g, "data", g)
        if not np.all(np.isfinite(np.asarray(data))):
            message = f"Function '{node.name()}' returned nan values in its {i}th output."
            if node._trace:
                message += f"\nTraceback of forward call that caused the error:\n{node._trace}"
            raise RuntimeError(message)
