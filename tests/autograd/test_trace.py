"""tapegrad.autograd.graph.trace: the backward pass as the engine ran it, step by step."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function, detect_anomaly
from tapegrad.autograd import graph_walk as W
from tapegrad.autograd.graph import Trace, Value, trace
from tapegrad.engine import backward as engine
from tapegrad.engine.node import AccumulateGrad

REPO = Path(__file__).resolve().parents[2]


def blog():
    """The seed's "Digging deeper" example, y and z retained."""
    x1 = tg.ones(2, 2, requires_grad=True)
    x2 = tg.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    y.retain_grad()
    z = y.pow(2) * 3
    z.retain_grad()
    out = z.mean()
    return out, {"x1": x1, "x2": x2, "y": y, "z": z, "out": out}


def by_label(t: Trace) -> dict[str, list]:
    steps: dict[str, list] = {}
    for step in t.steps:
        steps.setdefault(step.label, []).append(step)
    return steps


def engine_order(build) -> list[tuple[str, str | None]]:
    """The (name, label) of each node in the order the engine runs it, untraced: each node's
    ``_run``/``_run_once`` is wrapped on the instance to note when it is called."""
    loss, names = build()
    labels = W._Labels(names)
    order, seen = [], set()
    for node in {id(n.node): n.node for n in W.walk(loss, names).nodes if n.node}.values():
        for method in ("_run", "_run_once"):
            original = getattr(node, method)

            def wrapped(*args, _node=node, _original=original):
                if id(_node) not in seen:
                    seen.add(id(_node))
                    order.append((_node.name(), labels.of(_node)))
                return _original(*args)

            setattr(node, method, wrapped)
    loss.backward()
    return order


