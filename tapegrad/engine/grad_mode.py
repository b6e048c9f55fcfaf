"""Grad mode: whether operations are recorded for backward. Per thread, as in PyTorch."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded for backward in this thread."""
    return _state.enabled


class _GradModeContext:
    """Base for the grad-mode context managers; each also works as a decorator."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev

    def __call__(self, fn: F) -> F:
        return _decorate(fn, type(self))


class _NoArgumentContext(_GradModeContext):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``, as torch."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return object.__new__(cls)  # ``object.__init__`` then: no Python call (hot)
        return _decorate(orig_func, cls)


def _decorate(fn: F, make_context: Callable[[], Any]) -> F:
    """``fn`` run inside a fresh context; a generator function has each of its steps run
    inside it (grad mode is the caller's again between ``yield``s), as torch."""
    if inspect.isgeneratorfunction(fn):
        return _decorate_generator(fn, make_context)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make_context():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _decorate_generator(fn: F, make_context: Callable[[], Any]) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gen = fn(*args, **kwargs)
        try:
            with make_context():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_context():
                        gen.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown into the generator
                    with make_context():
                        response = gen.throw(exc)
                else:
                    with make_context():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper  # type: ignore[return-value]


class no_grad(_NoArgumentContext):  # noqa: N801 - PyTorch's name
    """Context manager / decorator that turns recording off (e.g. for weight updates)."""

    _mode = False


class enable_grad(_NoArgumentContext):  # noqa: N801 - PyTorch's name
    """Context manager / decorator that turns recording on, even inside ``no_grad``."""

    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Set grad mode: as a call it takes effect at once; as a context manager it is restored."""

    def __init__(self, mode: bool) -> None:
        self._prev = _state.enabled
        self._mode = bool(mode)
        _state.enabled = self._mode

    def __enter__(self) -> None:
        pass

    def __call__(self, fn: F) -> F:
        _state.enabled = self._prev
        mode = self._mode
        return _decorate(fn, lambda: set_grad_enabled(mode))
