"""Run a tapegrad optimizer and its torch.optim twin side by side on copied weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad import nn

#: "Follows torch": relative tolerance per dtype, and an absolute floor for values near 0.
RTOL = {"float32": 1e-6, "float64": 1e-12}
ATOL = {"float32": 1e-7, "float64": 1e-14}


def make_pair(torch: Any, dtype: str = "float32", seed: int = 0) -> tuple[nn.Module, Any]:
    """A small tanh MLP (3 -> 8 -> 2) in tapegrad and the same weights in torch."""
    tg.manual_seed(seed)
    tdt = getattr(tg, dtype)
    model = nn.Sequential(nn.Linear(3, 8, dtype=tdt), nn.Tanh(), nn.Linear(8, 2, dtype=tdt))
    pdt = getattr(torch, dtype)
    twin = torch.nn.Sequential(
        torch.nn.Linear(3, 8, dtype=pdt), torch.nn.Tanh(), torch.nn.Linear(8, 2, dtype=pdt)
    )
    twin.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}
    )
    return model, twin


def batch(step: int, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """A different fixed regression batch at each step."""
    gen = np.random.default_rng(100 + step)
    x = gen.standard_normal((16, 3)).astype(dtype)
    y = np.stack([np.sin(x.sum(1)), np.cos(x[:, 0])], 1).astype(dtype)
    return x, y


def step_both(torch: Any, model: Any, twin: Any, opt: Any, topt: Any, step: int) -> None:
    """One zero_grad / MSE backward / step in tapegrad; torch's step gets the same gradients,
    so any difference is the optimizers' own."""
    x, y = batch(step, str(next(model.parameters()).dtype).split(".")[-1])
    opt.zero_grad()
    F.mse_loss(model(tg.tensor(x)), tg.tensor(y)).backward()
    topt.zero_grad()
    for p, q in zip(model.parameters(), twin.parameters()):
        q.grad = torch.from_numpy(p.grad.numpy().copy())
    opt.step()
    topt.step()


def assert_same_params(model: Any, twin: Any, dtype: str, what: str = "") -> None:
    """Every parameter equal to torch's within the dtype's tolerance."""
    theirs = twin.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(
            value.numpy(),
            theirs[name].numpy(),
            rtol=RTOL[dtype],
            atol=ATOL[dtype],
            err_msg=f"{name} {what}",
        )


def follow(
    torch: Any,
    make: Callable[[Any], Any],
    make_torch: Callable[[Any], Any],
    dtype: str = "float32",
    steps: int = 12,
) -> tuple[Any, Any]:
    """Build both optimizers on a fresh pair and compare the parameters after every step."""
    model, twin = make_pair(torch, dtype)
    opt, topt = make(model), make_torch(twin)
    for step in range(steps):
        step_both(torch, model, twin, opt, topt, step)
        assert_same_params(model, twin, dtype, f"after step {step + 1}")
    return opt, topt


def as_arrays(state_dict: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state dict as a checkpoint holds it: buffers copied to numpy arrays."""
    state = {
        i: {k: v.numpy().copy() if hasattr(v, "numpy") else v for k, v in s.items()}
        for i, s in state_dict["state"].items()
    }
    return {"state": state, "param_groups": state_dict["param_groups"]}


def assert_resume_is_exact(torch: Any, make: Callable[[Any], Any], steps: int = 6) -> None:
    """Stopping after ``steps``, saving the state dict and loading it into a fresh optimizer
    on a fresh model continues exactly as the uninterrupted run."""
    straight, _ = make_pair(torch)
    first, _ = make_pair(torch)
    opt_straight, opt_first = make(straight), make(first)
    for step in range(steps):
        _step(straight, opt_straight, step)
        _step(first, opt_first, step)
    saved = as_arrays(opt_first.state_dict())
    resumed, _ = make_pair(torch, seed=1)
    resumed.load_state_dict({k: v.numpy().copy() for k, v in first.state_dict().items()})
    opt_resumed = make(resumed)
    opt_resumed.load_state_dict(saved)
    for step in range(steps, 2 * steps):
        _step(straight, opt_straight, step)
        _step(resumed, opt_resumed, step)
    for (_, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _step(model: Any, opt: Any, step: int) -> None:
    x, y = batch(step)
    opt.zero_grad()
    F.mse_loss(model(tg.tensor(x)), tg.tensor(y)).backward()
    opt.step()


def assert_state_dict_like_torch(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same layout, hyperparameters and buffers as torch's state dict (``step`` is an int
    here, a 0-d float tensor there)."""
    assert ours["param_groups"] == theirs["param_groups"]
    assert list(ours["state"]) == list(theirs["state"])
    for index, entries in ours["state"].items():
        assert list(entries) == list(theirs["state"][index])
        for key, value in entries.items():
            other = theirs["state"][index][key]
            if key == "step":
                assert value == other.item()
            else:
                np.testing.assert_allclose(value.numpy(), other.numpy(), rtol=1e-6, atol=1e-7)
