"""Stateless layer and loss functions (``torch.nn.functional``).

Each is declared once, beside its op, in ``tapegrad.ops`` (``declare(functional=True)``):
activations in ``ops/pointwise.py`` and ``ops/softmax.py``, ``linear`` in ``ops/linalg.py``,
the losses in ``ops/loss.py``. This module gathers them.
"""

from tapegrad.ops import FUNCTIONAL as _FUNCTIONAL

globals().update(_FUNCTIONAL)
