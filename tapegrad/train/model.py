"""What a config trains: the network (``model.*``), its loss (``train.loss``), its state."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def sse_loss(y_pred: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
    """The blog's loss: the sum of squared errors."""
    return ((y_pred - y) ** 2).sum()


LOSSES: dict[str, Callable[[tg.Tensor, tg.Tensor], tg.Tensor]] = {
    "sse": sse_loss,
    "mse": F.mse_loss,
    "cross_entropy": F.cross_entropy,
}

#: How a batch loss becomes the epoch loss: sse adds up, means are weighted by batch size.
SUMMED_LOSSES = {"sse"}


def build_model(sizes: Sequence[int], activation: str, init: str) -> nn.Sequential:
    """``Linear`` layers of ``sizes`` with ``activation`` between them.

    ``init="normal"`` is the blog's: N(0,1) weights drawn as ``randn(in, out)`` layer by layer
    (the blog's ``w1``, ``w2``), zero biases. ``"torch"`` keeps ``nn.Linear``'s default.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    # Draw before building the layers, so the weights follow the data in the seeded stream
    # exactly as the blog's torch_randn calls do.
    drawn = [tg.randn(n_in, n_out) for n_in, n_out in pairs] if init == "normal" else []
    layers: list[nn.Module] = []
    for n_in, n_out in pairs:
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
    model = nn.Sequential(*layers[:-1])
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    with tg.no_grad():
        for layer, weight in zip(linears, drawn):
            layer.weight.copy_(weight.t())
            layer.bias.zero_()
    return model


def state_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's ``state_dict`` as plain numpy arrays (what ``model.npz`` holds)."""
    return {name: np.array(t.detach().numpy()) for name, t in model.state_dict().items()}
