"""nn.utils against torch.nn.utils: clip_grad_norm_ (norm types, total norm, dtypes,
non-finite norms), clip_grad_value_, get_total_norm, parameters_to_vector and
vector_to_parameters."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import utils

from ._helpers import assert_close

torch = pytest.importorskip("torch")
TU = torch.nn.utils


def params_with_grads(dtypes=("float32", "float32", "float64"), seed: int = 0):
    """The same parameters, with the same gradients, in tapegrad and torch (one has none)."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    ours, theirs = [], []
    for shape, dtype in zip(shapes, dtypes):
        value, grad = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape)
        p, tp = nn.Parameter(tg.tensor(value)), torch.nn.Parameter(torch.tensor(value))
        p.grad, tp.grad = tg.tensor(grad.astype(dtype)), torch.tensor(grad.astype(dtype))
        ours.append(p)
        theirs.append(tp)
    ours.append(nn.Parameter(tg.zeros(2)))
    theirs.append(torch.nn.Parameter(torch.zeros(2)))
    return ours, theirs


def check_grads(ours, theirs, atol: float = 1e-6) -> None:
    for p, tp in zip(ours, theirs):
        if tp.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, tp.grad, atol)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, 0, float("inf"), "inf", -float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1000.0])
@pytest.mark.parametrize("dtypes", [("float32",) * 3, ("float32", "float64", "float32")], ids=str)
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtypes) -> None:
    ours, theirs = params_with_grads(dtypes)
    total = utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = TU.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.shape == () and not total.requires_grad
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
    assert str(total.dtype).split(".")[1] == str(expected.dtype).split(".")[1]
    check_grads(ours, theirs)


def test_clip_grad_norm_of_a_model_after_backward() -> None:
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)
    (model(tg.tensor(x)) ** 2).sum().backward()
    (tmodel(torch.tensor(x)) ** 2).sum().backward()
    total = utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
    expected = TU.clip_grad_norm_(tmodel.parameters(), 1.0, foreach=True)
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-5)
    check_grads(list(model.parameters()), list(tmodel.parameters()), 1e-6)
    grads = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    np.testing.assert_allclose(np.linalg.norm(grads), 1.0, rtol=1e-5)


def test_clip_grad_norm_of_one_tensor_changes_grad_in_place() -> None:
    ours, theirs = params_with_grads()
    grad = ours[0].grad
    version = grad._version
    total = utils.clip_grad_norm_(ours[0], 0.1)
    assert_close(total, TU.clip_grad_norm_(theirs[0], 0.1), 1e-6)
    assert ours[0].grad is grad and grad._version > version
    check_grads(ours[:1], theirs[:1])


def test_clip_grad_norm_with_nothing_to_clip() -> None:
    total = utils.clip_grad_norm_([], 1.0)
    assert total.item() == 0.0 and total.dtype is tg.float32
    assert utils.clip_grad_norm_([nn.Parameter(tg.zeros(3))], 1.0).item() == 0.0
    with pytest.warns(UserWarning, match="`parameters` is an empty generator"):
        utils.clip_grad_norm_((p for p in []), 1.0)


def test_non_finite_total_norm() -> None:
    ours, theirs = params_with_grads()
    ours[1].grad = tg.full((5,), float("nan"))
    theirs[1].grad = torch.full((5,), float("nan"))
    with pytest.raises(RuntimeError) as expected:
        TU.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as raised:
        utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert str(raised.value) == str(expected.value)
    assert np.isnan(utils.clip_grad_norm_(ours, 1.0).item())
    assert np.isnan(ours[0].grad.numpy()).all()  # scaled by the NaN norm, as torch


def test_get_total_norm_and_clip_grads_with_norm() -> None:
    ours, theirs = params_with_grads()
    grads = [p.grad for p in ours if p.grad is not None]
    tgrads = [p.grad for p in theirs if p.grad is not None]
    total = utils.get_total_norm(grads, 3.0)
    expected = TU.get_total_norm(tgrads, 3.0)
    assert_close(total, expected, 1e-10)
    utils.clip_grads_with_norm_(ours, 0.7, total)
    TU.clip_grads_with_norm_(theirs, 0.7, expected)
    check_grads(ours, theirs)


@pytest.mark.parametrize("clip_value", [0.5, 2, -0.3])
def test_clip_grad_value_matches_torch(clip_value) -> None:
    ours, theirs = params_with_grads()
    grad = ours[0].grad
    assert utils.clip_grad_value_(ours, clip_value) is None
    TU.clip_grad_value_(theirs, clip_value)
    check_grads(ours, theirs, 0)
    assert ours[0].grad is grad
    utils.clip_grad_value_(ours[1], 0.1, foreach=True)
    assert np.abs(ours[1].grad.numpy()).max() <= 0.1 + 1e-7


def test_parameters_to_vector_is_recorded() -> None:
    ours, theirs = params_with_grads(("float64",) * 3)
    vec = utils.parameters_to_vector(ours)
    tvec = TU.parameters_to_vector(theirs)
    assert_close(vec, tvec, 0)
    assert vec.grad_fn.name() == type(tvec.grad_fn).__name__ == "CatBackward0"
    names = [type(f).__name__ for f, _ in tvec.grad_fn.next_functions]
    assert [f.name() for f, _ in vec.grad_fn.next_functions] == names
    weights = np.arange(vec.shape[0], dtype=np.float64)
    for p in ours:
        p.grad = None
    (vec * tg.tensor(weights)).sum().backward()
    assert ours[1].grad.tolist() == weights[12:17].tolist()
    with pytest.raises(ValueError, match=r"expected a non-empty list of Tensors"):
        utils.parameters_to_vector([])


def test_vector_to_parameters_shares_the_vector() -> None:
    ours, theirs = params_with_grads(("float64",) * 3)
    vec = tg.arange(27, dtype=tg.float64)
    tvec = torch.arange(27, dtype=torch.float64)
    assert utils.vector_to_parameters(vec, ours) is None
    TU.vector_to_parameters(tvec, theirs)
    for p, tp in zip(ours, theirs):
        assert_close(p, tp, 0)
        assert p.requires_grad and p.grad is not None or p is ours[3]
    with tg.no_grad():
        vec.mul_(2)
    with torch.no_grad():
        tvec.mul_(2)
    for p, tp in zip(ours, theirs):
        assert_close(p, tp, 0)  # torch's parameters are views of the vector: so are ours
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        utils.vector_to_parameters([1.0], ours)
