"""Property-based tests of the engine: random expression graphs and a stateful model of
gradient accumulation (forward, backward, retain_graph, zeroing, no_grad)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tapegrad as tg

# Each entry works on tapegrad and torch tensors alike, with safe domains everywhere.
UNARY = {
    "exp_half": lambda a: (a * 0.5).exp(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "log1p_sq": lambda a: (a * a + 1).log(),
    "sqrt1p_sq": lambda a: (a * a + 1).sqrt(),
    "neg": lambda a: -a,
    "square": lambda a: a**2,
    "softmax": lambda a: a.softmax(-1),
    "sum_keep": lambda a: a.sum(-1, keepdim=True),
    "mean_keep": lambda a: a.mean(0, keepdim=True),
    "transpose_back": lambda a: a.t().t(),
    "slice_cat": lambda a: a[:, :1] * a,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "maximum_shifted": lambda a, b: a.maximum(b + 0.37),
}

step = st.one_of(
    st.tuples(st.just("u"), st.sampled_from(sorted(UNARY)), st.integers(0, 10**6)),
    st.tuples(
        st.just("b"), st.sampled_from(sorted(BINARY)), st.integers(0, 10**6), st.integers(0, 10**6)
    ),
)
programs = st.lists(step, min_size=1, max_size=12)


def _run(program, leaves):
    """Apply the program; each step picks operands from everything built so far (reuse makes
    diamonds), and the output sums the last three values."""
    pool = list(leaves)
    for kind, name, *picks in program:
        args = [pool[p % len(pool)] for p in picks]
        pool.append(UNARY[name](*args) if kind == "u" else BINARY[name](*args))
    out = pool[-1]
    for extra in pool[-3:-1]:
        out = out + extra
    return (out * out).sum()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(program=programs, seed=st.integers(0, 2**16))
def test_random_graphs_match_torch(program, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((3, 4)) * 0.5, rng.standard_normal((1, 4)) * 0.5]
    ours = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    _run(program, ours).backward()
    _run(program, theirs).backward()
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(
                a.grad.detach().numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12
            )


@settings(max_examples=20, deadline=None, derandomize=True)
@given(program=programs, seed=st.integers(0, 2**16))
def test_random_graphs_pass_gradcheck(program, seed):
    rng = np.random.default_rng(seed)
    leaves = [
        tg.tensor(rng.standard_normal(s) * 0.5, dtype=tg.float64, requires_grad=True)
        for s in ((3, 4), (1, 4))
    ]
    assert tg.autograd.gradcheck(lambda *xs: _run(program, xs), leaves, atol=1e-6, rtol=1e-4)


class AccumulationMachine(RuleBasedStateMachine):
    """Model: x.grad equals the sum of 2*c*x over every backward run on a recorded graph;
    zeroing resets it; graphs run twice only when retained; no_grad graphs can't run."""

    @initialize()
    def setup(self):
        self.x = tg.tensor([0.5, -1.0, 2.0], dtype=tg.float64, requires_grad=True)
        self.expected = np.zeros(3)
        self.graphs = []  # [output, coefficient, retained, used, recorded]

    @rule(c=st.floats(0.1, 3.0))
    def forward(self, c):
        self.graphs.append([(self.x**2 * c).sum(), c, False, False, True])

    @rule(c=st.floats(0.1, 3.0))
    def forward_no_grad(self, c):
        with tg.no_grad():
            self.graphs.append([(self.x**2 * c).sum(), c, False, False, False])

    @precondition(lambda self: self.graphs)
    @rule(i=st.integers(0, 100), retain=st.booleans())
    def backward(self, i, retain):
        graph = self.graphs[i % len(self.graphs)]
        out, c, retained, used, recorded = graph
        if not recorded:
            with pytest.raises(RuntimeError, match="does not require grad"):
                out.backward()
            return
        if used and not retained:
            with pytest.raises(RuntimeError, match="backward through the graph a second time"):
                out.backward(retain_graph=retain)
            return
        out.backward(retain_graph=retain)
        self.expected += 2 * c * self.x.detach().numpy()
        graph[2], graph[3] = retain, True

    @rule()
    def zero(self):
        if self.x.grad is not None:
            self.x.grad.zero_()
        self.expected[:] = 0

    @rule()
    def set_to_none(self):
        self.x.grad = None
        self.expected[:] = 0

    @invariant()
    def grad_matches_model(self):
        if self.x.grad is None:
            assert not self.expected.any()
        else:
            np.testing.assert_allclose(self.x.grad.detach().numpy(), self.expected, rtol=1e-12)


TestAccumulation = AccumulationMachine.TestCase
TestAccumulation.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, derandomize=True
)
