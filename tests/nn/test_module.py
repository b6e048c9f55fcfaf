"""Parameter and Module: discovery, naming, modes, gradients, state_dict, repr."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

from ._helpers import assert_close, copy_weights, to_torch


class Net(nn.Module):
    """Own parameter, a Sequential, a list and a dict of modules, and non-module attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.scale = nn.Parameter(tg.ones(1))
        self.heads = [nn.Linear(4, 2), nn.Linear(4, 2)]
        self.extra = {"a": nn.Linear(2, 1)}
        self.history: list[float] = []
        self.note = {"not": "a module"}

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        h = self.body(x) * self.scale
        return self.extra["a"](self.heads[0](h) + self.heads[1](h))


def torch_net(torch):
    """The same architecture in torch (ModuleList / ModuleDict for the list and dict)."""
    tnn = torch.nn

    class Net(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = tnn.Sequential(tnn.Linear(3, 4), tnn.ReLU())
            self.scale = tnn.Parameter(torch.ones(1))
            self.heads = tnn.ModuleList([tnn.Linear(4, 2), tnn.Linear(4, 2)])
            self.extra = tnn.ModuleDict({"a": tnn.Linear(2, 1)})

        def forward(self, x):
            h = self.body(x) * self.scale
            return self.extra["a"](self.heads[0](h) + self.heads[1](h))

    return Net()


NET_KEYS = [
    "scale",
    "body.0.weight",
    "body.0.bias",
    "heads.0.weight",
    "heads.0.bias",
    "heads.1.weight",
    "heads.1.bias",
    "extra.a.weight",
    "extra.a.bias",
]


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)


# ============================================================================ Parameter


def test_parameter_is_a_leaf_tensor_that_requires_grad() -> None:
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    assert isinstance(p, tg.Tensor)
    assert isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert not isinstance(tg.ones(2), nn.Parameter)


def test_parameter_shares_the_tensors_data() -> None:
    t = tg.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    with tg.no_grad():
        p.add_(1)
    assert t.tolist() == [2.0, 3.0]


def test_parameter_from_data_and_without_grad() -> None:
    p = nn.Parameter([[1.0, 2.0]], requires_grad=False)
    assert p.shape == (1, 2) and p.dtype is tg.float32 and not p.requires_grad
    empty = nn.Parameter()
    assert empty.shape == (0,)


def test_parameter_receives_gradients() -> None:
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    ((p * p).sum() + (tg.tensor([3.0, 4.0]) * p).sum()).backward()
    assert p.grad.tolist() == [5.0, 8.0]


def test_integer_parameter_cannot_require_grad() -> None:
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(tg.tensor([1, 2]))


def test_parameter_repr_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for data in ([1.0, 2.5], [[1.0], [2.0]]):
        for dtype, tdtype in ((tg.float32, torch.float32), (tg.float64, torch.float64)):
            ours = repr(nn.Parameter(tg.tensor(data, dtype=dtype)))
            theirs = repr(torch.nn.Parameter(torch.tensor(data, dtype=tdtype)))
            assert ours == theirs.replace("torch.", "tapegrad.")


def test_deepcopy_and_pickle_keep_parameters() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert [n for n, _ in clone.named_parameters()] == ["0.weight", "0.bias"]
        assert clone[0].weight is not model[0].weight
        np.testing.assert_array_equal(
            clone[0].weight.detach().numpy(), model[0].weight.detach().numpy()
        )
        clone(tg.ones(1, 2)).sum().backward()
        assert clone[0].weight.grad is not None and model[0].weight.grad is None


# ============================================================================ discovery


def test_named_parameters_own_first_then_children_in_definition_order() -> None:
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NET_KEYS
    assert list(net.parameters())[0] is net.scale
    assert list(net.parameters())[1] is net.body[0].weight
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="net")][:2] == [
        "net.scale",
        "net.body.0.weight",
    ]


def test_children_and_modules() -> None:
    net = Net()
    names = [name for name, _ in net.named_children()]
    assert names == ["body", "heads", "extra"]
    kinds = [type(child).__name__ for child in net.children()]
    assert kinds == ["Sequential", "ModuleList", "ModuleDict"]
    module_names = [name for name, _ in net.named_modules()]
    assert module_names == [
        "",
        "body",
        "body.0",
        "body.1",
        "heads",
        "heads.0",
        "heads.1",
        "extra",
        "extra.a",
    ]
    assert next(iter(net.modules())) is net


