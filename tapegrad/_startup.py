"""The first moments of the ``tapegrad`` command, before the command line's own signal
handling (``cli.signals``) is in place: SIGINT and SIGTERM end the process at once with one
line and exit 130 (nothing is written yet). ``tapegrad/__init__.py`` imports this module
before anything else, which installs the handlers, but only when this process is the
``tapegrad`` command: ``import tapegrad`` in a program leaves its signal handlers alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time


def is_command() -> bool:
    """True when this process was started as ``tapegrad`` or ``python -m tapegrad``."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    if name in ("tapegrad", "tapegrad.exe"):
        return True
    argv = getattr(sys, "orig_argv", [])  # while -m imports the package, argv[0] is "-m"
    return name == "-m" and any(a == "-m" and b == "tapegrad" for a, b in zip(argv, argv[1:]))


def install() -> None:
    """End the process on SIGINT/SIGTERM (exit 130, one line), if it is the command."""
    if not is_command() or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit)
    _pause_for_tests()


def _exit(signum: int, frame: object) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"interrupted ({signal.Signals(signum).name})\n".encode())
    os._exit(130)


def _pause_for_tests() -> None:
    # tapegrad.train.hooks.pause for the point "package" (that module is not loaded yet)
    name, _, marker = os.environ.get("TAPEGRAD_TEST_PAUSE", "").partition(":")
    if name != "package" or not marker:
        return
    open(marker, "a").close()  # noqa: SIM115
    deadline = time.monotonic() + 10
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.005)


install()
