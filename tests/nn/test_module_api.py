"""Module API: buffers, state_dict with buffers, modes, conversions, lookups by name."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


class WithBuffers(nn.Module):
    """A parameter, a persistent and a non-persistent buffer, and a child."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.scale = nn.Parameter(tg.ones(3))
        self.register_buffer("mean", tg.zeros(3))
        self.register_buffer("cache", tg.ones(2), persistent=False)
        self.register_buffer("count", tg.tensor(0))


def torch_with_buffers(torch):
    class Same(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 3)
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("mean", torch.zeros(3))
            self.register_buffer("cache", torch.ones(2), persistent=False)
            self.register_buffer("count", torch.tensor(0))

    return Same()


def test_buffers_are_listed_and_saved_like_torch() -> None:
    torch = pytest.importorskip("torch")
    m, t = WithBuffers(), torch_with_buffers(torch)
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert len(list(m.buffers())) == 3
    assert all(not b.requires_grad for b in m.buffers())


def test_load_state_dict_fills_buffers_in_place() -> None:
    m = WithBuffers()
    mean = m.mean
    state = {k: v.numpy() + 1 for k, v in m.state_dict().items()}
    assert repr(m.load_state_dict(state)) == "<All keys matched successfully>"
    assert m.mean is mean
    np.testing.assert_array_equal(m.mean.numpy(), np.ones(3, np.float32))
    assert m.count.item() == 1 and m.count.dtype == tg.int64
    np.testing.assert_array_equal(m.cache.numpy(), np.ones(2))  # not persistent: untouched


def test_load_state_dict_reports_missing_buffer() -> None:
    m = WithBuffers()
    state = dict(m.state_dict())
    del state["mean"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "mean"'):
        m.load_state_dict(state)
    assert m.load_state_dict(state, strict=False).missing_keys == ["mean"]


def test_torch_state_dict_with_buffers_loads() -> None:
    torch = pytest.importorskip("torch")
    m, t = WithBuffers(), torch_with_buffers(torch)
    t.mean.fill_(2.5)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    np.testing.assert_array_equal(m.mean.numpy(), np.full(3, 2.5, np.float32))
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})


def test_none_buffer_and_reassignment() -> None:
    m = nn.Module()
    m.register_buffer("b", None)
    assert list(m.named_buffers()) == [] and m.b is None
    m.b = tg.ones(2)
    assert [n for n, _ in m.named_buffers()] == ["b"]
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'b'"):
        m.b = 3
    del m.b
    assert list(m.named_buffers()) == []


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.register_buffer(1, tg.ones(1)), TypeError, "buffer name should be a string"),
        (lambda m: m.register_buffer("a.b", tg.ones(1)), KeyError, "name can.+t contain"),
        (lambda m: m.register_buffer("", tg.ones(1)), KeyError, "can.+t be empty string"),
        (lambda m: m.register_buffer("weight", tg.ones(1)), KeyError, "'weight' already exists"),
        (lambda m: m.register_buffer("x", 3), TypeError, "cannot assign 'int' object to buffer"),
        (lambda m: m.add_module("a.b", nn.ReLU()), KeyError, "module name can.+t contain"),
        (lambda m: m.add_module(3, nn.ReLU()), TypeError, "module name should be a string"),
        (lambda m: m.add_module("x", 3), TypeError, "int is not a Module subclass"),
        (lambda m: m.add_module("training", nn.ReLU()), KeyError, "'training' already exists"),
        (lambda m: m.to(tg.int64), TypeError, "only accepts floating point or complex dtypes"),
        (lambda m: m.get_submodule("foo"), AttributeError, "Linear has no attribute `foo`"),
        (lambda m: m.get_submodule("weight"), AttributeError, "`weight` is not an nn.Module"),
        (lambda m: m.get_buffer("weight"), AttributeError, "`weight` is not a buffer"),
    ],
)
def test_errors_as_torch(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(nn.Linear(2, 3))


def test_buffer_before_init_is_refused() -> None:
    class Early(nn.Module):
        def __init__(self) -> None:
            self.register_buffer("x", tg.ones(1))

    with pytest.raises(AttributeError, match="cannot assign buffer before Module.__init__"):
        Early()


def test_train_eval_recurse_and_return_self() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")


def test_double_float_half_keep_parameter_objects_and_convert_grads() -> None:
    m = WithBuffers()
    weight = m.lin.weight
    m.lin.weight.grad = tg.ones(3, 2)
    assert m.double() is m
    assert m.lin.weight is weight and weight.dtype == tg.float64
    assert weight.grad.dtype == tg.float64
    assert m.mean.dtype == tg.float64 and m.count.dtype == tg.int64  # integers stay
    m.float()
    assert weight.dtype == tg.float32 and m.mean.dtype == tg.float32
    m.half()
    assert weight.dtype == tg.float16
    assert m.to(tg.float64) is m and weight.dtype == tg.float64
    m.to("cpu", tg.float32)
    assert weight.dtype == tg.float32
    m.to(tg.zeros(1, dtype=tg.float64))
    assert weight.dtype == tg.float64 and weight.requires_grad


def test_double_model_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double()
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(
        m(tg.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12
    )
    for (name, a), (_, b) in zip(m.state_dict().items(), t.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12, err_msg=name)


def test_requires_grad_freezes_parameters() -> None:
    m = WithBuffers()
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


def test_apply_children_named_modules_and_lookups() -> None:
    inner = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    model = nn.Sequential(inner, nn.Linear(2, 1))
    seen: list[str] = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Sequential", "Linear", "Sequential"]
    assert list(model.children()) == [inner, model[1]]
    assert [n for n, _ in model.named_modules()] == ["", "0", "0.0", "0.1", "1"]
    assert model.get_submodule("0.1") is inner[1]
    assert model.get_submodule("") is model
    assert model.get_parameter("1.bias") is model[1].bias
    bn = nn.Sequential(nn.BatchNorm1d(2))
    assert bn.get_buffer("0.running_var") is bn[0].running_var
    with pytest.raises(AttributeError, match="`running_var` is not an nn.Parameter"):
        bn.get_parameter("0.running_var")


def test_add_module_and_register_module_and_parameter() -> None:
    m = nn.Module()
    m.add_module("a", nn.Linear(1, 1))
    m.register_module("b", nn.ReLU())
    m.register_parameter("p", nn.Parameter(tg.ones(2)))
    assert [n for n, _ in m.named_children()] == ["a", "b"]
    assert [n for n, _ in m.named_parameters()] == ["p", "a.weight", "a.bias"]
    with pytest.raises(TypeError, match="cannot assign 'tapegrad.Tensor' object to parameter"):
        m.register_parameter("q", tg.ones(1))


def test_zero_grad_set_to_none_or_zeros() -> None:
    m = nn.Linear(2, 1)
    m(tg.ones(3, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.weight.grad.numpy(), np.zeros((1, 2), np.float32))
    m.zero_grad()
    assert m.weight.grad is None


def test_extra_repr_of_a_custom_module() -> None:
    class Scaled(nn.Module):
        def extra_repr(self) -> str:
            return "factor=2"

    assert repr(Scaled()) == "Scaled(factor=2)"
