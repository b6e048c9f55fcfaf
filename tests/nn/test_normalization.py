"""BatchNorm1d/2d, LayerNorm, GroupNorm and F.normalize against torch.nn, weights copied
through state_dict; running statistics step by step; errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.nn import functional as F

torch = pytest.importorskip("torch")


def _load_from(module: nn.Module, tmodule) -> None:
    """Give ``module`` torch's parameters and buffers (with a perturbed affine map)."""
    with torch.no_grad():
        for p in tmodule.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.3)
    module.load_state_dict({k: v.numpy().copy() for k, v in tmodule.state_dict().items()})


def _compare(module: nn.Module, tmodule, shape: tuple[int, ...], steps: int = 3, atol=1e-5):
    """Forward, input and parameter gradients, and state after each of ``steps`` batches."""
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = rng.standard_normal(shape).astype(np.float32) * 2 + 1
        up = rng.standard_normal(shape).astype(np.float32)
        xs, txs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, tout = module(xs), tmodule(txs)
        np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=atol)
        assert out.grad_fn.name() == type(tout.grad_fn).__name__
        out.backward(tg.tensor(up))
        tout.backward(torch.tensor(up))
        np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), atol=atol)
        for (name, p), (_, tp) in zip(module.named_parameters(), tmodule.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=atol, err_msg=name)
        module.zero_grad()
        tmodule.zero_grad()
        state, tstate = module.state_dict(), tmodule.state_dict()
        assert list(state) == list(tstate)
        for key in state:
            assert state[key].dtype.name == str(tstate[key].dtype).split(".")[1], key
            np.testing.assert_allclose(state[key].numpy(), tstate[key].numpy(), atol=atol)


@pytest.mark.parametrize(
    ("cls", "shape"),
    [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (3, 3, 4, 2))],
)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3}, {"affine": False}, {"bias": False}],
    ids=["default", "cumulative", "momentum-eps", "no-affine", "no-bias"],
)
def test_batch_norm_train_then_eval_matches_torch(cls, shape, kwargs) -> None:
    module, tmodule = getattr(nn, cls)(3, **kwargs), getattr(torch.nn, cls)(3, **kwargs)
    _load_from(module, tmodule)
    _compare(module, tmodule, shape)
    assert module.num_batches_tracked.item() == 3
    module.eval()
    tmodule.eval()
    _compare(module, tmodule, shape, steps=1)
    assert module.num_batches_tracked.item() == 3


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval() -> None:
    module = nn.BatchNorm1d(3, track_running_stats=False)
    tmodule = torch.nn.BatchNorm1d(3, track_running_stats=False)
    assert list(module.state_dict()) == list(tmodule.state_dict()) == ["weight", "bias"]
    assert module.running_mean is None
    module.eval()
    tmodule.eval()
    _compare(module, tmodule, (5, 3), steps=1)


def test_batch_norm_state_dict_loads_into_torch_and_back() -> None:
    module = nn.BatchNorm2d(2)
    module(tg.randn(3, 2, 2, 2))
    tmodule = torch.nn.BatchNorm2d(2)
    tmodule.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in module.state_dict().items()}
    )
    assert tmodule.num_batches_tracked.item() == 1
    np.testing.assert_allclose(tmodule.running_var.numpy(), module.running_var.numpy())


def test_state_dict_without_num_batches_tracked_loads_as_torch() -> None:
    module = nn.BatchNorm1d(2)
    state = {k: v for k, v in module.state_dict().items() if k != "num_batches_tracked"}
    assert repr(module.load_state_dict(state)) == "<All keys matched successfully>"


def test_functional_batch_norm_updates_running_stats_like_torch() -> None:
    x = np.random.default_rng(1).standard_normal((4, 3, 2)).astype(np.float32)
    rm, rv = tg.zeros(3), tg.ones(3)
    trm, trv = torch.zeros(3), torch.ones(3)
    version = rm._version
    F.batch_norm(tg.tensor(x), rm, rv, training=True, momentum=0.2)
    torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.2)
    assert rm._version > version
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), atol=1e-6)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), atol=1e-6)


