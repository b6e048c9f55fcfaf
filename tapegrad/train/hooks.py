"""A hook for subprocess tests: pause at a named point so a signal lands there for sure.

With ``TAPEGRAD_TEST_PAUSE=<point>:<marker file>`` in the environment, reaching ``<point>``
creates the marker file and waits until the test removes it (at most ``PAUSE_LIMIT``
seconds); the test sends its signals in between. Without the variable (always, outside the
test suite) nothing happens. The points, in the order a run reaches them: ``start`` (the
group's handler installed, no command yet), ``command`` (before the command's module is
loaded), ``import`` (inside loading ``cli.train_cmd``), ``before-run`` (config loaded,
nothing written), ``final-save`` (model.npz written, checkpoint.npz not yet) and
``after-run`` (files saved, the run's handlers put back).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENVIRONMENT_VARIABLE = "TAPEGRAD_TEST_PAUSE"
PAUSE_LIMIT = 10.0


def pause(point: str) -> None:
    """Create the marker and wait for its removal if the environment asks to pause at
    ``point``."""
    spec = os.environ.get(ENVIRONMENT_VARIABLE)
    if not spec:
        return
    name, _, marker = spec.partition(":")
    if name != point or not marker:
        return
    path = Path(marker)
    path.touch()
    deadline = time.monotonic() + PAUSE_LIMIT
    # A signal handler that returns lets the wait go on; one that raises ends it.
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
