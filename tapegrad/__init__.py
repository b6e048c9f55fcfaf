"""tapegrad: reverse-mode automatic differentiation on numpy, in PyTorch's vocabulary."""

from __future__ import annotations

import warnings as _warnings

# _startup first: the command's signal handling (see there). Then, as in PyTorch, the
# subpackages (tapegrad.nn.Linear, tapegrad.optim.SGD, tapegrad.autograd.graph.walk); none of
# them imports click, rich or yaml.
from tapegrad import (
    _startup,  # noqa: F401
    autograd,
    cuda,
    nn,
    optim,
)
from tapegrad import ops as _ops
from tapegrad._device import device
from tapegrad._dtypes import (
    bool,  # noqa: A004
    double,
    dtype,
    float,  # noqa: A004
    float16,
    float32,
    float64,
    half,
    int,  # noqa: A004
    int8,
    int16,
    int32,
    int64,
    long,
    uint8,
)
from tapegrad.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tapegrad.autograd import graph as _graph  # noqa: F401
from tapegrad.factories import (
    arange,
    default_generator,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    logspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from tapegrad.inplace import foreach_sub_ as _foreach_sub_
from tapegrad.inplace import foreach_zero_ as _foreach_zero_
from tapegrad.replay import compile  # noqa: A004 - torch's name
from tapegrad.serialization import load, save
from tapegrad.tensor import Tensor

# The function forms of the ops (tapegrad.exp, tapegrad.cat...), made from their declarations.
globals().update(_ops.FUNCTIONS)

__version__ = "0.1.0"

# PyTorch computes log(0) = -inf, 1/0 = inf, 0/0 = nan silently; numpy warns about each,
# pointing into tapegrad's ops. This filter silences exactly those floating-point warnings
# raised from tapegrad's own modules (a user's numpy code still warns); an errstate around
# every op would cost about 1 us an op.
_warnings.filterwarnings(
    "ignore",
    r"(divide by zero|overflow|invalid value|underflow) encountered",
    RuntimeWarning,
    r"tapegrad\.",
)
