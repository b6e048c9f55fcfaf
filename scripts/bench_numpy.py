"""The hand-written numpy baseline for ``scripts/bench.py``: manual backprop, no graph.

This is the floor every engine is measured against. It does the same math as the autograd
implementations (``x @ W.T + b`` per layer, ReLU or tanh between layers, a sum or mean squared
error loss, plain SGD) with the same BLAS calls, and nothing else: no graph, no nodes, no
gradient buffers beyond what backprop needs. It is written the way a careful numpy programmer
would write it, so it uses in-place updates where they are free (bias add, activation, mask
multiply, weight update), and keeps everything in float32.

Layout follows ``torch.nn.Linear``: each weight is ``(out_features, in_features)`` and each bias
``(out_features,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("relu", "tanh")
LOSSES = ("sum", "mse")
_TWO = np.float32(2.0)
_ONE = np.float32(1.0)


def _activate(z: np.ndarray, activation: str) -> None:
    """Apply the activation in place."""
    if activation == "relu":
        np.maximum(z, 0, out=z)
    else:
        np.tanh(z, out=z)


def _activation_grad(g: np.ndarray, a: np.ndarray, activation: str) -> None:
    """Multiply ``g`` in place by the activation's derivative, given its output ``a``.

    relu'(0) = 0 as in PyTorch; tanh' = 1 - tanh^2.
    """
    if activation == "relu":
        np.multiply(g, a > 0, out=g)
    else:
        g *= _ONE - a * a


@dataclass
class NumpyMLP:
    """A multilayer perceptron with hand-written forward, loss, backward and SGD step."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str = "relu"
    loss: str = "sum"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")

    @classmethod
    def from_arrays(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        activation: str,
        loss: str,
    ) -> NumpyMLP:
        """A model owning float32 copies of the given (out, in) weights and (out,) biases."""
        return cls(
            [np.array(w, dtype=np.float32) for w in weights],
            [np.array(b, dtype=np.float32) for b in biases],
            activation,
            loss,
        )

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output, input first: what backprop needs."""
        outputs = [x]
        last = len(self.weights) - 1
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T
            h += b
            if i < last:
                _activate(h, self.activation)
            outputs.append(h)
        return outputs

    def loss_and_grad(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss value and its gradient with respect to ``out``."""
        diff = out - y
        sq = float((diff * diff).sum())
        if self.loss == "sum":
            diff *= _TWO
            return sq, diff
        diff *= np.float32(2.0 / diff.size)
        return sq / diff.size, diff

    def backward(
        self, outputs: list[np.ndarray], g: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Weight and bias gradients, given the layer outputs and dLoss/dOutput."""
        n = len(self.weights)
        grad_w: list[np.ndarray] = [g] * n
        grad_b: list[np.ndarray] = [g] * n
        for i in reversed(range(n)):
            if i < n - 1:
                _activation_grad(g, outputs[i + 1], self.activation)
            grad_w[i] = g.T @ outputs[i]
            grad_b[i] = g.sum(axis=0)
            if i > 0:
                g = g @ self.weights[i]
        return grad_w, grad_b

    def step(self, grad_w: list[np.ndarray], grad_b: list[np.ndarray], lr: float) -> None:
        """Plain SGD, in place: ``p -= lr * grad``."""
        lr32 = np.float32(lr)
        for p, g in zip(self.weights, grad_w):
            p -= lr32 * g
        for p, g in zip(self.biases, grad_b):
            p -= lr32 * g

    def train(self, x: np.ndarray, y: np.ndarray, lr: float, epochs: int) -> tuple[float, float]:
        """Full-batch training; returns the loss of the first and of the last epoch."""
        first = last = float("nan")
        for epoch in range(epochs):
            outputs = self.forward(x)
            last, g = self.loss_and_grad(outputs[-1], y)
            grad_w, grad_b = self.backward(outputs, g)
            del outputs, g
            self.step(grad_w, grad_b, lr)
            if epoch == 0:
                first = last
        return first, last

    def dtypes(self) -> set[str]:
        """The dtype names of every parameter (all float32 unless something upcast)."""
        return {p.dtype.name for p in (*self.weights, *self.biases)}
