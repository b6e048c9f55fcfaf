"""Update rules: the blog's ``ManualUpdate`` (the default) or an ``optim`` optimizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad._flat import FlatGrads
from tapegrad.replay import replayed_by_calling
from tapegrad.train.schema import Config


class ManualUpdate:
    """The blog's update: ``p.sub_(lr * p.grad)`` under ``no_grad``, then zero the gradients.

    The gradients live in one flat buffer (each ``p.grad`` a view of it), so the update costs
    a few numpy calls whatever the number of parameters. A ``.grad`` replaced from outside
    makes the buffer be rebuilt; parameters it cannot stand behind (mixed dtypes, frozen)
    take the per-parameter path.
    """

    # a compiled step's replay calls ``step`` again, which reads the rate, the parameters and
    # the flat buffer (checking it is intact) when it runs
    _replay_read_when_run = ("param_groups", "params", "_flat")

    def __init__(self, params: Sequence[tg.Tensor], lr: float) -> None:
        self.params = list(params)
        # One group, as an optimizer's: a schedule (``train.schedule``) sets its ``lr``.
        self.param_groups: list[dict[str, Any]] = [{"lr": lr}]
        self._flat = FlatGrads.for_params(self.params)

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return float(self.param_groups[0]["lr"])

    def step(self) -> None:
        """Move every parameter against its gradient and zero the gradient."""
        if self._flat is not None and not self._flat.intact():
            self._flat = FlatGrads.for_params(self.params)
        if self._flat is not None:
            self._flat.sgd_step(self.lr)
            return
        with tg.no_grad():
            grads = [p.grad for p in self.params]
            # = p.sub_(lr * p.grad) and p.grad.zero_() for each p, in one call each
            tg._foreach_sub_(self.params, grads, alpha=self.lr)
            tg._foreach_zero_(grads)

    def zero_grad(self) -> None:
        """Nothing to do: ``step`` already zeroed the gradients, as the blog does."""


replayed_by_calling(ManualUpdate, "step")


def make_updater(model: nn.Module, config: Config) -> Any:
    """The configured update rule: ``ManualUpdate`` or an ``optim`` optimizer."""
    name, lr, params = config["train.optimizer"], config["train.lr"], list(model.parameters())
    if name == "manual":
        return ManualUpdate(params, lr)
    options: dict[str, Any] = {"lr": lr}
    if config.get("train.weight_decay") is not None:
        options["weight_decay"] = config["train.weight_decay"]
    if name in ("sgd", "rmsprop"):
        options["momentum"] = config["train.momentum"]
    if name in ("adam", "adamw"):
        options["betas"] = tuple(config["train.betas"])
    return OPTIMIZERS[name](params, **options)


OPTIMIZERS: dict[str, type[optim.Optimizer]] = {
    "sgd": optim.SGD,
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "rmsprop": optim.RMSprop,
    "adagrad": optim.Adagrad,
}
