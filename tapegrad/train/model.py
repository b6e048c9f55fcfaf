"""What a config trains: the network (``model.*``), its loss (``train.loss``), its state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "celu": nn.CELU,
    "softplus": nn.Softplus,
    "mish": nn.Mish,
    "hardswish": nn.Hardswish,
}

#: ``model.norm``: the layer put after each hidden ``Linear`` (none: nothing).
NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}
#: state_dict entries that are integer counters, not float32 arrays.
INTEGER_BUFFERS = ("num_batches_tracked",)


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


def build_model(
    sizes: Sequence[int], activation: str, init: str, dropout: float = 0.0, norm: str = "none"
) -> nn.Sequential:
    """``Linear`` layers of ``sizes``; after each hidden one: ``norm`` (if not none), the
    ``activation`` and ``Dropout(dropout)`` (if > 0).

    ``init="normal"`` is the blog's: N(0,1) weights drawn as ``randn(in, out)`` layer by layer
    (the blog's ``w1``, ``w2``), zero biases. ``"torch"`` keeps ``nn.Linear``'s default.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    # Draw before building the layers, so the weights follow the data in the seeded stream
    # exactly as the blog's torch_randn calls do.
    drawn = [tg.randn(n_in, n_out) for n_in, n_out in pairs] if init == "normal" else []
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(pairs):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(pairs) - 1:
            layers += _hidden_block(n_out, activation, dropout, norm)
    model = nn.Sequential(*layers)
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    with tg.no_grad():
        for layer, weight in zip(linears, drawn):
            layer.weight.copy_(weight.t())
            layer.bias.zero_()
    return model


def _hidden_block(width: int, activation: str, dropout: float, norm: str) -> list[nn.Module]:
    block = [NORMS[norm](width)] if norm != "none" else []
    block.append(ACTIVATIONS[activation]())
    if dropout > 0:
        block.append(nn.Dropout(dropout))
    return block


def model_from_config(sizes: Sequence[int], config: Any) -> nn.Sequential:
    """``build_model`` with the config's ``model.*`` options."""
    return build_model(
        sizes,
        config["model.activation"],
        config["model.init"],
        config.get("model.dropout", 0.0),
        config.get("model.norm", "none"),
    )


def block_size(config: Any) -> int:
    """Modules per hidden layer in the ``Sequential`` (Linear, norm, activation, dropout)."""
    norm = config.get("model.norm", "none") != "none"
    return 2 + int(norm) + int(config.get("model.dropout", 0.0) > 0)


def layout(config: Any, sizes: Sequence[int]) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """The ``state_dict`` shapes of the config's model for layer ``sizes``, in order, and the
    keys that are parameters (the rest are norm buffers)."""
    step, norm = block_size(config), config.get("model.norm", "none")
    shapes: dict[str, tuple[int, ...]] = {}
    params: list[str] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        base = step * i
        shapes[f"{base}.weight"], shapes[f"{base}.bias"] = (n_out, n_in), (n_out,)
        params += [f"{base}.weight", f"{base}.bias"]
        if i == len(sizes) - 2 or norm == "none":
            continue
        shapes[f"{base + 1}.weight"] = shapes[f"{base + 1}.bias"] = (n_out,)
        params += [f"{base + 1}.weight", f"{base + 1}.bias"]
        if norm == "batch":
            shapes[f"{base + 1}.running_mean"] = shapes[f"{base + 1}.running_var"] = (n_out,)
            shapes[f"{base + 1}.num_batches_tracked"] = ()
    return shapes, params


def parameter_count(config: Any) -> int:
    """How many parameter tensors the config's model has (the optimizer's state indices)."""
    hidden = len(config["model.hidden"])
    norm = config.get("model.norm", "none") != "none"
    return 2 * (hidden + 1) + (2 * hidden if norm else 0)


def state_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's ``state_dict`` as plain numpy arrays (what ``model.npz`` holds)."""
    return {name: np.array(t.detach().numpy()) for name, t in model.state_dict().items()}
