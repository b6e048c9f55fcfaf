"""The cheaper eager path (issue 22, item 4): same numbers bit for bit, same errors.

Covers the engine's donated gradients (a large masked gradient written in place when nobody
else holds it), its cheaper ``np.errstate``, and the fast paths of ``t * float``, ``sub_``
under no_grad, ``mm``, ``clamp``, ``sum_to`` and leaf accumulation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad._array import sum_to
from tapegrad.engine import backward as engine
from tapegrad.ops import base

BIG = (300, 256)  # above engine.DONATE_MIN_SIZE elements


def _array(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _layer_grads(activation: str, donate: bool, monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.setattr(engine, "DONATE_MIN_SIZE", 1 if donate else 1 << 60)
    x = tg.from_numpy(_array((BIG[0], 40), 0))
    w1 = tg.from_numpy(_array((40, BIG[1]), 1)).requires_grad_()
    b1 = tg.from_numpy(_array((1, BIG[1]), 2)).requires_grad_()
    w2 = tg.from_numpy(_array((BIG[1], 3), 3)).requires_grad_()
    h = x.mm(w1).add(b1)
    h = h.clamp(min=0) if activation == "clamp" else h.relu()
    h.mm(w2).pow(2).sum().backward()
    return [p.grad.numpy().copy() for p in (w1, b1, w2)]


@pytest.mark.parametrize("activation", ["clamp", "relu"])
def test_donated_gradient_is_bit_identical(
    activation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = base.masked_grad

    def spy(xp, g, mask):  # noqa: ANN001, ANN202
        calls.append(engine._donation.donated is g)
        return original(xp, g, mask)

    monkeypatch.setattr(base, "masked_grad", spy)
    donated = _layer_grads(activation, True, monkeypatch)
    assert calls == [engine.COUNTS_PROVE_UNIQUE]  # written in place (never on Python 3.14+)
    calls.clear()
    plain = _layer_grads(activation, False, monkeypatch)
    assert calls == [False]
    for a, b in zip(donated, plain):
        assert a.tobytes() == b.tobytes()


def test_donation_is_cleared_after_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    _layer_grads("clamp", True, monkeypatch)
    assert engine._donation.donated is None


def test_a_shared_gradient_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # Add's backward hands the same array to both clamps: neither may write into it
    monkeypatch.setattr(engine, "DONATE_MIN_SIZE", 1)
    a = tg.from_numpy(_array(BIG, 4)).requires_grad_()
    b = tg.from_numpy(_array(BIG, 5)).requires_grad_()
    g = _array(BIG, 6)
    (a.clamp(min=0) + b.clamp(max=0)).backward(tg.from_numpy(g))
    np.testing.assert_array_equal(a.grad.numpy(), g * (a.detach().numpy() >= 0))
    np.testing.assert_array_equal(b.grad.numpy(), g * (b.detach().numpy() <= 0))


def test_the_callers_gradient_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "DONATE_MIN_SIZE", 1)
    x = tg.from_numpy(_array(BIG, 7)).requires_grad_()
    g = _array(BIG, 8)
    before = g.copy()
    (x * 1.0).clamp(min=0).backward(tg.from_numpy(g))
    np.testing.assert_array_equal(g, before)
    np.testing.assert_array_equal(x.grad.numpy(), before * (x.detach().numpy() >= 0))


def test_a_hooked_gradient_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "DONATE_MIN_SIZE", 1)
    x = tg.from_numpy(_array(BIG, 9)).requires_grad_()
    z = (x * 2.0).clamp(min=0)
    seen = []
    z.register_hook(seen.append)  # the clamp's incoming gradient, kept by the user
    out = z * 3.0
    out.grad_fn.register_hook(lambda grad_inputs, grad_outputs: seen.append(grad_inputs[0]))
    out.sum().backward()
    for kept in seen:
        np.testing.assert_array_equal(kept.numpy(), np.full(BIG, 3.0, np.float32))
    mask = x.detach().numpy() * 2.0 >= 0
    np.testing.assert_array_equal(x.grad.numpy(), np.where(mask, 6.0, 0.0).astype(np.float32))


def test_retain_graph_does_not_donate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "DONATE_MIN_SIZE", 1)
    x = tg.from_numpy(_array(BIG, 10)).requires_grad_()
    y = (x * 2.0).clamp(min=0).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_ignores_float_errors_and_restores_the_state() -> None:
    before = np.geterr()
    x = tg.tensor([1.0, 0.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = x.log().sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss.backward()  # 1 / 0 inside backward: no warning
    assert np.geterr() == before
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, np.inf])


def test_float_state_restored_after_a_failing_backward() -> None:
    before = np.geterr()
    x = tg.randn(3, requires_grad=True)
    y = x * x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()
    assert np.geterr() == before
    with np.errstate(all="raise"):
        z = (x * x).sum()
        z.backward()  # the pass ignores errors even inside the caller's errstate
        assert np.geterr()["divide"] == "raise"


def test_scaling_by_a_float_without_recording_matches_the_general_path() -> None:
    g = tg.randn(4, 3)
    for out in (1e-4 * g, g * 1e-4):
        assert type(out._data) is np.ndarray and out.grad_fn is None
        assert out.numpy().tobytes() == (g.numpy() * 1e-4).tobytes()
    zero_d = 0.5 * tg.tensor(3.0)
    assert type(zero_d._data) is np.ndarray and zero_d.item() == 1.5
    ints = 0.5 * tg.tensor([1, 2])
    assert ints.dtype == tg.float32 and ints.tolist() == [0.5, 1.0]
    half = 2.0 * tg.ones(2, dtype=tg.float16)
    assert half.dtype == tg.float16
    w = tg.randn(2, requires_grad=True)
    assert type((0.5 * w).grad_fn).__name__ == "MulBackward0"
    with tg.no_grad():
        assert (0.5 * w).grad_fn is None


def test_sub_under_no_grad() -> None:
    p = tg.randn(3, 2, requires_grad=True)
    before, version = p.detach().numpy().copy(), p._version
    d = tg.randn(3, 2)
    with tg.no_grad():
        assert p.sub_(d) is p
    assert p._version == version + 1
    assert p.detach().numpy().tobytes() == (before - d.numpy()).tobytes()
    with tg.no_grad():
        p.sub_(tg.ones(1, 2))  # broadcast: the general path
        p.sub_(tg.ones(3, 2, dtype=tg.float64))  # another dtype: the general path
    assert p.dtype == tg.float32
    frozen = tg.from_numpy(np.ones(2, np.float32))
    frozen._data.flags.writeable = False
    with tg.no_grad(), pytest.raises(RuntimeError):
        frozen.sub_(tg.ones(2))
    with tg.no_grad(), pytest.raises(RuntimeError, match="can't be cast"):
        tg.ones(2, dtype=tg.int64).sub_(tg.ones(2))


def test_mm_errors_unchanged() -> None:
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        tg.ones(3).mm(tg.ones(3, 2))
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        tg.ones(2, 3).mm(tg.ones(3))
    with pytest.raises(RuntimeError, match=r"cannot be multiplied \(2x3 and 4x2\)"):
        tg.ones(2, 3).mm(tg.ones(4, 2))
    with pytest.raises(RuntimeError, match="same dtype"):
        tg.ones(2, 3).mm(tg.ones(3, 2, dtype=tg.float64))
    with pytest.raises(NotImplementedError, match="Bool"):
        tg.ones(2, 3, dtype=tg.bool).mm(tg.ones(3, 2, dtype=tg.bool))
    ints = tg.ones(2, 3, dtype=tg.int64).mm(tg.ones(3, 2, dtype=tg.int64))
    assert ints.dtype == tg.int64 and ints.tolist() == [[3, 3], [3, 3]]
    assert tg.ones(2, 3).mm(np.ones((3, 1), np.float32)).shape == (2, 1)


@pytest.mark.parametrize(("lo", "hi"), [(0.0, None), (None, 0.5), (-0.5, 0.5), (0, None)])
def test_clamp_forward_matches_numpy_clip(lo: float | None, hi: float | None) -> None:
    a = _array((5, 7), 11)
    a[0, 0], a[1, 1] = np.nan, 0.0
    out = tg.from_numpy(a).clamp(min=lo, max=hi).numpy()
    assert out.tobytes() == np.clip(a, lo, hi).tobytes()
    ints = tg.tensor([-3, 0, 4]).clamp(min=-1, max=2 if hi is not None else None)
    assert ints.dtype == tg.int64
    assert ints.tolist() == ([-1, 0, 2] if hi is not None else [-1, 0, 4])


def test_sum_to_a_bias_row() -> None:
    g = _array((6, 4), 12)
    assert sum_to(g, (1, 4)).tobytes() == np.ones(6, np.float32).dot(g).reshape(1, 4).tobytes()
    assert sum_to(g, (4,)).shape == (4,)
    assert sum_to(g[:1], (1, 4)) is not None
    with pytest.raises(ValueError, match=r"gradient of shape \[6, 4\] can't be summed to \[2, 4\]"):
        sum_to(g, (2, 4))
    with pytest.raises(ValueError, match="can't be summed"):
        sum_to(g[0], (6, 4))


def test_accumulating_into_a_read_only_grad() -> None:
    p = tg.ones(3, requires_grad=True)
    (p * 2.0).sum().backward()
    p.grad._data.flags.writeable = False
    old = p.grad
    (p * 2.0).sum().backward()
    assert p.grad is not old and p.grad.tolist() == [4.0, 4.0, 4.0]
    assert old.tolist() == [2.0, 2.0, 2.0]


def test_accumulating_into_a_stale_grad_shape() -> None:
    p = tg.ones(3, requires_grad=True)
    p.grad = tg.ones(3)
    p.grad._data = np.ones(2, np.float32)
    with pytest.raises(RuntimeError):
        (p * 2.0).sum().backward()


def test_blog_loop_matches_torch_bit_for_bit_in_float64() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    x, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 1))
    init = [rng.standard_normal((3, 16)), np.zeros((1, 16)), rng.standard_normal((16, 1))]
    init.append(np.zeros((1, 1)))

    def run(fw):  # noqa: ANN001, ANN202
        params = [fw.tensor(a.copy(), requires_grad=True) for a in init]
        xt, yt = fw.tensor(x), fw.tensor(y)
        for _ in range(3):
            h = xt.mm(params[0]).add(params[1]).clamp(min=0)
            loss = (h.mm(params[2]).add(params[3]) - yt).pow(2).sum()
            loss.backward()
            with fw.no_grad():
                for p in params:
                    p.sub_(1e-3 * p.grad)
            for p in params:
                p.grad.zero_()
        return [p.detach().numpy() for p in params]

    for a, b in zip(run(tg), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_clamp_keeps_a_mask_not_its_input() -> None:
    x = tg.randn(4, 5, requires_grad=True)
    h = x * 2.0
    y = h.clamp(min=0.1)
    (mask,) = y.grad_fn.saved
    assert mask.dtype == np.bool_ and mask.shape == (4, 5)
    np.testing.assert_array_equal(mask, h.detach().numpy() >= 0.1)
    # the rule also takes the input itself (``tapegrad.compile`` passes it), both bounds too
    g = np.ones((4, 5), np.float32)
    node = h.clamp(min=-0.2, max=0.3).grad_fn
    (by_input,) = node.backward(base.ARRAY_NS, g, h.detach().numpy())
    (by_mask,) = node.backward(base.ARRAY_NS, g, node.saved[0])
    assert by_input.tobytes() == by_mask.tobytes()


def test_clamp_input_changed_in_place_still_raises() -> None:
    x = tg.ones(3, requires_grad=True)
    h = x * 2.0
    y = h.clamp(min=0.5)
    h.add_(1.0)
    message = (
        r"\[tapegrad.float32 \[3\]\], which is output 0 of Mul, is at version 1; expected "
        "version 0 instead"
    )
    with pytest.raises(RuntimeError, match=message):
        y.sum().backward()


def test_clamp_second_order_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    a = np.array([[-1.0, 0.0, 0.25, 2.0]])
    results = []
    for fw in (tg, torch):
        x = fw.tensor(a, requires_grad=True)
        y = (x * x).clamp(min=0.0, max=1.0).sum()
        (gx,) = fw.autograd.grad(y, x, create_graph=True)
        (ggx,) = fw.autograd.grad(gx.sum(), x)
        results.append((gx.detach().numpy(), ggx.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
