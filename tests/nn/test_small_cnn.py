"""A small CNN learns a synthetic image task: 16x16 drawings of squares, crosses and circles.

conv(1->8, 3x3, padding 1) -> ReLU -> max_pool 2 -> conv(8->16, 3x3) -> ReLU -> flatten ->
linear(3), cross-entropy, Adam. The images are drawn with random size, position and noise
(seeded), so the net must learn shape, not a fixed pattern; chance is 1/3.
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.nn import functional as F

SIZE = 16


def draw(kind: int, rng: np.random.Generator) -> np.ndarray:
    """One noisy 16x16 image: 0 a square outline, 1 a cross, 2 a circle outline."""
    img = np.zeros((SIZE, SIZE))
    r = int(rng.integers(3, 6))
    cy, cx = rng.integers(r + 1, SIZE - r - 1, size=2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    dy, dx = yy - cy, xx - cx
    if kind == 0:
        img[(np.maximum(abs(dy), abs(dx)) == r)] = 1.0
    elif kind == 1:
        img[((dy == 0) | (dx == 0)) & (abs(dy) <= r) & (abs(dx) <= r)] = 1.0
    else:
        img[np.abs(np.hypot(dy, dx) - r) < 0.6] = 1.0
    return img + 0.3 * rng.standard_normal((SIZE, SIZE))


def dataset(n: int, seed: int) -> tuple[tg.Tensor, tg.Tensor]:
    """``n`` images (n, 1, 16, 16) float32 and their labels (n,) int64."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = np.stack([draw(int(k), rng) for k in labels])[:, None].astype(np.float32)
    return tg.tensor(images), tg.tensor(labels)


class SmallCNN(nn.Module):
    """conv -> relu -> max_pool -> conv -> relu -> flatten -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc = nn.Linear(16 * 6 * 6, 3)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        h = self.pool(F.relu(self.conv1(x)))
        h = F.relu(self.conv2(h))
        return self.fc(h.flatten(1))


def accuracy(model: nn.Module, x: tg.Tensor, y: tg.Tensor) -> float:
    with tg.no_grad():
        return float((model(x).argmax(1) == y).float().mean().item())


def test_small_cnn_learns_drawn_shapes() -> None:
    tg.manual_seed(0)
    x_train, y_train = dataset(600, seed=1)
    x_test, y_test = dataset(300, seed=2)
    model = SmallCNN()
    opt = optim.Adam(model.parameters(), lr=0.01)
    before = accuracy(model, x_test, y_test)
    order = np.random.default_rng(3)
    for _ in range(8):  # epochs
        perm = order.permutation(600)
        for start in range(0, 600, 50):
            idx = tg.tensor(perm[start : start + 50])
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = accuracy(model, x_test, y_test)
    assert before < 0.5
    assert after > 0.85, f"test accuracy {after:.2f} (was {before:.2f})"
