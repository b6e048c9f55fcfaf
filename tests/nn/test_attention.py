"""scaled_dot_product_attention and MultiheadAttention against torch (weights copied through
state_dict): outputs, attention weights, gradients of inputs and parameters, masks."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

torch = pytest.importorskip("torch")


def _inputs(*shapes: tuple[int, ...], seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def _close(a, b, atol: float = 1e-5) -> None:
    a = a.detach().numpy() if isinstance(a, tg.Tensor) else a
    np.testing.assert_allclose(a, b.detach().numpy(), atol=atol, rtol=1e-4)


# ============================================================== scaled_dot_product_attention


@pytest.mark.parametrize(
    "case",
    [
        "plain",
        "causal",
        "bool mask",
        "float mask",
        "4-d",
        "scale",
        "fully masked row",
        "4-d causal",
        "4-d fully masked row",
        "4-d float mask",
    ],
)
def test_sdpa_matches_torch(case) -> None:
    shape = (2, 2, 3, 4) if case.startswith("4-d") else (2, 3, 4)
    case = case.removeprefix("4-d ")
    (q, k, v), (tq, tk, tv) = _inputs(shape, shape, shape)
    kw, tkw = {}, {}
    if case == "causal":
        kw = tkw = {"is_causal": True}
    if case == "scale":
        kw = tkw = {"scale": 0.7}
    if case in ("bool mask", "fully masked row", "float mask"):
        mask = np.random.default_rng(1).uniform(size=(3, 3)) > 0.4
        mask[:, 0] = case != "fully masked row"
        if case == "fully masked row":
            mask[1] = False
        if case == "float mask":
            mask = np.random.default_rng(2).standard_normal((3, 3)).astype(np.float32)
        kw, tkw = {"attn_mask": tg.tensor(mask)}, {"attn_mask": torch.tensor(mask)}
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    _close(out, tout)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    up = np.random.default_rng(3).standard_normal(out.shape).astype(np.float32)
    out.backward(tg.tensor(up))
    tout.backward(torch.tensor(up))
    for ours, theirs in ((q, tq), (k, tk), (v, tv)):
        _close(ours.grad, theirs.grad)
        assert not np.isnan(ours.grad.numpy()).any()


def test_sdpa_grouped_query_attention() -> None:
    (q, k, v), (tq, tk, tv) = _inputs((1, 4, 3, 2), (1, 2, 3, 2), (1, 2, 3, 2))
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True)
    _close(out, tout)


def test_sdpa_dropout_is_seeded_and_changes_the_result() -> None:
    (q, k, v), _ = _inputs((2, 3, 4), (2, 3, 4), (2, 3, 4))
    tg.manual_seed(5)
    first = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    tg.manual_seed(5)
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    plain = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_array_equal(first.detach().numpy(), again.detach().numpy())
    assert not np.allclose(first.detach().numpy(), plain.detach().numpy())


def test_sdpa_refuses_mask_with_is_causal() -> None:
    (q, k, v), _ = _inputs((2, 3, 4), (2, 3, 4), (2, 3, 4))
    with pytest.raises(
        RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"
    ):
        F.scaled_dot_product_attention(q, k, v, attn_mask=tg.ones(3, 3), is_causal=True)


# ============================================================== MultiheadAttention


def _mha_pair(**kwargs):
    module, tmodule = (
        nn.MultiheadAttention(8, 2, **kwargs),
        torch.nn.MultiheadAttention(8, 2, **kwargs),
    )
    with torch.no_grad():  # non-zero biases, so their gradients mean something
        for p in tmodule.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.1)
    assert list(module.state_dict()) == list(tmodule.state_dict())
    module.load_state_dict({k: v.numpy().copy() for k, v in tmodule.state_dict().items()})
    return module, tmodule


def _run_mha(module, tmodule, shapes, self_attention=False, masks=None, **call):
    ins, tins = _inputs(*shapes)
    if self_attention:
        ins, tins = [ins[0]] * 3, [tins[0]] * 3
    masks = masks or {}
    ours = module(*ins, **{k: tg.tensor(m) for k, m in masks.items()}, **call)
    theirs = tmodule(*tins, **{k: torch.tensor(m) for k, m in masks.items()}, **call)
    _close(ours[0], theirs[0])
    if theirs[1] is None:
        assert ours[1] is None
    else:
        _close(ours[1], theirs[1])
    up = np.random.default_rng(3).standard_normal(ours[0].shape).astype(np.float32)
    loss = (ours[0] * tg.tensor(up)).sum() + (ours[1].sum() if ours[1] is not None else 0)
    tloss = (theirs[0] * torch.tensor(up)).sum() + (theirs[1].sum() if theirs[1] is not None else 0)
    loss.backward()
    tloss.backward()
    for x, tx in zip(ins, tins):
        _close(x.grad, tx.grad)
    for p, tp in zip(module.parameters(), tmodule.parameters()):
        _close(p.grad, tp.grad, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "shapes", "call"),
    [
        ({}, [(3, 2, 8)] * 3, {}),
        ({"batch_first": True}, [(2, 3, 8), (2, 5, 8), (2, 5, 8)], {}),
        ({}, [(3, 8), (4, 8), (4, 8)], {}),
        ({}, [(3, 2, 8)] * 3, {"average_attn_weights": False}),
        ({}, [(3, 2, 8)] * 3, {"need_weights": False}),
        ({"bias": False}, [(3, 2, 8)] * 3, {}),
        ({"kdim": 5, "vdim": 6}, [(3, 2, 8), (4, 2, 5), (4, 2, 6)], {}),
        ({"add_bias_kv": True}, [(3, 2, 8), (4, 2, 8), (4, 2, 8)], {}),
        ({"add_zero_attn": True}, [(3, 2, 8)] * 3, {}),
    ],
    ids=[
        "default",
        "batch_first",
        "unbatched",
        "per-head",
        "no-weights",
        "no-bias",
        "kdim-vdim",
        "bias-kv",
        "zero-attn",
    ],
)
def test_mha_matches_torch(kwargs, shapes, call) -> None:
    module, tmodule = _mha_pair(**kwargs)
    _run_mha(module, tmodule, shapes, **call)


def test_mha_self_attention_and_eval_mode() -> None:
    module, tmodule = _mha_pair(batch_first=True, dropout=0.1)
    module.eval()
    tmodule.eval()
    _run_mha(module, tmodule, [(2, 3, 8)], self_attention=True)


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("extra", [{}, {"add_bias_kv": True, "add_zero_attn": True}])
def test_mha_masks_match_torch(kind, extra) -> None:
    module, tmodule = _mha_pair(batch_first=True, **extra)
    rng = np.random.default_rng(4)
    attn = rng.uniform(size=(3, 4)) > 0.6
    attn[:, 0] = False
    padding = np.array([[False, False, True, False], [False, True, True, False]])
    if kind == "float":
        attn = np.where(attn, -1e4, 0.5).astype(np.float32)
        padding = np.where(padding, -1e4, 0.0).astype(np.float32)
    masks = {"attn_mask": attn, "key_padding_mask": padding}
    _run_mha(module, tmodule, [(2, 3, 8), (2, 4, 8), (2, 4, 8)], masks=masks)


def test_mha_per_head_3d_mask_and_causal_hint() -> None:
    module, tmodule = _mha_pair()
    causal = np.triu(np.ones((3, 3), bool), 1)
    per_head = np.broadcast_to(causal, (4, 3, 3)).copy()
    _run_mha(module, tmodule, [(3, 2, 8)] * 3, masks={"attn_mask": per_head})
    _run_mha(module, tmodule, [(3, 2, 8)] * 3, masks={"attn_mask": causal}, is_causal=True)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        module(tg.ones(3, 2, 8), tg.ones(3, 2, 8), tg.ones(3, 2, 8), is_causal=True)


def test_mha_repr_init_and_errors() -> None:
    module = nn.MultiheadAttention(8, 2)
    assert repr(module) == repr(torch.nn.MultiheadAttention(8, 2))
    np.testing.assert_array_equal(module.in_proj_bias.detach().numpy(), np.zeros(24, np.float32))
    np.testing.assert_array_equal(module.out_proj.bias.detach().numpy(), np.zeros(8, np.float32))
    bound = (6 / (8 + 24)) ** 0.5  # xavier_uniform_ over the (3E, E) matrix
    assert np.abs(module.in_proj_weight.detach().numpy()).max() <= bound
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