def test_list_attribute_stays_live() -> None:
    net = Net()
    net.heads.append(nn.Linear(4, 2))
    assert "heads.2.weight" in dict(net.named_parameters())


def test_lists_without_modules_are_ignored() -> None:
    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.empty: list[nn.Module] = []
            self.mixed = [nn.Linear(1, 1), 3]
            self.plain = tg.ones(2, requires_grad=True)

    assert list(Holder().named_parameters()) == []
    assert list(Holder().children()) == []


def test_shared_parameters_listed_once_but_saved_under_each_name() -> None:
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.children())) == 2


def test_assigning_a_plain_tensor_over_a_parameter_is_an_error() -> None:
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign 'tapegrad.Tensor' as parameter 'weight'"):
        lin.weight = tg.zeros(2, 2)
    lin.weight = nn.Parameter(tg.zeros(2, 2))
    assert lin.weight.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    net = Net()
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module 'body'"):
        net.body = 3


def test_forward_is_required() -> None:
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match=r"Module \[NoForward\] is missing the required"):
        NoForward()(tg.ones(1))


# ============================================================================ modes and gradients


def test_train_and_eval_are_recursive() -> None:
    net = Net()
    assert net.training and net.body[0].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules() if type(m).__name__ == "Linear")
    net.train()
    assert all(m.training for m in net.modules() if type(m).__name__ == "Linear")
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train(1)


def test_zero_grad_set_to_none_and_in_place() -> None:
    net = Net()
    net(tg.randn(5, 3)).sum().backward()
    grad = net.body[0].weight.grad
    assert grad is not None and np.any(grad.detach().numpy() != 0)
    net.zero_grad(set_to_none=False)
    assert net.body[0].weight.grad is grad
    assert all(np.all(p.grad.detach().numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_gradients_accumulate_until_zeroed() -> None:
    lin = nn.Linear(2, 1)
    x = tg.ones(1, 2)
    lin(x).sum().backward()
    first = lin.weight.grad.detach().numpy().copy()
    lin(x).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.detach().numpy(), 2 * first)


def test_apply_visits_children_then_self() -> None:
    net = Net()
    seen: list[str] = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 4


# ============================================================================ state_dict


def test_state_dict_is_detached_and_shares_memory() -> None:
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict) and list(state) == NET_KEYS
    weight = state["body.0.weight"]
    assert not weight.requires_grad and weight.grad_fn is None
    assert np.shares_memory(weight.detach().numpy(), net.body[0].weight.detach().numpy())
    assert net.state_dict(keep_vars=True)["scale"] is net.scale


def test_load_state_dict_copies_in_place_from_arrays_and_tensors() -> None:
    source, target = Net(), Net()
    params_before = list(target.parameters())
    version = target.scale._version
    state = {
        k: (v.numpy().copy() if i % 2 else v.clone())
        for i, (k, v) in enumerate(source.state_dict().items())
    }
    result = target.load_state_dict(state)
    assert repr(result) == "<All keys matched successfully>"
    assert all(a is b for a, b in zip(target.parameters(), params_before))
    assert target.scale._version > version
    assert target.scale.requires_grad and target.scale.grad_fn is None
    x = tg.randn(4, 3)
    np.testing.assert_array_equal(target(x).detach().numpy(), source(x).detach().numpy())


