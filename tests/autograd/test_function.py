"""User-defined Functions, as torch.autograd.Function."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function, GradcheckError, gradcheck


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class ScaleBy(Function):
    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x  # should be 2 * x


def test_custom_function_gradient_and_node():
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn.name() == "CubeBackward"
    assert y.grad_fn.next_functions[0][0].variable is x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [3.0, 12.0])
    assert gradcheck(Cube.apply, (tg.randn(3, dtype=tg.float64, requires_grad=True),))


def test_custom_function_non_tensor_argument_and_needs_input_grad():
    x = tg.ones(2, requires_grad=True)
    y = ScaleBy.apply(x, 4.0)
    assert y.grad_fn.needs_input_grad == (True, False)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), [4.0, 4.0])


def test_wrong_backward_fails_gradcheck():
    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False
    with pytest.raises(GradcheckError, match="numerical: .*analytical"):
        gradcheck(WrongSquare.apply, (x,))


def test_wrong_number_of_gradients_is_reported():
    class TwoGrads(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    x = tg.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match="returned an incorrect number of gradients "
        r"\(expected 1, got 2\)",
    ):
        TwoGrads.apply(x).sum().backward()


def test_wrong_gradient_shape_is_reported():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return tg.ones(5)

    x = tg.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"returned an invalid gradient at index 0 - got \[5\] "
        r"but expected shape compatible with \[2\]",
    ):
        BadShape.apply(x).sum().backward()


def test_gradcheck_warns_on_float32():
    x = tg.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="not a double precision"):
        gradcheck(lambda a: a * 2, (x,), atol=1e-2, rtol=1e-2, eps=1e-3)


def test_non_tensor_arguments_get_no_edge_as_torch():
    torch = pytest.importorskip("torch")

    def run(lib):
        class Scaled(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, power, y):
                ctx.power = power
                return x**power + y

            @staticmethod
            def backward(ctx, g):
                return g * ctx.power, None, g

        x = lib.ones(2, requires_grad=True)
        out = Scaled.apply(x, 2.0, lib.ones(2))
        seen = []
        out.grad_fn.register_hook(lambda gi, go: seen.append(len(gi)))
        out.sum().backward()
        below = [n and n.name().split("::")[-1] for n, _ in out.grad_fn.next_functions]
        return below, seen, x.grad.tolist()

    assert run(tg) == run(torch)
