"""In-place ops, the version counter, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def test_manual_update_under_no_grad_is_in_place_and_bumps_version():
    w = tg.ones(2, requires_grad=True)
    (w * 3).sum().backward()
    data = w.detach().numpy()
    with tg.no_grad():
        w.sub_(0.1 * w.grad)
    assert w.detach().numpy() is data
    np.testing.assert_allclose(w.detach().numpy(), [0.7, 0.7], rtol=1e-6)
    assert w._version == 1
    assert w.is_leaf and w.requires_grad


def test_inplace_on_leaf_requiring_grad_with_grad_mode_on():
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match="a leaf Variable that requires grad is being used in an in-place operation.",
    ):
        w.add_(1)


@pytest.mark.parametrize(
    ("op", "node"),
    [("sigmoid", "Sigmoid"), ("relu", "Relu")],  # relu keeps only a mask
)
def test_saved_result_modified_in_place_is_detected(op, node):
    a = tg.ones(2, 2, requires_grad=True)
    s = getattr(a, op)()
    out = s * 2
    s.mul_(2)
    with pytest.raises(
        RuntimeError,
        match=r"modified by an inplace operation: \[tapegrad.float32 "
        rf"\[2, 2\]\], which is output 0 of {node}, is at version 1; "
        r"expected version 0 instead",
    ):
        out.sum().backward()


def test_relu_keeps_only_its_mask():
    y = tg.tensor([-1.0, 2.0, 3.0], requires_grad=True).relu()
    (kept,) = y.grad_fn.saved
    assert kept.dtype == np.bool_ and kept.tolist() == [False, True, True]


def test_leaf_modified_after_use_is_detected():
    a = tg.ones(2, 2, requires_grad=True)
    s = a * a
    with tg.no_grad():
        a.add_(1)
    with pytest.raises(
        RuntimeError,
        match=r"\[tapegrad.float32 \[2, 2\]\] is at version 1; "
        r"expected version 0",
    ):
        s.sum().backward()


def test_inplace_on_non_leaf_is_recorded():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(1)
    assert y.grad_fn.name() == "AddBackward0"
    y.mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), [6.0, 6.0])


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("add_", (2.0,), [3.0, 4.0]),
        ("sub_", (1.0,), [0.0, 1.0]),
        ("mul_", (3.0,), [3.0, 6.0]),
        ("div_", (2.0,), [0.5, 1.0]),
        ("zero_", (), [0.0, 0.0]),
        ("fill_", (7.0,), [7.0, 7.0]),
        ("clamp_", (1.5, 1.8), [1.5, 1.8]),
    ],
)
def test_inplace_methods(method, args, expected):
    t = tg.tensor([1.0, 2.0])
    out = getattr(t, method)(*args)
    assert out is t
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=1e-6)
    assert t._version == 1


def test_copy_broadcasts_and_casts():
    t = tg.zeros(2, 3)
    t.copy_(tg.tensor([1, 2, 3]))
    np.testing.assert_array_equal(t.detach().numpy(), [[1, 2, 3], [1, 2, 3]])
    assert t.dtype == tg.float32


def test_views_share_version_counter():
    base = tg.zeros(2, 3)
    view = base[0]
    view.add_(1)
    assert base._version == 1
    np.testing.assert_array_equal(base.detach().numpy()[0], [1, 1, 1])


def test_inplace_int_tensor_with_float_is_refused():
    t = tg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        t.add_(1.5)


def test_sub_with_alpha_matches_sub_of_the_scaled_gradient_bit_for_bit():
    g = tg.randn(5, 7)
    a = tg.randn(5, 7)
    b = a.clone()
    a.sub_(g, alpha=1e-4)
    b.sub_(1e-4 * g)
    assert a.tolist() == b.tolist()
    assert a._version == 1


def _params_and_grads(seed: int) -> tuple[list[tg.Tensor], list[tg.Tensor]]:
    tg.manual_seed(seed)
    shapes = [(3, 4), (4,), (1, 4), ()]
    params = [tg.randn(*s).requires_grad_() for s in shapes]
    return params, [tg.randn(*s) for s in shapes]


def test_foreach_sub_and_zero_match_the_loop_they_replace_bit_for_bit():
    fused, grads = _params_and_grads(0)
    looped, grads2 = _params_and_grads(0)
    with tg.no_grad():
        tg._foreach_sub_(fused, grads, alpha=1e-3)
        tg._foreach_zero_(grads)
        for p, g in zip(looped, grads2):
            p.sub_(1e-3 * g)
            g.zero_()
    for a, b, g in zip(fused, looped, grads):
        assert a.tolist() == b.tolist()
        assert a._version == b._version == 1
        assert g._version == 1 and not g.detach().numpy().any()


def test_foreach_sub_falls_back_to_sub_for_broadcasting_and_its_errors():
    a, b = tg.zeros(2, 3), tg.zeros(2, 3).expand(2, 3)
    tg._foreach_sub_([a], [tg.ones(3)])  # broadcast: sub_'s own path
    assert a.tolist() == [[-1.0] * 3] * 2
    with pytest.raises(RuntimeError, match="written-to tensor"):
        tg._foreach_sub_([tg.zeros(1, 3).expand(2, 3)], [tg.ones(2, 3)])
    with pytest.raises(RuntimeError, match="written-to tensor"):
        tg._foreach_zero_([tg.zeros(1, 3).expand(2, 3)])
    leaf = tg.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        tg._foreach_sub_([leaf], [tg.ones(2)])  # grad mode: the in-place check applies
    assert b._version == 0


def test_foreach_sub_matches_torch():
    torch = pytest.importorskip("torch")
    params, grads = _params_and_grads(1)
    tp = [torch.from_numpy(p.detach().numpy().copy()) for p in params]
    tgr = [torch.from_numpy(g.numpy().copy()) for g in grads]
    with tg.no_grad():
        tg._foreach_sub_(params, grads, alpha=0.37)
    torch._foreach_sub_(tp, tgr, alpha=0.37)
    for p, t in zip(params, tp):  # torch fuses p - alpha * g (1 ulp apart at most)
        np.testing.assert_allclose(p.detach().numpy(), t.numpy(), rtol=1e-6, atol=1e-7)


def _inplace_cases(lib):
    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    f64 = lib.float64
    return {
        "mul": lambda a: (s := a * 2, s * s),
        "mm": lambda a: (s := a @ a, s * s),
        "sum": lambda a: (s := a.sum(0), s * s),
        "mean": lambda a: (s := a.mean(1), s * s),
        "relu": lambda a: (s := a.relu(), s.relu()),
        "tanh": lambda a: (s := a.tanh(), s.tanh()),
        "clamp": lambda a: (s := a.clamp(min=0), s * s),
        "cat": lambda a: (s := lib.cat([a, a]), s * s),
        "custom": lambda a: (s := Double.apply(a), s * s),
        "promoted": lambda a: (s := a * 2, s * lib.ones(3, 3, dtype=f64, requires_grad=True)),
        "constant": lambda a: (s := lib.ones(3, 3, dtype=f64), a * s),
        "leaf": lambda a: (a, a * a),
    }


def _inplace_message(lib, case, anomaly):
    a = lib.ones(3, 3, requires_grad=True)
    with lib.autograd.set_detect_anomaly(anomaly):
        saved, out = _inplace_cases(lib)[case](a)
        with lib.no_grad():
            saved.add_(1)
        try:
            out.sum().backward()
        except RuntimeError as exc:
            return str(exc)
    return "no error"


@pytest.mark.filterwarnings("ignore")  # torch warns that anomaly mode is slow
@pytest.mark.parametrize("anomaly", [False, True])
@pytest.mark.parametrize("case", list(_inplace_cases(tg)))
def test_inplace_error_message_matches_torch(case, anomaly):
    torch = pytest.importorskip("torch")
    expected = _inplace_message(torch, case, anomaly)
    for torch_name, ours in (
        ("torch.FloatTensor", "tapegrad.float32"),
        ("torch.DoubleTensor", "tapegrad.float64"),
        ("torch.autograd", "tapegrad.autograd"),
    ):
        expected = expected.replace(torch_name, ours)
    assert _inplace_message(tg, case, anomaly) == expected


def _augmented_and_recorded(lib):
    """In-place results torch users rely on: augmented assignment and recorded in-place ops."""
    out = {}
    for name in ("mul_", "div_", "add_", "sub_"):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([4.0, 5.0, 6.0], requires_grad=True)
        y = x * 1
        getattr(y, name)(w)  # backward needs y's value from before the change
        (y * y).sum().backward()
        out[name] = (x.grad.tolist(), w.grad.tolist(), y._version)
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y.clamp_(0, 2)
    y.sum().backward()
    out["clamp_"] = x.grad.tolist()
    p = lib.tensor([1.0, 2.0], requires_grad=True)
    alias = p
    with lib.no_grad():
        p -= 0.5 * lib.ones(2)  # the manual SGD step
    out["sgd"] = (p is alias, alias.tolist(), p.requires_grad, p._version)
    a = lib.tensor([1.0, 2.0, 3.0])
    view = a[:2]
    a += 1
    a *= 2
    a /= 4
    out["view"] = view.tolist()
    for expr in ("x += 1", "i += 1.5", "f += lib.ones(2, 2)", "f -= lib.ones(3)"):
        names = {"x": lib.ones(2, requires_grad=True), "i": lib.tensor([1, 2]), "f": lib.ones(2)}
        try:
            exec(expr, {"lib": lib}, names)
            out[expr] = "ok"
        except RuntimeError as exc:
            out[expr] = str(exc)
    return out


def test_augmented_assignment_and_recorded_inplace_ops_match_torch():
    torch = pytest.importorskip("torch")
    assert _augmented_and_recorded(tg) == _augmented_and_recorded(torch)


def _views_after_inplace(lib):
    """Gradients through views taken before a recorded in-place change of their base."""

    def slice_then_mul(x):
        y = x * 1
        v = y[1:]
        y.mul_(2)
        return v.sum()

    def view_of_view(x):
        y = x * 1
        v = y[0:3][1:]
        y.mul_(3)
        return v.sum()

    def unsqueeze_then_add(x):
        y = x * 1
        v = y.unsqueeze(0)
        y.add_(x)
        return v.sum()

    def used_before_and_after(x):
        y = x * 1
        v = y[1:]
        before = v * 1  # recorded before the change: its gradient ignores it
        y.mul_(2)
        return before.sum() + v.sum()

    found = {}
    for build in (slice_then_mul, view_of_view, unsqueeze_then_add, used_before_and_after):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        build(x).backward()
        found[build.__name__] = x.grad.tolist()
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.mul_(2)  # retain_grad follows y to its new version
    (y * lib.tensor([4.0, 5.0, 6.0])).sum().backward()
    found["retain_grad"] = y.grad.tolist()
    return found


def test_views_follow_their_base_through_inplace_changes_as_torch():
    torch = pytest.importorskip("torch")
    assert _views_after_inplace(tg) == _views_after_inplace(torch)


@pytest.mark.filterwarnings("ignore")
def test_fill_and_zero_record_torch_nodes_and_values():
    torch = pytest.importorskip("torch")

    def outcomes(lib):
        def names(t):
            below = [n and n.name().split("::")[-1] for n, _ in t.grad_fn.next_functions]
            return t.grad_fn.name(), below

        found = {}
        x = lib.tensor([1.0, float("inf"), float("nan")], requires_grad=True)
        for label, change in (("fill", lambda y: y.fill_(2.0)), ("zero", lambda y: y.zero_())):
            y = x * 1
            change(y)  # the old inf and nan must not leak into the result
            found[label] = (y.tolist(), names(y))
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor(5.0, requires_grad=True)
        y = x * 1
        y.fill_(w)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        found["fill with a tensor"] = (y.tolist(), names(y), x.grad.tolist(), w.grad.item())
        plain = lib.zeros(3)
        plain.fill_(w)
        found["plain tensor"] = (plain.requires_grad, names(plain))
        try:
            (x * 1).fill_(lib.ones(2))
        except RuntimeError as exc:
            found["1-d value"] = str(exc)
        return found

    assert outcomes(tg) == outcomes(torch)


def test_inplace_on_a_view_made_under_no_grad_is_refused_as_torch():
    torch = pytest.importorskip("torch")

    def outcomes(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with lib.no_grad():
            view = x[:2]
        found = []
        for target in (view, view[0:1], view.view(2)):
            try:
                target.mul_(2)
                found.append("ok")
            except RuntimeError as exc:
                found.append(str(exc))
        with lib.no_grad():
            view.add_(1)  # both inside no_grad: allowed, and the base changes
        found.append(x.tolist())
        return found

    assert outcomes(tg) == outcomes(torch)