def test_load_state_dict_reports_missing_and_unexpected_keys_like_torch() -> None:
    net = Net()
    state = net.state_dict()
    del state["scale"], state["heads.1.bias"]
    state["bogus"] = tg.ones(1)
    state["body.0.extra"] = tg.ones(1)
    state["nowhere.x"] = tg.ones(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    assert str(info.value) == (
        "Error(s) in loading state_dict for Net:\n"
        '\tMissing key(s) in state_dict: "scale", "heads.1.bias". \n'
        '\tUnexpected key(s) in state_dict: "bogus", "nowhere.x", "body.0.extra". '
    )
    result = net.load_state_dict(state, strict=False)  # reported, not raised, as torch
    assert result.missing_keys == ["scale", "heads.1.bias"]
    assert result.unexpected_keys == ["bogus", "nowhere.x", "body.0.extra"]
    assert repr(result).startswith("_IncompatibleKeys(missing_keys=['scale', ")
    assert net.load_state_dict(net.state_dict(), strict=False) == ([], [])


def test_non_strict_load_reports_keys_as_torch() -> None:
    torch = pytest.importorskip("torch")
    reports = []
    for lib in (tg, torch):
        lin = lib.nn.Linear(3, 4)
        state = {"weight": lib.ones(4, 3), "extra": lib.zeros(1)}
        reports.append(repr(lin.load_state_dict(state, strict=False)))
        assert lin.weight.tolist() == [[1.0] * 3] * 4
    assert reports[0] == reports[1]


def test_load_state_dict_shape_mismatch_names_key_and_both_shapes() -> None:
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError) as info:
        lin.load_state_dict({"weight": np.zeros((4, 3), np.float32), "bias": np.zeros(2)})
    assert str(info.value) == (
        "Error(s) in loading state_dict for Linear:\n"
        "\tsize mismatch for weight: copying a param with shape (4, 3) from checkpoint, the "
        "shape in current model is (2, 3)."
    )


def test_load_state_dict_rejects_non_mappings_and_non_arrays() -> None:
    lin = nn.Linear(1, 1)
    with pytest.raises(
        TypeError, match=r"Expected state_dict to be dict-like, got <class 'list'>\."
    ):
        lin.load_state_dict([1])
    with pytest.raises(RuntimeError, match=r'While copying the parameter named "bias", expected'):
        lin.load_state_dict({"weight": np.zeros((1, 1)), "bias": [1.0]})


def test_load_state_dict_casts_to_the_parameter_dtype() -> None:
    lin = nn.Linear(2, 1)
    lin.load_state_dict({"weight": np.array([[1.5, 2.5]]), "bias": np.array([1], np.int64)})
    assert lin.weight.dtype is tg.float32 and lin.weight.tolist() == [[1.5, 2.5]]
    assert lin.bias.tolist() == [1.0]


# ============================================================================ torch interop


def test_state_dict_keys_and_repr_match_torch() -> None:
    torch = pytest.importorskip("torch")
    net, theirs = Net(), torch_net(torch)
    assert list(net.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert repr(net) == repr(theirs)


def test_repr_matches_torch_for_containers() -> None:
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    cases = [
        (
            nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)]),
            tnn.ModuleList([tnn.Linear(1, 1), tnn.Linear(1, 1), tnn.ReLU(), tnn.Linear(1, 1)]),
        ),
        (nn.ModuleList(), tnn.ModuleList()),
        (nn.Sequential(), tnn.Sequential()),
        (
            nn.ModuleDict({"b": nn.Tanh(), "a": nn.Sigmoid()}),
            tnn.ModuleDict({"b": tnn.Tanh(), "a": tnn.Sigmoid()}),
        ),
        (
            nn.Sequential(nn.Sequential(nn.Linear(2, 3, bias=False)), nn.ReLU()),
            tnn.Sequential(tnn.Sequential(tnn.Linear(2, 3, bias=False)), tnn.ReLU()),
        ),
    ]
    for ours, theirs in cases:
        assert repr(ours) == repr(theirs)


def test_tapegrad_checkpoint_loads_into_torch_and_back() -> None:
    torch = pytest.importorskip("torch")
    net, theirs = Net(), torch_net(torch)
    copy_weights(torch, net, theirs)
    x = tg.randn(6, 3)
    assert_close(net(x), theirs(to_torch(torch, x)), 1e-6)

    fresh, other = Net(), torch_net(torch)
    fresh.load_state_dict({k: v.numpy() for k, v in other.state_dict().items()})
    assert_close(fresh(x), other(to_torch(torch, x)), 1e-6)
    # torch tensors expose __array__, so a torch state_dict also loads as it is.
    fresh.load_state_dict(theirs.state_dict())
    assert_close(fresh(x), theirs(to_torch(torch, x)), 1e-6)
