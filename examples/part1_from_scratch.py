"""Part 1 of the series: a network coded from scratch, with nothing but tensors.

Forward pass, loss, gradients and weight updates are all written by hand: the gradients come
from the chain rule, applied to each layer in turn (backpropagation). Part 2 lets autograd
compute them instead, from the same data and weights: it prints the same losses.

Run: python examples/part1_from_scratch.py
"""

from __future__ import annotations

import tapegrad as tg

EPOCHS = 200
PRINT_EVERY = 10


def make_data(n: int = 100, d_in: int = 3) -> tuple[tg.Tensor, tg.Tensor]:
    """The series' data: y = 0.2 x1 - 1.3 x2 - 0.5 x3 + noise."""
    x = tg.randn(n, d_in)
    y = x[:, 0:1] * 0.2 - x[:, 1:2] * 1.3 - x[:, 2:3] * 0.5 + tg.randn(n, 1)
    return x, y


def init_weights(d_in: int = 3, d_hidden: int = 32, d_out: int = 1) -> list[tg.Tensor]:
    """w1, b1, w2, b2: random weights, zero biases (no gradients tracked: we compute them)."""
    w1 = tg.randn(d_in, d_hidden)
    w2 = tg.randn(d_hidden, d_out)
    b1 = tg.zeros(1, d_hidden)
    b2 = tg.zeros(1, d_out)
    return [w1, b1, w2, b2]


def main() -> None:
    """Train for 200 epochs, printing the loss every 10."""
    tg.manual_seed(777)
    x, y = make_data()
    w1, b1, w2, b2 = init_weights()
    learning_rate = 1e-4
    for epoch in range(1, EPOCHS + 1):
        # -------- forward pass --------
        h = x.mm(w1).add(b1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2).add(b2)
        # -------- loss --------
        loss = (y_pred - y).pow(2).sum()
        if epoch % PRINT_EVERY == 0:
            print(f"Epoch: {epoch:3d}   Loss: {loss.item():.4f}")
        # -------- backpropagation: the chain rule, layer by layer --------
        grad_y_pred = 2 * (y_pred - y)  # d loss / d y_pred
        # a bias gradient sums over the rows: a product with a row of ones, as tapegrad's
        # engine computes it too (so part 2 prints the very same digits)
        ones = tg.ones(1, x.shape[0])
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_b2 = ones.mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu * (h >= 0)  # clamp lets the gradient through where h >= 0
        grad_w1 = x.t().mm(grad_h)
        grad_b1 = ones.mm(grad_h)
        # -------- update weights --------
        w1.sub_(learning_rate * grad_w1)
        b1.sub_(learning_rate * grad_b1)
        w2.sub_(learning_rate * grad_w2)
        b2.sub_(learning_rate * grad_b2)


if __name__ == "__main__":
    main()