def test_batch_norm_second_order() -> None:
    rng = np.random.default_rng(2)
    x = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = tg.tensor(rng.standard_normal(3), requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), requires_grad=True)
    fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    assert gradcheck(fn, (x, w, b)) and gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize(
    ("shape", "normalized", "kwargs"),
    [
        ((4, 5), 5, {}),
        ((2, 3, 4), (3, 4), {}),
        ((3, 6), (6,), {"elementwise_affine": False}),
        ((3, 6), (6,), {"bias": False, "eps": 1e-3}),
    ],
)
def test_layer_norm_matches_torch(shape, normalized, kwargs) -> None:
    module, tmodule = nn.LayerNorm(normalized, **kwargs), torch.nn.LayerNorm(normalized, **kwargs)
    assert repr(module) == repr(tmodule)
    _load_from(module, tmodule)
    _compare(module, tmodule, shape, steps=1)


@pytest.mark.parametrize(
    ("groups", "channels", "shape", "affine"),
    [(2, 4, (3, 4, 5), True), (3, 6, (2, 6, 2, 3), True), (1, 3, (2, 3), False)],
)
@pytest.mark.parametrize("bias", [True, False])
def test_group_norm_matches_torch(groups, channels, shape, affine, bias) -> None:
    module = nn.GroupNorm(groups, channels, affine=affine, bias=bias)
    tmodule = torch.nn.GroupNorm(groups, channels, affine=affine, bias=bias)
    assert repr(module) == repr(tmodule)
    _load_from(module, tmodule)
    _compare(module, tmodule, shape, steps=1)


def test_reprs_match_torch() -> None:
    assert repr(nn.BatchNorm1d(3)) == repr(torch.nn.BatchNorm1d(3))
    assert repr(nn.BatchNorm2d(4, momentum=None, affine=False)) == repr(
        torch.nn.BatchNorm2d(4, momentum=None, affine=False)
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: F.batch_norm(tg.randn(1, 3), None, None, training=True),
            ValueError,
            r"Expected more than 1 value per channel when training, got input size "
            r"torch.Size\(\[1, 3\]\)",
        ),
        (
            lambda: F.batch_norm(tg.randn(4, 3), None, None),
            RuntimeError,
            "running_mean must be defined in evaluation mode",
        ),
        (
            lambda: F.batch_norm(tg.randn(4, 3), tg.zeros(2), tg.ones(2)),
            RuntimeError,
            "running_mean should contain 3 elements not 2",
        ),
        (
            lambda: F.layer_norm(tg.randn(4, 3, 6), (5,)),
            RuntimeError,
            r"Given normalized_shape=\[5\], expected input with shape \[\*, 5\], but got input of "
            r"size\[4, 3, 6\]",
        ),
        (
            lambda: F.layer_norm(tg.randn(4, 3, 6), (6,), tg.ones(5)),
            RuntimeError,
            "Expected weight to be of same shape as normalized_shape",
        ),
        (
            lambda: F.group_norm(tg.randn(4, 3, 5), 2),
            RuntimeError,
            "Expected number of channels in input to be divisible by num_groups",
        ),
        (
            lambda: nn.GroupNorm(2, 3),
            ValueError,
            r"num_channels \(3\) must be divisible by num_groups \(2\)",
        ),
        (
            lambda: nn.BatchNorm1d(3)(tg.randn(2, 3, 4, 5)),
            ValueError,
            r"expected 2D or 3D input \(got 4D input\)",
        ),
        (
            lambda: nn.BatchNorm2d(3)(tg.randn(2, 3, 4)),
            ValueError,
            r"expected 4D input \(got 3D input\)",
        ),
    ],
)
def test_errors_as_torch(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0, "dim": 0}, {"dim": -1, "eps": 0.5}])
def test_normalize_matches_torch(kwargs) -> None:
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    x[0] = 0  # a zero row: divided by eps, as torch
    xs, txs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = F.normalize(xs, **kwargs), torch.nn.functional.normalize(txs, **kwargs)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=1e-6)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), atol=1e-5)
