"""Dropout, Dropout1d, Dropout2d and their functional forms: seeded masks, scaling, eval mode,
edge probabilities, node names and errors as torch."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.nn import functional as F


def test_dropout_zeroes_and_scales_kept_elements() -> None:
    x = tg.ones(200, 50, requires_grad=True)
    out = F.dropout(x, 0.3)
    values = np.unique(out.detach().numpy())
    np.testing.assert_allclose(values, [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((out.detach().numpy() == 0).mean() - 0.3) < 0.02
    assert out.grad_fn.name() == "MulBackward0" and out.dtype == tg.float32
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())  # the mask itself


def test_dropout_is_seeded_by_manual_seed() -> None:
    x = tg.ones(4, 5)
    tg.manual_seed(7)
    first = F.dropout(x).numpy()
    tg.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x).numpy(), first)
    assert not np.array_equal(F.dropout(x).numpy(), first)


def test_eval_mode_and_p_zero_return_the_input_itself() -> None:
    x = tg.randn(3, 4, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout2d(x.reshape(1, 3, 2, 2), 0.0).grad_fn.name() == "ViewBackward0"
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x


def test_p_one_zeroes_everything_through_a_multiplication() -> None:
    torch = pytest.importorskip("torch")
    x = tg.randn(3, 4, requires_grad=True)
    out = F.dropout(x, 1.0)
    tout = torch.nn.functional.dropout(torch.randn(3, 4, requires_grad=True), 1.0)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__ == "MulBackward0"
    np.testing.assert_array_equal(out.detach().numpy(), np.zeros((3, 4), np.float32))


def test_dropout_gradcheck_with_a_fixed_mask() -> None:
    x = tg.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)

    def fn(t: tg.Tensor) -> tg.Tensor:
        tg.manual_seed(3)
        return F.dropout(t, 0.4)

    assert gradcheck(fn, (x,)) and gradgradcheck(fn, (x,))


def test_inplace_dropout_changes_the_input() -> None:
    x = tg.ones(6, 6)
    version = x._version
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x and x._version > version
    assert set(np.unique(x.numpy())) <= {0.0, 2.0}
    leaf = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.dropout(leaf, 0.5, inplace=True)


def test_dropout2d_drops_whole_channels() -> None:
    x = tg.ones(8, 16, 3, 3)
    out = F.dropout2d(x, 0.5).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert np.all(per_channel == per_channel[..., :1])
    assert set(np.unique(out)) == {0.0, 2.0}


def test_dropout2d_3d_input_warns_and_drops_length_channels() -> None:
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d") as tapegrad_warned:
        out = F.dropout2d(tg.ones(4, 8, 5), 0.5).numpy()
    with pytest.warns(UserWarning) as torch_warned:
        torch.nn.functional.dropout2d(torch.ones(4, 8, 5), 0.5)
    assert str(tapegrad_warned[0].message) == str(torch_warned[0].message)
    assert np.all(out == out[..., :1])
    with pytest.warns(UserWarning, match="Received a 5-D input to dropout2d"):
        F.dropout2d(tg.ones(1, 2, 1, 1, 1), 0.5)


def test_dropout1d_drops_channels_of_batched_and_unbatched_inputs() -> None:
    out = F.dropout1d(tg.ones(4, 8, 5), 0.5).numpy()
    assert np.all(out == out[..., :1])
    single = F.dropout1d(tg.ones(8, 5), 0.5).numpy()
    assert np.all(single == single[..., :1])
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D"):
        F.dropout1d(tg.ones(1, 2, 3, 4))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_outside_zero_one_is_refused(p) -> None:
    message = f"dropout probability has to be between 0 and 1, but got {p}"
    with pytest.raises(ValueError, match=message):
        F.dropout(tg.ones(2), p)
    with pytest.raises(ValueError, match=message):
        F.dropout2d(tg.ones(2, 2, 2), p)
    with pytest.raises(ValueError, match=message):
        nn.Dropout(p)


def test_feature_dropout_needs_two_dims() -> None:
    with (
        pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"),
        pytest.warns(UserWarning),
    ):
        F.dropout2d(tg.ones(3), 0.5)


def test_modules_follow_training_mode_and_repr_as_torch() -> None:
    torch = pytest.importorskip("torch")
    for name in ("Dropout", "Dropout1d", "Dropout2d"):
        assert repr(getattr(nn, name)(0.2, inplace=True)) == repr(
            getattr(torch.nn, name)(0.2, inplace=True)
        )
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Dropout2d(0.5))
    x = tg.ones(2, 4)
    model.eval()
    np.testing.assert_array_equal(model[1](x).numpy(), x.numpy())
    model.train()
    assert (model[1](tg.ones(100)).numpy() == 0).any()
