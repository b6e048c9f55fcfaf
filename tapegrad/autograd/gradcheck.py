"""Numerical gradient checks: central differences against the analytic Jacobian."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tapegrad.autograd.gradients import grad as autograd_grad
from tapegrad.engine.grad_mode import enable_grad
from tapegrad.tensor import Tensor, _wrap


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when numerical and analytical gradients disagree."""


@dataclass
class GradcheckReport:
    """What a check found: the worst absolute/relative error and, if any, the first failure."""

    ok: bool = True
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    failures: list[str] = field(default_factory=list)
    worst: tuple[float, float] | None = None  # (numerical, analytical) at the worst element

    def __bool__(self) -> bool:
        return self.ok


def _tensors(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, list | tuple) else (inputs,)


def _outputs(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    out = fn(*inputs)
    return tuple(out) if isinstance(out, list | tuple) else (out,)


def _numerical_jvp_columns(
    fn: Callable[..., Any],
    inputs: tuple[Any, ...],
    index: int,
    out_index: int,
    upstream: np.ndarray,
    eps: float,
) -> np.ndarray:
    """d(sum(upstream * out)) / d(input) by central differences, one element at a time."""
    x = inputs[index]._data
    flat = x.reshape(-1)
    result = np.zeros(x.size, dtype=np.float64)
    with enable_grad():  # the function under test may itself call autograd.grad
        for k in range(x.size):
            orig = flat[k].item()
            flat[k] = orig + eps
            plus = np.array(_outputs(fn, inputs)[out_index]._data, dtype=np.float64)
            flat[k] = orig - eps
            minus = np.array(_outputs(fn, inputs)[out_index]._data, dtype=np.float64)
            flat[k] = orig
            result[k] = np.sum(upstream * (plus - minus)) / (2 * eps)
    return result.reshape(x.shape)


def check_gradients(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> GradcheckReport:
    """Compare analytic vector-Jacobian products with central differences.

    Each output is seeded with a random (not all-ones) upstream gradient, so errors that an
    all-ones seed would hide (e.g. transposed gradients) are caught.
    """
    inputs = _tensors(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    report = GradcheckReport()
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor with requires_grad=True")
    if any(inputs[i]._data.dtype != np.float64 for i in diff):
        warnings.warn(
            "Input #0 requires gradient and is not a double precision floating point. "
            "This check will likely fail if all the inputs are not of double precision "
            "floating point.",
            UserWarning,
            stacklevel=3,
        )
    rng = np.random.default_rng(seed)
    with enable_grad():
        outputs = _outputs(fn, inputs)
    for o, out in enumerate(outputs):
        if not isinstance(out, Tensor) or out._data.dtype.kind != "f":
            continue
        upstream = rng.uniform(0.5, 1.5, size=out.shape) * rng.choice([-1.0, 1.0], size=out.shape)
        if not out.requires_grad:
            analytic: list[Any] = [None] * len(diff)
        else:
            with enable_grad():
                fresh = _outputs(fn, inputs)[o]
            analytic = list(
                autograd_grad(
                    fresh,
                    [inputs[i] for i in diff],
                    _wrap(upstream.astype(out._data.dtype)),
                    allow_unused=True,
                )
            )
        for i, a in zip(diff, analytic):
            numeric = _numerical_jvp_columns(fn, inputs, i, o, upstream, eps)
            a_val = np.zeros_like(numeric) if a is None else np.asarray(a._data, np.float64)
            _compare(report, numeric, a_val, i, o, atol, rtol)
    return report


def _compare(
    report: GradcheckReport,
    numeric: np.ndarray,
    analytic: np.ndarray,
    i: int,
    o: int,
    atol: float,
    rtol: float,
) -> None:
    if numeric.shape != analytic.shape:
        report.ok = False
        report.failures.append(
            f"Gradient for input {i} has shape {list(analytic.shape)}, expected "
            f"{list(numeric.shape)}"
        )
        return
    if not numeric.size:
        return
    abs_err = np.abs(numeric - analytic)
    k = int(np.argmax(abs_err))
    if abs_err.flat[k] >= report.max_abs_err:
        report.worst = (float(numeric.flat[k]), float(analytic.flat[k]))
    report.max_abs_err = max(report.max_abs_err, float(abs_err.max()))
    # relative error means something only where the numerical value is not itself ~0
    meaningful = np.abs(numeric) > atol
    if meaningful.any():
        rel_err = float((abs_err[meaningful] / np.abs(numeric[meaningful])).max())
        report.max_rel_err = max(report.max_rel_err, rel_err)
    if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
        report.ok = False
        bad = np.argwhere(~np.isclose(analytic, numeric, atol=atol, rtol=rtol))[0]
        at = tuple(int(v) for v in bad)
        report.failures.append(
            f"Jacobian mismatch for output {o} with respect to input {i} at index {at}: "
            f"numerical: {numeric[at]:.6g}, analytical: {analytic[at]:.6g}"
        )


def _verdict(report: GradcheckReport, raise_exception: bool) -> bool:
    if report.ok:
        return True
    if raise_exception:
        raise GradcheckError("\n".join(report.failures))
    return False


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check analytic gradients of ``func`` at ``inputs`` against finite differences.

    Returns True, or raises ``GradcheckError`` naming the output/input pair with the
    numerical and analytical values (returns False when ``raise_exception=False``).
    """
    report = check_gradients(func, inputs, eps=eps, atol=atol, rtol=rtol)
    return _verdict(report, raise_exception)


def check_second_order(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Sequence[Any] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 1,
) -> GradcheckReport:
    """Check second derivatives: ``check_gradients`` of the recorded first-order gradient
    (with respect to the inputs and to the upstream gradient ``grad_outputs``)."""
    inputs = _tensors(inputs)
    rng = np.random.default_rng(seed)
    with enable_grad():
        outputs = [o for o in _outputs(func, inputs) if o.requires_grad]
    if grad_outputs is None:
        grad_outputs = [
            _wrap(rng.uniform(0.5, 1.5, size=o.shape).astype(o._data.dtype), requires_grad=True)
            for o in outputs
        ]

    def first_order(*args: Any) -> tuple[Any, ...]:
        xs, gs = args[: len(inputs)], args[len(inputs) :]
        outs = [o for o in _outputs(func, xs) if o.requires_grad]
        wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        grads = autograd_grad(outs, wrt, list(gs), create_graph=True, allow_unused=True)
        return tuple(
            g if g is not None else _wrap(np.zeros(w.shape, w._data.dtype))
            for g, w in zip(grads, wrt)
        )

    return check_gradients(
        first_order, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol, seed=seed
    )


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Sequence[Any] | None = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 1,
) -> bool:
    """Check second derivatives of ``func`` at ``inputs`` against finite differences of its
    first derivatives. True, or ``GradcheckError`` (False with ``raise_exception=False``)."""
    report = check_second_order(func, inputs, grad_outputs, eps, atol, rtol, seed)
    return _verdict(report, raise_exception)
