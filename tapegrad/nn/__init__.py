"""Neural-network building blocks in ``torch.nn``'s vocabulary."""

from tapegrad.nn import (
    activation,
    attention,
    conv,
    dropout,
    functional,
    init,
    normalization,
    pooling,
    sparse,
    utils,
)
from tapegrad.nn.activation import *  # noqa: F403
from tapegrad.nn.attention import *  # noqa: F403
from tapegrad.nn.conv import *  # noqa: F403
from tapegrad.nn.dropout import *  # noqa: F403
from tapegrad.nn.layers import Linear, ReLU, Sequential, Sigmoid, Tanh
from tapegrad.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
)
from tapegrad.nn.module import Module, ModuleDict, ModuleList
from tapegrad.nn.normalization import *  # noqa: F403
from tapegrad.nn.parameter import Parameter
from tapegrad.nn.pooling import *  # noqa: F403
from tapegrad.nn.sparse import *  # noqa: F403

# Each module's __all__ adds its names (the modules of the layers issue).
__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "Linear",
    "MSELoss",
    "MarginRankingLoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "Tanh",
    "functional",
    "init",
    "utils",
]
__all__ += [
    name
    for module in (activation, attention, conv, dropout, normalization, pooling, sparse)
    for name in module.__all__
]
