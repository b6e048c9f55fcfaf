"""A small CNN learns to tell drawn squares, crosses and circles apart.

Each 16x16 image holds one shape outline of random size and position, plus noise. The net is
conv(1->8, 3x3, padding 1) -> ReLU -> max_pool 2 -> conv(8->16, 3x3) -> ReLU -> flatten ->
linear(3), trained with cross-entropy and Adam; test accuracy climbs from chance (1/3) to
above 90% in a few seconds.

Run: python examples/small_cnn.py
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
import tapegrad.optim as optim

SIZE, EPOCHS, BATCH = 16, 8, 50
SHAPES = ("square", "cross", "circle")


def draw(kind: int, rng: np.random.Generator) -> np.ndarray:
    """One noisy 16x16 image of shape ``SHAPES[kind]``."""
    img = np.zeros((SIZE, SIZE))
    r = int(rng.integers(3, 6))
    cy, cx = rng.integers(r + 1, SIZE - r - 1, size=2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    dy, dx = yy - cy, xx - cx
    if kind == 0:
        img[np.maximum(abs(dy), abs(dx)) == r] = 1.0
    elif kind == 1:
        img[((dy == 0) | (dx == 0)) & (abs(dy) <= r) & (abs(dx) <= r)] = 1.0
    else:
        img[np.abs(np.hypot(dy, dx) - r) < 0.6] = 1.0
    return img + 0.3 * rng.standard_normal((SIZE, SIZE))


def dataset(n: int, seed: int) -> tuple[tg.Tensor, tg.Tensor]:
    """``n`` images (n, 1, 16, 16) and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES), n)
    images = np.stack([draw(int(k), rng) for k in labels])[:, None].astype(np.float32)
    return tg.tensor(images), tg.tensor(labels)


def main() -> None:
    """Train for a few epochs, printing the loss and the test accuracy."""
    tg.manual_seed(0)
    x_train, y_train = dataset(600, seed=1)
    x_test, y_test = dataset(300, seed=2)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 6 * 6, len(SHAPES)),
    )
    opt = optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(3)
    for epoch in range(EPOCHS):
        perm = rng.permutation(len(y_train))
        for start in range(0, len(perm), BATCH):
            idx = tg.tensor(perm[start : start + BATCH])
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with tg.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"Epoch: {epoch}  Loss: {loss.item():.4f}  Test accuracy: {acc:.1%}")


if __name__ == "__main__":
    main()