def mlp():
    """The blog's network on a small batch, with a shared subexpression."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((5, 3)), dtype=tg.float32)
    y = tg.tensor(rng.standard_normal((5, 1)), dtype=tg.float32)
    w1 = tg.tensor(rng.standard_normal((3, 4)), dtype=tg.float32, requires_grad=True)
    b1 = tg.zeros(1, 4, requires_grad=True)
    w2 = tg.tensor(rng.standard_normal((4, 1)), dtype=tg.float32, requires_grad=True)
    b2 = tg.zeros(1, 1, requires_grad=True)
    h = x.mm(w1).add(b1).clamp(min=0)
    pred = h.mm(w2).add(b2) + h.sum(1, keepdim=True) * 0.1
    loss = (pred - y).pow(2).sum()
    return loss, {"x": x, "y": y, "w1": w1, "b1": b1, "w2": w2, "b2": b2, "h": h}


# ----------------------------------------------------------------------------- the blog


def test_blog_trace_reproduces_the_posts_numbers_in_engine_order():
    out, names = blog()
    t = trace(out, names=names)
    assert t.order() == [
        "MeanBackward0",
        "MulBackward0",
        "PowBackward0",
        "MulBackward0",
        "AccumulateGrad",
        "AddBackward0",
        "AccumulateGrad",
    ]
    assert [s.step for s in t.steps] == list(range(1, 8))
    assert [s.label for s in t.steps] == ["out", "z", None, "y", "x1", None, "x2"]
    steps = by_label(t)
    # z.grad 0.25 and y.grad 4.65, as retain_grad stored them
    (z_hook,) = steps["z"][0].hooks
    assert z_hook.kind == "retain_grad" and z_hook.before is None
    assert z_hook.after.text() == "[2, 2] all 0.25"
    (y_hook,) = steps["y"][0].hooks
    assert y_hook.after.text() == "[2, 2] all 4.65"
    # x1.grad 14.415 and x2.grad 18.6, accumulated
    assert steps["x1"][0].accumulation.after.text() == "[2, 2] all 14.415"
    assert steps["x2"][0].accumulation.after.text() == "18.6"
    assert steps["x1"][0].accumulation.before is None
    assert np.allclose(names["x2"].grad.numpy(), 18.6)
    assert np.allclose(names["x1"].grad.numpy(), 14.415)


def test_blog_rules_show_the_numbers():
    out, names = blog()
    t = trace(out, names=names)
    rules = {(s.name, s.label): s.rule for s in t.steps}
    assert rules[("MeanBackward0", "out")] == [
        "self: g / 4 = 1 / 4 = 0.25, to every element of [2, 2]"
    ]
    assert rules[("MulBackward0", "z")] == ["self: g × other = 0.25 × 3 = 0.75"]
    assert rules[("PowBackward0", None)] == ["self: g × 2 × self = 0.75 × 2 × 3.1 = 4.65"]
    assert rules[("MulBackward0", "y")] == [
        "self: g × other = 4.65 × 3.1 = 14.415",
        "other: g × self = 4.65 × 1 = 4.65",
    ]


def test_blog_sends_and_the_broadcast_reduction():
    out, names = blog()
    t = trace(out, names=names)
    y_step = by_label(t)["y"][0]
    to_x1, to_add = y_step.sends
    assert (to_x1.to_name, to_x1.to_label, to_x1.to_step) == ("AccumulateGrad", "x1", 5)
    assert to_x1.grad.text() == "[2, 2] all 14.415" and to_x1.reduced is None
    # x2 + 2 is 0-d: the [2, 2] gradient is summed to it on the way, 4 × 4.65 = 18.6
    assert (to_add.to_name, to_add.to_step) == ("AddBackward0", 6)
    assert to_add.grad.text() == "[2, 2] all 4.65"
    assert to_add.reduced.text() == "18.6"
    add_step = t.steps[5]
    assert add_step.grad.text() == "18.6"
    assert add_step.sends[1].to is None  # the constant 2 needs no gradient
    text = t.to_text()
    assert "summed over broadcast dims to 18.6 -> AddBackward0 (step 6)" in text
    assert text.splitlines()[0] == "backward from out (MeanBackward0), seed gradient 1"


def test_blog_numbers_match_torch():
    torch = pytest.importorskip("torch")
    out, names = blog()
    t = trace(out, names=names)
    x1 = torch.ones(2, 2, requires_grad=True)
    x2 = torch.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    y.retain_grad()
    z = y.pow(2) * 3
    z.retain_grad()
    z.mean().backward()
    steps = by_label(t)
    expected = {"x1": x1.grad, "x2": x2.grad}
    for label, grad in expected.items():
        assert np.allclose(steps[label][0].accumulation.after.array(), grad.numpy())
    assert np.allclose(steps["y"][0].hooks[0].after.array(), y.grad.numpy())
    assert np.allclose(steps["z"][0].hooks[0].after.array(), z.grad.numpy())


# ----------------------------------------------------------------------------- the engine


def test_order_is_the_engines_real_order():
    traced = trace(*(lambda r: (r[0],))(mlp()))
    untraced = engine_order(mlp)
    assert [s.name for s in traced.steps] == [name for name, _ in untraced]
    loss, names = mlp()
    labelled = trace(loss, names=names)
    assert [(s.name, s.label) for s in labelled.steps] == untraced


def test_trace_gives_the_same_gradients_as_backward():
    loss, names = mlp()
    loss.backward()
    plain = {k: names[k].grad.numpy().copy() for k in ("w1", "b1", "w2", "b2")}
    loss, names = mlp()
    t = trace(loss, names=names)
    for key, grad in plain.items():
        assert np.array_equal(names[key].grad.numpy(), grad)
        (step,) = by_label(t)[key]
        assert step.accumulation.after.small is (grad.size <= 16)


def test_a_given_seed_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    t = trace(x * 2, gradient=tg.tensor([1.0, 0.5]), names={"x": x})
    assert t.seed.text() == "[2] [1, 0.5]"
    assert t.steps[0].rule == ["self: g × other = [1, 0.5] × 2 = [2, 1]"]
    assert x.grad.tolist() == [2.0, 1.0]


def test_observer_is_removed_even_when_backward_fails():
    out, names = blog()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        trace(out)
    assert engine._observer is None


def test_leaf_accumulation_before_and_after():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    t = trace((x * x).sum(), names={"x": x})
    (step,) = by_label(t)["x"]
    assert step.accumulation.before.text() == "[2] all 3"
    assert step.accumulation.after.text() == "[2] [5, 7]"
    assert step.rule == ["x.grad = .grad + g = 3 + [2, 4] = [5, 7]"]


def test_a_node_given_no_gradient_is_a_step_of_its_own():
    class NoGrad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return None

    x = tg.ones(2, requires_grad=True)
    t = trace(NoGrad.apply(x * 5).sum(), names={"x": x})
    # the engine still takes the nodes below, so their dependents are counted down
    assert t.order() == ["SumBackward0", "NoGradBackward", "MulBackward0", "AccumulateGrad"]
    assert t.steps[1].sends[0].grad is None
    assert t.steps[2].grad is None and t.steps[3].grad is None
    assert t.steps[3].accumulation is None and x.grad is None
    assert "no gradient arrived" in t.to_text()


def test_trace_under_anomaly_mode_uses_the_general_path():
    out, names = blog()
    with detect_anomaly():
        t = trace(out, names=names)
    assert sorted(t.order()) == sorted(
        ["MeanBackward0", "MulBackward0", "PowBackward0", "MulBackward0"]
        + ["AccumulateGrad", "AddBackward0", "AccumulateGrad"]
    )
    assert by_label(t)["x2"][0].accumulation.after.text() == "18.6"
    add = next(s for s in t.steps if s.name == "MulBackward0" and s.label == "y")
    assert add.sends[1].reduced.text() == "18.6"


def test_other_threads_are_not_recorded():
    seen = []

    def other():
        a = tg.ones(3, requires_grad=True)
        (a * 2).sum().backward()
        seen.append(a.grad.numpy().tolist())

    class Spawn(Function):
        @staticmethod
        def forward(ctx, a):
            return a.clone()

        @staticmethod
        def backward(ctx, g):
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
            return g

    x = tg.ones(2, requires_grad=True)
    t = trace(Spawn.apply(x).sum())
    assert seen == [[2.0, 2.0, 2.0]]
    assert t.order() == ["SumBackward0", "SpawnBackward", "AccumulateGrad"]


# ----------------------------------------------------------------------------- hooks


def test_tensor_hook_that_changes_the_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    t = trace(y.sum(), names={"x": x, "y": y})
    (y_step,) = by_label(t)["y"]
    (hook,) = y_step.hooks
    assert (hook.kind, hook.changed) == ("tensor hook", True)
    assert "<lambda>" in hook.name
    assert hook.seen.text() == "[2] all 1" and hook.after.text() == "[2] all 10"
    # the rule works on what the hook returned
    assert y_step.rule == ["self: g × other = 10 × 3 = 30"]
    assert by_label(t)["x"][0].accumulation.after.text() == "[2] all 30"
    assert "tensor hook" in t.to_text() and "replaced [2] all 1 with [2] all 10" in t.to_text()


def test_leaf_hook_and_node_hooks():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    calls = []

    def watch(g):
        calls.append(g.numpy().tolist())

    x.register_hook(watch)
    y.grad_fn.register_prehook(lambda grads: (grads[0] + 1,))
    y.grad_fn.register_hook(lambda inputs, outputs: None)
    t = trace(y.sum(), names={"x": x, "y": y})
    (y_step,) = by_label(t)["y"]
    kinds = [(h.kind, h.changed) for h in y_step.hooks]
    assert kinds == [("pre-hook", True), ("post-hook", False)]
    assert y_step.hooks[0].after.text() == "[2] all 2"
    (x_step,) = by_label(t)["x"]
    assert [(h.kind, h.name, h.changed) for h in x_step.hooks] == [
        ("tensor hook", watch.__qualname__, False)
    ]
    assert calls == [[4.0, 4.0]]
    assert x_step.accumulation.after.text() == "[2] all 4"


def test_retain_grad_accumulates_across_traces():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    s = y.sum()
    trace(s, retain_graph=True)
    t = trace(s, names={"y": y})
    (hook,) = by_label(t)["y"][0].hooks
    assert hook.before.text() == "[2] all 1" and hook.after.text() == "[2] all 2"


# ----------------------------------------------------------------------------- shapes


def test_broadcast_reduction_to_a_bias():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), dtype=tg.float32, requires_grad=True)
    b = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = trace((x + b).sum(), names={"x": x, "b": b})
    add = t.steps[1]
    to_x, to_b = add.sends
    assert to_x.reduced is None and to_x.to_label == "x"
    assert to_b.grad.text() == "[2, 3] all 1" and to_b.reduced.text() == "[3] all 2"
    assert by_label(t)["b"][0].grad.text() == "[3] all 2"


def test_the_same_input_twice():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    t = trace((a + a).sum(), names={"a": a})
    add = t.steps[1]
    assert [s.to_label for s in add.sends] == ["a", "a"]
    assert [s.to_step for s in add.sends] == [3, 3]
    assert by_label(t)["a"][0].grad.text() == "[2] all 2"


def test_a_node_with_several_outputs():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a, b = x.unbind(0)
    t = trace((a * 2 + b).sum(), names={"x": x})
    unbind = next(s for s in t.steps if s.name == "UnbindBackward0")
    assert [g.text() for g in unbind.grad] == ["[2] all 2", "[2] all 1"]
    outputs = sorted(
        send.to_output for s in t.steps for send in s.sends if send.to_name == "UnbindBackward0"
    )
    assert outputs == [0, 1]
    assert by_label(t)["x"][0].accumulation.after.text() == "[2, 2] [[2, 2], [1, 1]]"
    assert "-> UnbindBackward0 output 1 (step" in t.to_text()
    assert Trace.from_json(t.to_json()) == t


def test_large_tensors_are_summarized():
    tg.manual_seed(0)
    w = tg.randn(100, 32, requires_grad=True)
    t = trace((w * w).mean(), names={"w": w})
    mean, mul, acc = t.steps
    assert mean.sends[0].grad.values is None
    stats = mul.grad.stats
    assert set(stats) == {"min", "max", "mean", "norm"}
    assert stats["min"] == pytest.approx(1 / 3200)
    expected = 2 * w.detach().numpy() / 3200
    after = acc.accumulation.after
    assert after.shape == [100, 32] and after.values is None
    assert after.stats["norm"] == pytest.approx(float(np.linalg.norm(expected)), rel=1e-5)
    assert mul.rule[0].startswith("self: g × other -> [100, 32] min ")
    assert "norm" in t.to_text()


def test_value_summaries():
    assert Value.of(np.float32(14.415)).text() == "14.415"
    assert Value.of(np.full((2, 2), 0.25, np.float32)).text() == "[2, 2] all 0.25"
    assert Value.of(np.array([1.0, 2.5])).text() == "[2] [1, 2.5]"
    big = Value.of(np.arange(17.0))
    assert big.values is None and big.stats["max"] == 16.0
    assert big.text().startswith("[17] min 0 max 16 mean 8 norm ")
    assert Value.of(np.ones((100, 1))).text() == "[100, 1] all 1"
    assert Value.of(np.float32(3.1)).values == 3.1  # float32's shortest repr, not 3.0999999
    assert (
        Value.of(np.arange(8.0).reshape(2, 2, 2)).number() == "[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]"
    )
    assert Value.of(np.zeros((0, 3))).text() == "[0, 3] []"


def test_training_config_loss_is_summarized():
    from tapegrad.train import load_config, prepare
    from tapegrad.train.loop import batches

    trainer = prepare(load_config(str(REPO / "configs" / "blog.yaml")))
    x, y, _ = next(iter(batches(trainer.data, trainer.config["train.batch_size"])))
    loss = trainer.loss_fn(trainer.model(x), y)
    named = dict(trainer.model.named_parameters())
    t = trace(loss, names=named)
    leaves = [s for s in t.steps if s.name == "AccumulateGrad"]
    assert {s.label for s in leaves} == set(named)
    assert any(not s.grad.small for s in t.steps if isinstance(s.grad, Value))
    for name, p in named.items():
        (step,) = by_label(t)[name]
        assert step.accumulation.after.shape == list(p.shape)
        assert p.grad is not None


# ----------------------------------------------------------------------------- data


def test_json_round_trip():
    out, names = blog()
    t = trace(out, names=names)
    data = json.loads(t.to_json())
    assert [s["name"] for s in data["steps"]] == t.order()
    # float32: 4 × 4.65 sums to 18.599998, which prints as 18.6 (torch: tensor(18.6000))
    assert data["steps"][-1]["accumulation"]["after"]["values"] == pytest.approx(18.6)
    again = Trace.from_json(t.to_json())
    assert again == t
    assert again.to_text() == t.to_text()


def test_json_round_trip_with_hooks_and_summaries():
    tg.manual_seed(1)
    w = tg.randn(20, requires_grad=True)
    h = w * 2
    h.register_hook(lambda g: g * 3)
    h.retain_grad()
    t = trace(h.sum())
    assert Trace.from_json(t.to_json(indent=2)) == t


def test_trace_is_reachable_from_graph_and_is_not_recursive():
    from tapegrad.autograd import graph

    assert graph.trace is trace and "trace" in graph.__all__
    for module in ("graph_walk", "trace", "trace_model", "trace_rules", "graph_draw"):
        path = REPO / "tapegrad" / "autograd" / f"{module}.py"
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef):
                calls = {
                    c.func.id
                    for c in ast.walk(fn)
                    if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                }
                assert fn.name not in calls, f"{module}.{fn.name}"


def test_long_chain_traces_without_recursion():
    x = tg.ones(2, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    t = trace(y.sum())
    assert len(t.steps) == 3002
    assert isinstance(t.steps[-1], type(t.steps[0])) and t.steps[-1].name == "AccumulateGrad"
    assert AccumulateGrad.node_name == t.steps[-1].name
