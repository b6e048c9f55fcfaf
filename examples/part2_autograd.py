"""Part 2 of the series (the seed post): the same network, gradients by autograd.

The weights are created with ``requires_grad=True``, so every operation on them is recorded;
``loss.backward()`` then fills each weight's ``.grad``. The update is done under
``no_grad()`` (it must not be recorded), and the gradients are zeroed afterwards (they
accumulate). Same seed, data and weights as part 1: the same losses.

Run: python examples/part2_autograd.py
"""

from __future__ import annotations

import tapegrad as tg

EPOCHS = 200
PRINT_EVERY = 10

### generate training data -----------------------------------------------------
d_in = 3  # input dimensionality (number of input features)
d_out = 1  # output dimensionality (number of predicted features)
n = 100  # number of observations in training set


def main() -> None:
    """The seed's training loop, line for line."""
    tg.manual_seed(777)
    # create random data
    x = tg.randn(n, d_in)
    y = x[:, 0:1] * 0.2 - x[:, 1:2] * 1.3 - x[:, 2:3] * 0.5 + tg.randn(n, 1)

    ### initialize weights ---------------------------------------------------------
    d_hidden = 32  # dimensionality of hidden layer
    w1 = tg.randn(d_in, d_hidden, requires_grad=True)  # input to hidden layer
    w2 = tg.randn(d_hidden, d_out, requires_grad=True)  # hidden to output layer
    b1 = tg.zeros(1, d_hidden, requires_grad=True)  # hidden layer bias
    b2 = tg.zeros(1, d_out, requires_grad=True)  # output layer bias

    ### network parameters ---------------------------------------------------------
    learning_rate = 1e-4

    ### training loop --------------------------------------------------------------
    for t in range(1, EPOCHS + 1):
        ### -------- Forward pass --------
        y_pred = x.mm(w1).add(b1).clamp(min=0).mm(w2).add(b2)
        ### -------- compute loss --------
        loss = (y_pred - y).pow(2).sum()
        if t % PRINT_EVERY == 0:
            print(f"Epoch: {t:3d}   Loss: {loss.item():.4f}")
        ### -------- Backpropagation --------
        # compute gradient of loss w.r.t. all tensors with requires_grad=True
        loss.backward()
        ### -------- Update weights --------
        # wrapped in no_grad() because this is a part we DON'T want to record
        with tg.no_grad():
            w1.sub_(learning_rate * w1.grad)
            w2.sub_(learning_rate * w2.grad)
            b1.sub_(learning_rate * b1.grad)
            b2.sub_(learning_rate * b2.grad)
            # zero gradients after every pass, as they'd accumulate otherwise
            w1.grad.zero_()
            w2.grad.zero_()
            b1.grad.zero_()
            b2.grad.zero_()


if __name__ == "__main__":
    main()
