"""A tapegrad model and its torch twin trained side by side (torch is passed in)."""

from __future__ import annotations

from typing import Any

import numpy as np

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad import nn


def make_model(dtype: tg.dtype = tg.float32) -> nn.Sequential:
    """A small tanh MLP with a seeded init."""
    return nn.Sequential(nn.Linear(3, 8, dtype=dtype), nn.Tanh(), nn.Linear(8, 1, dtype=dtype))


def make_data(dtype: tg.dtype = tg.float32) -> tuple[tg.Tensor, tg.Tensor]:
    """Fixed regression data."""
    gen = np.random.default_rng(1)
    x = gen.standard_normal((16, 3))
    y = np.sin(x.sum(1, keepdims=True))
    return tg.tensor(x, dtype=dtype), tg.tensor(y, dtype=dtype)


def torch_twin(torch: Any, model: nn.Module) -> Any:
    """The same architecture in torch, holding a copy of ``model``'s weights."""
    dtype = getattr(torch, model[0].weight.dtype.name)
    twin = torch.nn.Sequential(
        torch.nn.Linear(3, 8, dtype=dtype), torch.nn.Tanh(), torch.nn.Linear(8, 1, dtype=dtype)
    )
    twin.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}
    )
    return twin


def train_step(model: nn.Module, opt: Any, x: tg.Tensor, y: tg.Tensor) -> float:
    """Zero the grads, backpropagate the MSE loss and step."""
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def torch_step(torch: Any, model: Any, opt: Any, x: tg.Tensor, y: tg.Tensor) -> float:
    """The same step in torch."""
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(
        model(torch.from_numpy(x.detach().numpy())), torch.from_numpy(y.detach().numpy())
    )
    loss.backward()
    opt.step()
    return loss.item()


def max_param_diff(model: nn.Module, twin: Any) -> float:
    """Largest absolute difference between corresponding parameters."""
    theirs = twin.state_dict()
    return max(
        float(np.abs(v.numpy() - theirs[k].numpy()).max()) for k, v in model.state_dict().items()
    )


def tolerance(dtype: tg.dtype) -> float:
    """What "follows torch" means: 1e-5 in float32, 1e-10 in float64."""
    return 1e-10 if dtype is tg.float64 else 1e-5
