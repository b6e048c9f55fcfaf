"""Embedding and F.embedding against torch: lookups, padding_idx, max_norm,
scale_grad_by_freq, from_pretrained, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.autograd import gradgradcheck
from tapegrad.nn import functional as F

torch = pytest.importorskip("torch")

INDICES = np.array([[1, 2, 4], [4, 3, 1]])


def _pair(**kwargs):
    module, tmodule = nn.Embedding(6, 3, **kwargs), torch.nn.Embedding(6, 3, **kwargs)
    module.load_state_dict({k: v.numpy().copy() for k, v in tmodule.state_dict().items()})
    return module, tmodule


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"padding_idx": 1}, {"padding_idx": -2}, {"scale_grad_by_freq": True}, {"max_norm": 1.0}],
)
def test_embedding_matches_torch(kwargs) -> None:
    module, tmodule = _pair(**kwargs)
    assert repr(module) == repr(tmodule)
    out, tout = module(tg.tensor(INDICES)), tmodule(torch.tensor(INDICES))
    assert out.grad_fn.name() == type(tout.grad_fn).__name__ == "EmbeddingBackward0"
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=1e-6)
    up = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    out.backward(tg.tensor(up))
    tout.backward(torch.tensor(up))
    np.testing.assert_allclose(module.weight.grad.numpy(), tmodule.weight.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        module.weight.detach().numpy(), tmodule.weight.detach().numpy(), atol=1e-6
    )


def test_padding_row_starts_at_zero_and_gets_no_gradient() -> None:
    emb = nn.Embedding(5, 2, padding_idx=3)
    np.testing.assert_array_equal(emb.weight[3].detach().numpy(), [0.0, 0.0])
    emb(tg.tensor([3, 3, 0])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[3].numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(emb.weight.grad[0].numpy(), [1.0, 1.0])
    assert emb.padding_idx == 3
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_second_order_through_embedding() -> None:
    w = tg.tensor(np.random.default_rng(1).standard_normal((5, 2)), requires_grad=True)
    idx = tg.tensor([[0, 4], [4, 1]])
    assert gradgradcheck(lambda w: F.embedding(idx, w, padding_idx=1) ** 2, (w,))


def test_from_pretrained_is_frozen_by_default() -> None:
    weights = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    emb = nn.Embedding.from_pretrained(weights)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(tg.tensor([1])).numpy(), [[3.0, 4.0]])
    assert nn.Embedding.from_pretrained(weights, freeze=False).weight.requires_grad


def test_state_dict_key_is_weight() -> None:
    assert list(nn.Embedding(3, 2).state_dict()) == ["weight"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: F.embedding(tg.tensor([1.0]), tg.randn(3, 2)),
            RuntimeError,
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            "Long, Int; but got torch.FloatTensor instead",
        ),
        (
            lambda: F.embedding(tg.tensor([5]), tg.randn(3, 2)),
            IndexError,
            "index out of range in self",
        ),
        (
            lambda: nn.Embedding(3, 2, padding_idx=3),
            AssertionError,
            "Padding_idx must be within num_embeddings",
        ),
        (
            lambda: nn.Embedding(3, 2, padding_idx=-4),
            AssertionError,
            "Padding_idx must be within num_embeddings",
        ),
    ],
)
def test_errors_as_torch(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()
