"""The losses of issue 19: warnings and errors in torch 2.13's words, each checked against
torch itself."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ------------------------------------------------------------------ warnings, errors


@pytest.mark.parametrize("name", ["l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss"])
def test_size_mismatch_warns_like_torch(name: str) -> None:
    with pytest.warns(UserWarning, match=r"Using a target size \(\[3, 1\]\) that is different"):
        out = getattr(F, name)(tg.randn(3), tg.randn(3, 1))
    assert out.shape == ()


def test_kl_div_mean_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(tg.randn(2, 3), tg.rand(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(tg.randn(2, 3), tg.rand(2, 3), reduction="batchmean")


ERRORS = [
    (
        lambda f, lib: f.smooth_l1_loss(lib.ones(2), lib.ones(2), beta=-1.0),
        RuntimeError,
        "smooth_l1_loss does not support negative values for beta.",
    ),
    (
        lambda f, lib: f.huber_loss(lib.ones(2), lib.ones(2), delta=0.0),
        RuntimeError,
        "huber_loss does not support non-positive values for delta.",
    ),
    (
        lambda f, lib: f.binary_cross_entropy(lib.ones(3) * 2, lib.ones(3)),
        RuntimeError,
        "all elements of input should be between 0 and 1",
    ),
    (
        lambda f, lib: f.binary_cross_entropy(lib.ones(3) / 2, lib.ones(3, 1)),
        ValueError,
        "is deprecated. Please ensure they have the same size.",
    ),
    (
        lambda f, lib: f.binary_cross_entropy(lib.ones(3) / 2, lib.tensor([1, 0, 1])),
        RuntimeError,
        "Found dtype Long but expected Float",
    ),
    (
        lambda f, lib: f.binary_cross_entropy_with_logits(lib.ones(3), lib.ones(3, 1)),
        ValueError,
        "must be the same as input size",
    ),
    (
        lambda f, lib: f.l1_loss(lib.ones(3), lib.ones(3), weight=lib.ones(2)),
        ValueError,
        "Weights and input must have the same size.",
    ),
    (
        lambda f, lib: f.l1_loss(lib.ones(3), lib.ones(3), reduction="avg"),
        ValueError,
        "avg is not a valid value for reduction",
    ),
    (
        lambda f, lib: f.kl_div(lib.ones(3), lib.ones(3), reduction="avg"),
        ValueError,
        "avg is not a valid value for reduction",
    ),
    (
        lambda f, lib: f.cross_entropy(lib.ones(2, 3), lib.tensor([0, 1]), label_smoothing=1.5),
        RuntimeError,
        r"label_smoothing must be between 0.0 and 1.0. Got: 1.5",
    ),
    (
        lambda f, lib: f.cross_entropy(lib.ones(2, 3), lib.ones(2, 3), ignore_index=1),
        RuntimeError,
        "ignore_index is not supported for floating point target",
    ),
    (
        lambda f, lib: f.nll_loss(lib.ones(2, 3), lib.tensor([0, 1]), lib.ones(2, 3)),
        RuntimeError,
        r"weight tensor should be defined either for all 3 classes or no classes but got weight "
        r"tensor of shape: \[2, 3\]",
    ),
    (
        lambda f, lib: f.nll_loss(lib.ones(2, 3).double(), lib.tensor([0, 1]), lib.ones(3)),
        RuntimeError,
        "expected scalar type Double but found Float",
    ),
    (
        lambda f, lib: f.binary_cross_entropy(
            lib.ones(3) / 2, lib.ones(3), lib.ones(3).requires_grad_()
        ),
        RuntimeError,
        "is not differentiable with respect to argument 'weight'",
    ),
    (
        lambda f, lib: f.binary_cross_entropy_with_logits(
            lib.ones(3), lib.ones(3), pos_weight=lib.ones(3).requires_grad_()
        ),
        RuntimeError,
        "is not differentiable with respect to argument 'pos_weight'",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), ERRORS)
def test_errors_like_torch(call, error, message) -> None:
    for f, lib in ((F, tg), (TF, torch)):
        with pytest.raises(error, match=message):
            call(f, lib)


def test_cross_entropy_call_sites_use_keywords_or_two_arguments() -> None:
    # the training loop's loss table calls cross_entropy(pred, target) only
    from tapegrad.train.model import LOSSES

    out = LOSSES["cross_entropy"](tg.randn(3, 2), tg.tensor([0, 1, 1]))
    assert out.grad_fn is None and np.isfinite(out.item())


MARGIN_ERRORS = [
    (
        lambda f, lib: f.margin_ranking_loss(lib.ones(3), lib.ones(3), lib.ones(3, 1)),
        r"All input tensors should have same dimension but got sizes: input1: torch.Size\(\[3\]\)",
    ),
    (
        lambda f, lib: f.cosine_embedding_loss(lib.ones(3, 2), lib.ones(3, 2), lib.ones(3, 1)),
        "0D or 1D target tensor expected, multi-target not supported",
    ),
    (
        lambda f, lib: f.cosine_embedding_loss(lib.ones(3), lib.ones(3), lib.ones(3)),
        r"1D target tensor expects 2D input tensors, but found inputs with sizes \[3\] and \[3\]\.",
    ),
    (
        lambda f, lib: f.soft_margin_loss(lib.ones(3), lib.ones(3).requires_grad_()),
        "not differentiable with respect to argument 'target'",
    ),
]


@pytest.mark.parametrize(("call", "message"), MARGIN_ERRORS)
def test_margin_loss_errors_like_torch(call, message) -> None:
    for f, lib in ((F, tg), (TF, torch)):
        with pytest.raises(RuntimeError, match=message):
            call(f, lib)
