"""The ops layer: every tensor operation, declared once in the file of its family.

Importing it declares them all, binds the methods and operators onto Tensor, and hands the
recorded-backward namespace down to ``Op``. ``FUNCTIONS`` and ``FUNCTIONAL`` are the
``tapegrad.<name>`` and ``nn.functional.<name>`` forms made from the declarations.
"""

# The families, in the order the registry lists their entries.
from tapegrad.ops import (  # noqa: I001
    arithmetic,
    division,
    power,
    pointwise,
    compare,
    reduce,
    softmax,
    linalg,
    loss,
    loss_more,
    loss_entropy,
    loss_margin,
    shape,
    indexing,
    copying,
    conversion,
    trig,
    special,
    rounding,
    logical,
    statistics,
    variance,
    norms,
    scan,
    sorting,
    gather,
    scatter_reduce,
    index_ops,
    masked,
    rearrange,
    splitting,
    triangular,
    einsum,
    padding,
    activation,
    activation_piecewise,
    conv,
    pooling,
    avg_pool,
    interpolate,
    normalization,
    dropout,
    attention,
    embedding,
)
from tapegrad.ops.base import register_tensor_namespace
from tapegrad.ops.declare import bind_methods, function_forms, functional_forms
from tapegrad.ops.tensor_namespace import TensorNamespace
from tapegrad.tensor import Tensor

bind_methods(Tensor)
register_tensor_namespace(TensorNamespace())
FUNCTIONS = function_forms()
FUNCTIONAL = functional_forms()
