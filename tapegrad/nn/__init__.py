"""Neural-network building blocks in ``torch.nn``'s vocabulary."""

from tapegrad.nn import functional, init
from tapegrad.nn.layers import Linear, ReLU, Sequential, Sigmoid, Tanh
from tapegrad.nn.losses import CrossEntropyLoss, MSELoss
from tapegrad.nn.module import Module, ModuleDict, ModuleList
from tapegrad.nn.parameter import Parameter

__all__ = [
    "CrossEntropyLoss",
    "Linear",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "init",
]
