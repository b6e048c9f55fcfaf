"""The op registry: every differentiable op's registry entries, gathered from the op
declarations (``declare(tests=...)`` in each ``tapegrad/ops`` family file).

The tests parametrize over ``OPS`` and ``tapegrad gradcheck`` iterates over it. An entry's
``fn(ns, *tensors, **sample.kwargs)`` runs on ``tapegrad`` or ``torch`` alike (``ns``), which is
how the tests compare with PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad import _dtypes, factories
from tapegrad.ops import declare
from tapegrad.ops.samples import OpInfo, Sample

__all__ = ["OPS", "OpInfo", "Sample", "get_op", "sample_tensors", "torch_kwargs"]

OPS: list[OpInfo] = declare.registry()


def sample_tensors(
    sample: Sample, dtype: Any = None, requires_grad: bool = True
) -> tuple[Any, ...]:
    """The sample's arrays as fresh tapegrad leaves (float64 unless ``dtype`` is given)."""
    dtype = _dtypes.float64 if dtype is None else dtype
    return tuple(factories.tensor(a, dtype=dtype, requires_grad=requires_grad) for a in sample.args)


def get_op(name: str) -> OpInfo:
    """The registered op called ``name`` (KeyError listing close names otherwise)."""
    for op in OPS:
        if op.name == name:
            return op
    import difflib

    close = difflib.get_close_matches(name, [op.name for op in OPS], n=3)
    raise KeyError(
        f"no op named {name!r}" + (f"; did you mean {', '.join(close)}?" if close else "")
    )


def torch_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments with numpy arrays turned into torch tensors (for the oracle)."""
    import torch

    def convert(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v)
        if isinstance(v, tuple):
            return tuple(convert(x) for x in v)
        return v

    return {k: convert(v) for k, v in kwargs.items()}
