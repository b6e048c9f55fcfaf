"""copy.deepcopy, copy.copy and pickle of tensors and modules, checked against torch."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


def _leaf_with_live_graph() -> tuple[tg.Tensor, tg.Tensor]:
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    y = a * 2  # keeps a's gradient accumulator alive
    a.grad = tg.tensor([5.0, 5.0])
    return a, y


def test_deepcopy_of_a_leaf_is_independent_of_the_original():
    a, _ = _leaf_with_live_graph()
    b = copy.deepcopy(a)
    assert b.is_leaf and b.requires_grad and b.grad_fn is None
    assert b.grad.tolist() == [5.0, 5.0] and b.grad is not a.grad
    (b * 3).sum().backward()
    assert b.grad.tolist() == [8.0, 8.0]
    assert a.grad.tolist() == [5.0, 5.0]  # the copy must not accumulate into the original
    b.detach().numpy()[0] = 7.0
    assert a.tolist() == [1.0, 2.0]


def test_deepcopy_keeps_class_and_user_attributes_but_not_hooks():
    p = nn.Parameter(tg.ones(2))
    p.label = "w"
    p.register_hook(lambda g: g * 100)
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.label == "w"
    (q * 1).sum().backward()
    assert q.grad.tolist() == [1.0, 1.0]


def test_deepcopy_of_a_computed_tensor_is_refused():
    a, y = _leaf_with_live_graph()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(y)


def test_deepcopy_of_a_model_mid_step_trains_separately():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = tg.ones(4, 2)
    pending = model(x).sum()  # a live graph over the original parameters
    twin = copy.deepcopy(model)
    twin(x).sum().backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in twin.parameters())
    pending.backward()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_pickle_round_trip_keeps_data_dtype_and_requires_grad_only():
    a, y = _leaf_with_live_graph()
    b = pickle.loads(pickle.dumps(a))
    assert b.tolist() == [1.0, 2.0] and b.dtype == tg.float32
    assert b.requires_grad and b.grad is None
    c = pickle.loads(pickle.dumps(y))  # a computed tensor comes back as a leaf
    assert c.is_leaf and c.requires_grad and c.tolist() == [2.0, 4.0]
    d = pickle.loads(pickle.dumps(tg.arange(3)))
    assert d.dtype == tg.int64 and not d.requires_grad


def test_pickle_warns_about_hooks_and_keeps_parameters():
    p = nn.Parameter(tg.ones(2))
    p.register_hook(lambda g: g)
    with pytest.warns(UserWarning, match="hooks"):
        q = pickle.loads(pickle.dumps(p))
    assert type(q) is nn.Parameter and q.requires_grad


def test_pickle_of_a_model_round_trips():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    model(tg.ones(1, 2)).sum()  # a live graph
    clone = pickle.loads(pickle.dumps(model))
    for (name, p), (name2, q) in zip(model.named_parameters(), clone.named_parameters()):
        assert name == name2
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_copy_shares_data_like_torch():
    a = tg.ones(3, requires_grad=True)
    b = copy.copy(a)
    assert b is not a and b.requires_grad
    with tg.no_grad():
        a.detach().numpy()[0] = 5.0
    assert b.tolist()[0] == 5.0


def test_same_behaviour_as_torch():
    torch = pytest.importorskip("torch")
    for fw in (tg, torch):
        a = fw.tensor([1.0, 2.0], requires_grad=True)
        y = a * 2
        a.grad = fw.tensor([5.0, 5.0])
        b = copy.deepcopy(a)
        (b * 3).sum().backward()
        assert b.grad.tolist() == [8.0, 8.0] and a.grad.tolist() == [5.0, 5.0]
        assert pickle.loads(pickle.dumps(a)).grad is None
        assert pickle.loads(pickle.dumps(y)).is_leaf
        with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
            copy.deepcopy(y)
