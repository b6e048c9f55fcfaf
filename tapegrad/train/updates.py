"""Update rules: the blog's ``ManualUpdate`` (the default) or an ``optim`` optimizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad._flat import FlatGrads
from tapegrad.train.schema import Config


class ManualUpdate:
    """The blog's update: ``p.sub_(lr * p.grad)`` under ``no_grad``, then zero the gradients.

    The gradients live in one flat buffer (each ``p.grad`` a view of it), so the update costs
    a few numpy calls whatever the number of parameters. A ``.grad`` replaced from outside
    makes the buffer be rebuilt; parameters it cannot stand behind (mixed dtypes, frozen)
    take the per-parameter path.
    """

    def __init__(self, params: Sequence[tg.Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr
        self._flat = FlatGrads.for_params(self.params)

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


def make_updater(model: nn.Module, config: Config) -> Any:
    """The configured update rule: ``ManualUpdate``, ``optim.SGD`` or ``optim.Adam``."""
    name, lr, params = config["train.optimizer"], config["train.lr"], list(model.parameters())
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config["train.momentum"])
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(config["train.betas"]))
    return ManualUpdate(params, lr)
