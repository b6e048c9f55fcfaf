"""Optimizers in ``torch.optim``'s vocabulary; updates run in place under ``no_grad``."""

from tapegrad.optim.adam import Adam
from tapegrad.optim.optimizer import Optimizer
from tapegrad.optim.sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD"]
