"""The losses of issue 19 against torch 2.13: modules against torch.nn, functionals against
torch.nn.functional (every reduction, weights, ignore_index, label smoothing, probability
targets, N-d inputs), graph node names, warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

from ._helpers import assert_close, to_torch, tolerance

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [tg.float32, tg.float64]


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.1, 1.0, (6, 4))
    return {
        "x": rng.standard_normal((6, 4)),
        "y": rng.standard_normal((6, 4)),
        "p": rng.uniform(0.05, 0.95, (6, 4)),
        "t": rng.uniform(0.0, 1.0, (6, 4)),
        "probs": probs / probs.sum(1, keepdims=True),
        "labels": np.array([0, 3, 1, 3, 2, 1]),
        "w4": np.array([0.5, 2.0, 1.5, 1.0]),
    }


def _pair(a: np.ndarray, dtype, requires_grad: bool = True):
    """The same values as a tapegrad and a torch tensor."""
    ours = tg.tensor(a, dtype=dtype, requires_grad=requires_grad)
    return ours, to_torch(torch, ours, requires_grad)


def _compare(make, dtype, inputs: list[str], consts: dict[str, str] | None = None, seed=0):
    """Run ``make(lib, *tensors, **constants)`` on both libraries: values and gradients of
    every input after the same random upstream gradient, and the result's node name."""
    arrays = _arrays(seed)
    ours, theirs = zip(*(_pair(arrays[k], dtype) for k in inputs))
    cons = {k: _pair(arrays[v], dtype, False) for k, v in (consts or {}).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = make(tg, *ours, **{k: v[0] for k, v in cons.items()})
        tout = make(torch, *theirs, **{k: v[1] for k, v in cons.items()})
    assert_close(out, tout, tolerance(dtype))
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    upstream = np.random.default_rng(9).standard_normal(out.shape)
    out.backward(tg.tensor(upstream, dtype=out.dtype))
    tout.backward(torch.tensor(upstream, dtype=tout.dtype))
    for a, b in zip(ours, theirs):
        assert_close(a.grad, b.grad, tolerance(dtype) * 10)


def _nn(lib):
    return nn if lib is tg else torch.nn


def _functional(lib):
    return F if lib is tg else TF


# ------------------------------------------------------------------ modules vs torch.nn

MODULES = {
    "L1Loss": (lambda lib, r: _nn(lib).L1Loss(reduction=r), ["x", "y"]),
    "MSELoss": (lambda lib, r: _nn(lib).MSELoss(reduction=r), ["x", "y"]),
    "SmoothL1Loss": (lambda lib, r: _nn(lib).SmoothL1Loss(reduction=r, beta=0.5), ["x", "y"]),
    "HuberLoss": (lambda lib, r: _nn(lib).HuberLoss(reduction=r, delta=0.7), ["x", "y"]),
    "BCELoss": (lambda lib, r: _nn(lib).BCELoss(reduction=r), ["p", "t"]),
    "BCEWithLogitsLoss": (lambda lib, r: _nn(lib).BCEWithLogitsLoss(reduction=r), ["x", "t"]),
    "KLDivLoss": (lambda lib, r: _nn(lib).KLDivLoss(reduction=r), ["x", "probs"]),
    "KLDivLoss log_target": (
        lambda lib, r: _nn(lib).KLDivLoss(reduction=r, log_target=True),
        ["x", "y"],
    ),
    "CrossEntropyLoss probs": (
        lambda lib, r: _nn(lib).CrossEntropyLoss(reduction=r, label_smoothing=0.1),
        ["x", "probs"],
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", MODULES)
def test_module_matches_torch(name: str, reduction: str, dtype) -> None:
    make, inputs = MODULES[name]
    _compare(lambda lib, *xs: make(lib, reduction)(*xs), dtype, inputs)


WEIGHTED_MODULES = {
    "BCELoss": (lambda lib, w, r: _nn(lib).BCELoss(w, reduction=r), ["p", "t"]),
    "BCEWithLogitsLoss weight": (
        lambda lib, w, r: _nn(lib).BCEWithLogitsLoss(w, reduction=r),
        ["x", "t"],
    ),
    "BCEWithLogitsLoss pos_weight": (
        lambda lib, w, r: _nn(lib).BCEWithLogitsLoss(reduction=r, pos_weight=w),
        ["x", "t"],
    ),
    "CrossEntropyLoss probs": (
        lambda lib, w, r: _nn(lib).CrossEntropyLoss(w, reduction=r),
        ["x", "probs"],
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", WEIGHTED_MODULES)
def test_weighted_module_matches_torch(name: str, reduction: str, dtype) -> None:
    make, inputs = WEIGHTED_MODULES[name]
    _compare(lambda lib, *xs, w: make(lib, w, reduction)(*xs), dtype, inputs, consts={"w": "w4"})


CLASS_CASES = {
    "plain": {},
    "weight": {"weight": True},
    "ignore_index": {"ignore_index": 3},
    "weight ignore_index": {"weight": True, "ignore_index": 1},
    "label_smoothing": {"label_smoothing": 0.2},
    "everything": {"weight": True, "ignore_index": 3, "label_smoothing": 0.15},
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("loss", "case"),
    [
        (loss, case)
        for loss in ("CrossEntropyLoss", "NLLLoss")
        for case in CLASS_CASES
        if loss == "CrossEntropyLoss" or "label_smoothing" not in CLASS_CASES[case]
    ],
)
def test_class_index_modules_match_torch(loss: str, case: str, reduction: str, dtype) -> None:
    kw = dict(CLASS_CASES[case])
    labels = _arrays()["labels"]

    def make(lib, x, w):
        weight = w if kw.get("weight") else None
        module = getattr(_nn(lib), loss)(
            weight, reduction=reduction, **{k: v for k, v in kw.items() if k != "weight"}
        )
        logits = x if loss == "CrossEntropyLoss" else x.log_softmax(1)
        return module(logits, lib.tensor(labels))

    _compare(make, dtype, ["x"], consts={"w": "w4"})


def test_loss_modules_repr_signatures_and_state_dict_like_torch() -> None:
    weight = tg.tensor([1.0, 2.0, 3.0])
    for name in ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"]:
        ours, theirs = getattr(nn, name)(weight), getattr(torch.nn, name)(to_torch(torch, weight))
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        assert list(ours.parameters()) == []
    pos = nn.BCEWithLogitsLoss(pos_weight=weight)
    assert list(pos.state_dict()) == ["pos_weight"]
    assert nn.NLLLoss().state_dict() == {} and nn.NLLLoss().weight is None
    ce = nn.CrossEntropyLoss(None, None, 2, None, "sum", 0.3)  # torch's positional order
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (2, "sum", 0.3)
    nll = nn.NLLLoss(None, None, 5, None, "none")
    assert (nll.ignore_index, nll.reduction) == (5, "none")
    assert nn.SmoothL1Loss(None, None, "sum", 0.5).beta == 0.5
    assert nn.HuberLoss("sum", 2.0).delta == 2.0
    assert nn.KLDivLoss(None, None, "batchmean", True).log_target is True
    with pytest.raises(TypeError, match="delta must be a float or int, got: <class 'str'>"):
        nn.HuberLoss(delta="1")


def test_legacy_size_average_and_reduce_like_torch() -> None:
    for size_average, reduce, expected in [(False, None, "sum"), (None, False, "none")]:
        with pytest.warns(UserWarning, match=f"please use reduction='{expected}' instead"):
            module = nn.L1Loss(size_average, reduce)
        assert module.reduction == expected
        with pytest.warns(UserWarning, match=f"please use reduction='{expected}' instead"):
            out = F.mse_loss(tg.ones(3), tg.zeros(3), size_average, reduce)
        assert out.shape == (() if expected == "sum" else (3,))
    with pytest.warns(UserWarning, match="reduction='mean' instead"):
        assert nn.MSELoss("sum").reduction == "mean"  # size_average first, as torch


# ------------------------------------------------------ functional forms vs torch


def test_nll_loss_and_cross_entropy_take_torch_positional_order() -> None:
    arrays = _arrays()
    x, tx = _pair(arrays["x"], tg.float64, False)
    w, tw = _pair(arrays["w4"], tg.float64, False)
    labels = arrays["labels"]
    for ours, theirs in [
        (F.cross_entropy, TF.cross_entropy),
        (F.nll_loss, TF.nll_loss),
    ]:
        # weight, size_average, ignore_index, reduce, reduction
        got = ours(x, tg.tensor(labels), w, None, 3, None, "sum")
        want = theirs(tx, torch.tensor(labels), tw, None, 3, None, "sum")
        assert_close(got, want, 1e-12)
    got = F.cross_entropy(x, tg.tensor(labels), w, None, -100, None, "none", 0.25)
    want = TF.cross_entropy(tx, torch.tensor(labels), tw, None, -100, None, "none", 0.25)
    assert_close(got, want, 1e-12)
    one = tg.tensor([2.0], dtype=tg.float64)
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4"):
        F.cross_entropy(x, tg.tensor(labels), one)  # a one-element weight is not ignore_index


N_D = {
    "3-d": (2, 4, 5),
    "4-d": (2, 4, 3, 2),
    "5-d": (2, 4, 2, 1, 3),
    "(C,)": (4,),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("layout", N_D)
def test_cross_entropy_n_d_matches_torch_with_graph(layout: str, smoothing: float, reduction):
    shape = N_D[layout]
    rng = np.random.default_rng(3)
    target = rng.integers(0, 4, shape[:1] + shape[2:] if len(shape) > 1 else ())
    if target.ndim:
        target.flat[1] = -100
    logits = rng.standard_normal(shape)
    results = []
    for lib in (tg, torch):
        x = lib.tensor(logits, requires_grad=True)
        w = lib.tensor([0.5, 2.0, 1.0, 1.5], dtype=x.dtype)
        out = _functional(lib).cross_entropy(
            x, lib.tensor(target), w, reduction=reduction, label_smoothing=smoothing
        )
        (out * out).sum().backward()
        results.append((_names(out.grad_fn, 4), out.detach().numpy(), x.grad.numpy()))
    (graph, value, grad), (tgraph, tvalue, tgrad) = results
    assert graph == tgraph
    np.testing.assert_allclose(value, tvalue, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, tgrad, rtol=1e-10, atol=1e-12)


def _names(node, depth):
    """Node names below ``node``, ``depth`` levels deep (torch's namespace prefix dropped)."""
    if node is None or depth == 0:
        return None
    return node.name().split("::")[-1], [_names(n, depth - 1) for n, _ in node.next_functions]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_4d_with_weight_and_ignore_index_matches_torch(reduction: str) -> None:
    rng = np.random.default_rng(4)
    logp = rng.standard_normal((2, 3, 4, 2))
    target = rng.integers(0, 3, (2, 4, 2))
    target[0, 1, 1] = 1
    outs = []
    for lib in (tg, torch):
        x = lib.tensor(logp, requires_grad=True)
        w = lib.tensor([0.3, 1.0, 2.0], dtype=x.dtype)
        out = _functional(lib).nll_loss(
            x, lib.tensor(target), w, ignore_index=1, reduction=reduction
        )
        out.sum().backward()
        outs.append((_names(out.grad_fn, 2), out.detach().numpy(), x.grad.numpy()))
    assert outs[0][0] == outs[1][0]
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)
    np.testing.assert_allclose(outs[0][2], outs[1][2], rtol=1e-12)


def test_cross_entropy_second_order_matches_torch() -> None:
    rng = np.random.default_rng(5)
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    grads = []
    for lib in (tg, torch):
        x = lib.tensor(logits, requires_grad=True)
        w = lib.tensor([0.5, 2.0, 1.0], dtype=x.dtype)
        out = _functional(lib).cross_entropy(x, lib.tensor(labels), w, label_smoothing=0.1)
        (g,) = (tg.autograd if lib is tg else torch.autograd).grad(out, x, create_graph=True)
        (g * g).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_all_targets_ignored_or_zero_weights_give_nan_like_torch() -> None:
    x = tg.randn(3, 4)
    for kw in [{"label_smoothing": 0.1}, {"weight": tg.zeros(4)}, {}]:
        target = [1, 1, 1] if "weight" in kw else [-100, -100, -100]
        assert np.isnan(F.cross_entropy(x, tg.tensor(target), **kw).item())
        theirs = TF.cross_entropy(
            to_torch(torch, x),
            torch.tensor(target),
            **{k: to_torch(torch, v) if isinstance(v, tg.Tensor) else v for k, v in kw.items()},
        )
        assert np.isnan(theirs.item())


@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0])
def test_smooth_l1_beta_and_huber_delta_match_torch(beta: float) -> None:
    def make(lib, x, y):
        f = _functional(lib)
        return f.smooth_l1_loss(x, y, beta=beta) + f.huber_loss(x, y, delta=beta or 1.5)

    _compare(make, tg.float64, ["x", "y"])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_elementwise_weight_matches_torch(name: str, reduction: str) -> None:
    def make(lib, x, y, w):
        return getattr(_functional(lib), name)(x, y, reduction=reduction, weight=w)

    _compare(make, tg.float64, ["x", "y", "t"])


@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction: str, log_target: bool) -> None:
    def make(lib, x, t):
        target = t.log() if log_target else t
        return _functional(lib).kl_div(x, target, reduction=reduction, log_target=log_target)

    _compare(make, tg.float64, ["x", "probs"])


def test_kl_div_zero_target_and_batchmean_of_0d() -> None:
    x = tg.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    target = tg.tensor([0.0, 0.5, 0.5])
    tx = to_torch(torch, x, True)
    out = F.kl_div(x, target, reduction="batchmean")
    tout = TF.kl_div(tx, to_torch(torch, target), reduction="batchmean")
    assert_close(out, tout, 1e-6)
    out.backward()
    tout.backward()
    assert_close(x.grad, tx.grad, 1e-6)
    scalar = F.kl_div(tg.tensor(-1.0), tg.tensor(0.5), reduction="batchmean")
    assert scalar.item() == pytest.approx(
        TF.kl_div(torch.tensor(-1.0), torch.tensor(0.5), reduction="batchmean").item()
    )


def test_xlogy_matches_torch() -> None:
    x = tg.tensor([0.0, 1.0, 2.0, 0.0, 3.0])
    y = tg.tensor([0.0, 0.0, 2.0, float("nan"), 0.5])
    want = torch.xlogy(to_torch(torch, x), to_torch(torch, y)).numpy()
    np.testing.assert_array_equal(tg.xlogy(x, y).numpy(), want)
    np.testing.assert_array_equal(x.xlogy(y).numpy(), want)
    assert tg.xlogy(tg.tensor([1, 2]), tg.tensor([3, 4])).dtype == tg.float32


def test_bce_log_is_clamped_at_minus_100_like_torch() -> None:
    p = tg.tensor([0.0, 1.0, 0.5], requires_grad=True)
    t = tg.tensor([1.0, 0.0, 1.0])
    tp = to_torch(torch, p, True)
    out = F.binary_cross_entropy(p, t, reduction="none")
    tout = TF.binary_cross_entropy(tp, to_torch(torch, t), reduction="none")
    assert_close(out, tout, 1e-5)
    out.sum().backward()
    tout.sum().backward()
    assert_close(p.grad, tp.grad, 1e-3 * abs(tp.grad).max().item())


def test_bce_with_logits_is_stable_for_large_logits() -> None:
    x = tg.tensor([-200.0, 200.0, 30.0], requires_grad=True)
    t = tg.tensor([1.0, 0.0, 1.0])
    tx = to_torch(torch, x, True)
    out = F.binary_cross_entropy_with_logits(x, t)
    tout = TF.binary_cross_entropy_with_logits(tx, to_torch(torch, t))
    assert_close(out, tout, 1e-4)
    out.backward()
    tout.backward()
    assert_close(x.grad, tx.grad, 1e-6)


def test_probability_targets_with_smoothing_record_torch_graph() -> None:
    rng = np.random.default_rng(6)
    logits, probs = rng.standard_normal((3, 4)), rng.dirichlet(np.ones(4), 3)
    found = []
    for lib in (tg, torch):
        x, t = lib.tensor(logits, requires_grad=True), lib.tensor(probs, requires_grad=True)
        w = lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=x.dtype)
        out = _functional(lib).cross_entropy(x, t, w, label_smoothing=0.1)
        out.backward()
        found.append((_names(out.grad_fn, 8), out.item(), x.grad.numpy(), t.grad.numpy()))
    (graph, value, gx, gt), (tgraph, tvalue, tgx, tgt) = found
    assert graph == tgraph  # ... MulBackward0 <- AddBackward1 <- MulBackward1 for the target
    assert value == pytest.approx(tvalue, rel=1e-12)
    np.testing.assert_allclose(gx, tgx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gt, tgt, rtol=1e-10, atol=1e-12)


MARGIN_MODULES = {
    "SoftMarginLoss": (lambda lib, r: _nn(lib).SoftMarginLoss(reduction=r), (6, 4), (6, 4)),
    "MarginRankingLoss": (lambda lib, r: _nn(lib).MarginRankingLoss(0.3, reduction=r), (6,), (6,)),
    "CosineEmbeddingLoss": (
        lambda lib, r: _nn(lib).CosineEmbeddingLoss(0.2, reduction=r),
        (6, 4),
        (6,),
    ),
    "CosineEmbeddingLoss 1-d": (
        lambda lib, r: _nn(lib).CosineEmbeddingLoss(reduction=r),
        (4,),
        (),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", MARGIN_MODULES)
def test_margin_modules_match_torch_with_graph(name: str, reduction: str, dtype) -> None:
    make, shape, target_shape = MARGIN_MODULES[name]
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    signs = np.where(rng.standard_normal(target_shape) > 0, 1.0, -1.0)
    found = []
    for lib in (tg, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(b, requires_grad=True)
        target = lib.tensor(signs).to(x.dtype if lib is torch else x.dtype)
        if dtype is tg.float32:
            x, y, target = (
                t.detach().float().requires_grad_(t.requires_grad) for t in (x, y, target)
            )
        module = make(lib, reduction)
        out = module(x, target) if name == "SoftMarginLoss" else module(x, y, target)
        out.sum().backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in (x, y)]
        found.append((_names(out.grad_fn, 9), out.detach().numpy(), grads))
    (graph, value, grads), (tgraph, tvalue, tgrads) = found
    assert graph == tgraph
    tol = tolerance(dtype)
    np.testing.assert_allclose(value, tvalue, rtol=tol, atol=tol)
    for got, want in zip(grads, tgrads):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
