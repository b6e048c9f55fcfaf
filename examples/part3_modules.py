"""Part 3 of the series: modules. Layers replace the hand-made weights.

``nn.Sequential`` chains ``nn.Linear`` (weights and bias created and initialized for us) and
``nn.ReLU``; ``nn.MSELoss`` computes the loss. The update is still written by hand, looping
over ``model.parameters()`` under ``no_grad()``; ``model.zero_grad()`` resets the gradients.

Run: python examples/part3_modules.py
"""

from __future__ import annotations

import tapegrad as tg
import tapegrad.nn as nn

EPOCHS = 200
PRINT_EVERY = 10
d_in, d_hidden, d_out, n = 3, 32, 1, 100


def main() -> None:
    """Train the same network built from modules, printing the loss every 10 epochs."""
    tg.manual_seed(777)
    x = tg.randn(n, d_in)
    y = x[:, 0:1] * 0.2 - x[:, 1:2] * 1.3 - x[:, 2:3] * 0.5 + tg.randn(n, 1)

    model = nn.Sequential(
        nn.Linear(d_in, d_hidden),
        nn.ReLU(),
        nn.Linear(d_hidden, d_out),
    )
    loss_fn = nn.MSELoss(reduction="sum")
    learning_rate = 1e-4

    for t in range(1, EPOCHS + 1):
        ### -------- Forward pass --------
        y_pred = model(x)
        ### -------- compute loss --------
        loss = loss_fn(y_pred, y)
        if t % PRINT_EVERY == 0:
            print(f"Epoch: {t:3d}   Loss: {loss.item():.4f}")
        ### -------- Backpropagation --------
        model.zero_grad()
        loss.backward()
        ### -------- Update weights --------
        with tg.no_grad():
            for param in model.parameters():
                param.sub_(learning_rate * param.grad)


if __name__ == "__main__":
    main()
