"""SIGINT and SIGTERM from the command line's start to its exit: exit 130, at most one line,
never a traceback, never click's "Aborted!", never death by the signal (exit -2 or -15).

``start_program`` installs one handler for the whole process (the ``tapegrad`` command
calls it first thing; in-process callers such as click's CliRunner never do). What a signal
does depends on the phase:

- outside any command (parsing the command line, and after the command has returned):
  nothing is being written, so the process ends at once (one line, exit 130);
- inside a command: ``KeyboardInterrupt``, which ``LazyGroup.invoke`` turns into one line
  and exit 130 (a command may catch it first: gradcheck prints the results so far);
- while ``train`` runs, ``stop_on_signals`` routes signals to its ``StopRequest``: the first
  asks the loop to stop after the current step; a second one stops at once, but only inside
  the windows the run marks with ``armed`` (never while files are being written: a signal
  during the final save waits for it).

``end_program`` ignores both signals for the last moments: Python's shutdown puts back the
default handlers, under which a late signal would kill the process after its files were
saved. SIGTERM is handled exactly like SIGINT (exit 130, as for any interrupted run), so a
service manager's stop saves the run as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

EXIT_INTERRUPTED = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Program:
    """The process-wide state of the command line's handler."""

    def __init__(self) -> None:
        self.installed = False
        self.in_command = False
        self.reported = False  # the one line about the interruption was printed
        self.signum: int | None = None  # the first signal the handler received


PROGRAM = _Program()


def signal_name(signum: int | None) -> str:
    """``SIGINT``, ``SIGTERM`` (``-`` for None)."""
    return signal.Signals(signum).name if signum is not None else "-"


def report(line: str | None = None) -> None:
    """Print the one line about an interruption on stderr (once per process); by default
    ``interrupted (SIGINT)``, naming the first signal received."""
    if line is None:
        signum = PROGRAM.signum
        line = f"interrupted ({signal_name(signum)})" if signum is not None else "interrupted"
    with _signals_held():
        if PROGRAM.reported and PROGRAM.installed:  # in-process callers run many commands
            return
        PROGRAM.reported = True
        with contextlib.suppress(Exception):  # stderr may be closed or gone
            print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    # A signal arriving mid-line is delivered once the line is out (and then ends the
    # process without a second line): no half line, no two lines.
    if not (PROGRAM.installed and hasattr(signal, "pthread_sigmask")):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start_program() -> None:
    """Install the command line's handler and make closed standard streams harmless."""
    _reopen_closed_streams()
    if threading.current_thread() is not threading.main_thread():
        return
    for s in STOP_SIGNALS:
        signal.signal(s, _handle)
    PROGRAM.installed = True


def end_program() -> None:
    """Ignore SIGINT and SIGTERM from now until the process exits (its exit code is set)."""
    if PROGRAM.installed:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def command() -> Iterator[None]:
    """The phase in which a signal raises KeyboardInterrupt (a command is running)."""
    previous, PROGRAM.in_command = PROGRAM.in_command, True
    try:
        yield
    finally:
        PROGRAM.in_command = previous


def _handle(signum: int, frame: FrameType | None) -> None:
    if PROGRAM.signum is None:
        PROGRAM.signum = signum
    if PROGRAM.in_command:
        raise KeyboardInterrupt
    _exit_now(signum)


def _exit_now(signum: int) -> None:
    # Outside a command nothing is being written: end without unwinding, which could run
    # into click's handling ("Aborted!") or into the interpreter's shutdown.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a flush this signal interrupted: skip it
            stream.flush()  # type: ignore[union-attr]
    if not PROGRAM.reported:
        PROGRAM.reported = True
        with contextlib.suppress(OSError):
            first = PROGRAM.signum if PROGRAM.signum is not None else signum
            os.write(2, f"interrupted ({signal_name(first)})\n".encode())
    os._exit(EXIT_INTERRUPTED)


def _reopen_closed_streams() -> None:
    # Started with `>&-`: Python sets sys.stdout to None and the next file opened would get
    # descriptor 1. Point the closed ones at /dev/null so output is dropped, not misplaced.
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_RDONLY if mode == "r" else os.O_WRONLY)
            if null != fd and not _is_open(fd):
                os.dup2(null, fd)
                os.close(null)
                null = fd
            setattr(sys, name, open(null, mode, encoding="utf-8", closefd=null != fd))  # noqa: SIM115


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class StopRequest:
    """Set by SIGINT/SIGTERM; the training loop asks it before every step.

    The first signal asks for a clean stop. A second one raises KeyboardInterrupt to stop
    at once, but only while ``armed`` (the training steps, loading the config and data);
    elsewhere, as during the final save, it is only noted.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self.count = 0
        self._armed = False

    def __call__(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        self.count += 1
        if self.signal is None:
            self.signal = signum
        elif self._armed:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """A window in which a second signal stops at once (raises KeyboardInterrupt)."""
        previous, self._armed = self._armed, True
        try:
            yield
        finally:
            self._armed = previous

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal_name(self.signal)


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``stop`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, stop.handle)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
