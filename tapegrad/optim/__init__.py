"""Optimizers and learning-rate schedules in ``torch.optim``'s vocabulary; updates run in place
under ``no_grad``."""

from tapegrad.optim import lr_scheduler
from tapegrad.optim.adagrad import Adagrad
from tapegrad.optim.adam import Adam, AdamW
from tapegrad.optim.optimizer import Optimizer
from tapegrad.optim.rmsprop import RMSprop
from tapegrad.optim.sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
