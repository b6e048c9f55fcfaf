"""no_grad / enable_grad / set_grad_enabled, as context managers and decorators, per thread."""

from __future__ import annotations

import threading

import pytest

import tapegrad as tg


def test_no_grad_context_and_decorator():
    x = tg.ones(2, requires_grad=True)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def double(t):
        return t * 2

    assert double(x).grad_fn is None


def test_enable_grad_inside_no_grad():
    x = tg.ones(2, requires_grad=True)
    with tg.no_grad(), tg.enable_grad():
        y = x * 2
    assert y.grad_fn is not None


def test_set_grad_enabled_call_and_context():
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)


def test_grad_mode_is_per_thread():
    seen = []
    with tg.no_grad():
        worker = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def _decorator_modes(lib):
    seen = []

    @lib.no_grad
    def bare():
        return lib.is_grad_enabled()

    @lib.no_grad()
    def steps():
        seen.append(lib.is_grad_enabled())
        yield 1
        seen.append(lib.is_grad_enabled())
        yield 2

    @lib.enable_grad
    def enabled():
        return lib.is_grad_enabled()

    seen.append(bare())
    for value in steps():  # between the steps, grad mode is the caller's again
        seen.append((value, lib.is_grad_enabled()))
    with lib.no_grad():
        seen.append(enabled())
    seen.append(lib.is_grad_enabled())
    return seen


def test_bare_decorators_and_generator_functions_as_torch():
    torch = pytest.importorskip("torch")
    assert _decorator_modes(tg) == _decorator_modes(torch)
