"""Part 4 of the series: optimizers. ``optim.Adam`` does the update.

The loop is now the one every framework shares: forward, loss, ``optimizer.zero_grad()``,
``loss.backward()``, ``optimizer.step()``. Adam adapts a step size per parameter, so a much
larger learning rate than part 3's works.

Run: python examples/part4_optimizers.py
"""

from __future__ import annotations

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.optim as optim

EPOCHS = 200
PRINT_EVERY = 10
d_in, d_hidden, d_out, n = 3, 32, 1, 100


def main() -> None:
    """Train the module network with Adam, printing the loss every 10 epochs."""
    tg.manual_seed(777)
    x = tg.randn(n, d_in)
    y = x[:, 0:1] * 0.2 - x[:, 1:2] * 1.3 - x[:, 2:3] * 0.5 + tg.randn(n, 1)

    model = nn.Sequential(
        nn.Linear(d_in, d_hidden),
        nn.ReLU(),
        nn.Linear(d_hidden, d_out),
    )
    loss_fn = nn.MSELoss(reduction="sum")
    optimizer = optim.Adam(model.parameters(), lr=0.08)

    for t in range(1, EPOCHS + 1):
        ### -------- Forward pass --------
        y_pred = model(x)
        ### -------- compute loss --------
        loss = loss_fn(y_pred, y)
        if t % PRINT_EVERY == 0:
            print(f"Epoch: {t:3d}   Loss: {loss.item():.4f}")
        ### -------- Backpropagation --------
        # still needed: the gradients accumulate unless zeroed
        optimizer.zero_grad()
        loss.backward()
        ### -------- Update weights --------
        optimizer.step()


if __name__ == "__main__":
    main()
