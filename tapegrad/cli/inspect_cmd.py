"""``tapegrad gradcheck`` and ``tapegrad graph``: look inside the gradients.

The commands parse options, call the library (the op registry and ``check_gradients``, or
``tapegrad.autograd.graph.walk``) and hand plain results to ``render_inspect``.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click
import numpy as np

import tapegrad
from tapegrad.autograd.gradcheck import GradcheckReport, check_gradients, check_second_order
from tapegrad.autograd.graph import draw, to_dot, to_json, trace, truncate, walk
from tapegrad.cli import render_inspect as out
from tapegrad.cli import render_trace
from tapegrad.cli.command import PlainErrorCommand
from tapegrad.cli.gradcheck_result import CheckResult
from tapegrad.cli.render import is_terminal

#: Exit status of a usage or config error, as ``tapegrad train`` gives it.
EXIT_USAGE = 2

# ============================================================================ gradcheck


class FiniteFloatRange(click.FloatRange):
    """A ``FloatRange`` that also refuses nan and inf (a nan step or tolerance would fail
    every check)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


@dataclass(frozen=True)
class Tolerances:
    """Finite-difference step and the tolerances of the comparison."""

    eps: float
    atol: float
    rtol: float
    seed: int


def check_op(op: Any, tol: Tolerances, second_order: bool = False) -> CheckResult:
    """Gradcheck one registry entry over all its samples, in float64 (second derivatives
    too, with ``second_order``)."""
    from tapegrad.testing.opinfo import sample_tensors

    result = CheckResult(op.name)
    check = check_second_order if second_order else check_gradients
    for sample in op.samples(np.random.default_rng(tol.seed)):

        def run(sample: Any = sample) -> GradcheckReport:
            return check(
                lambda *t: op.apply(tapegrad, t, sample),
                sample_tensors(sample, dtype=tapegrad.float64),
                eps=tol.eps,
                atol=tol.atol,
                rtol=tol.rtol,
                seed=tol.seed,
            )

        result.add(sample.desc, run)
    return result


def select(names: Sequence[str], known: Sequence[str], what: str) -> list[str]:
    """The requested names (all when none), deduplicated; a name that is not known but
    starts a family of names (``matmul`` for ``matmul_2d``, ``matmul_batched``...) stands
    for all of them; other unknown names are a usage error."""
    if not names:
        return list(known)
    chosen: list[str] = []
    for name in names:
        family = [k for k in known if k.startswith(name + "_")] if name not in known else [name]
        if not family:
            raise click.BadParameter(_unknown(name, known, what), param_hint="'--op'")
        chosen += family
    return list(dict.fromkeys(chosen))


def _unknown(name: str, known: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return f"unknown {what} {name!r}; did you mean {' or '.join(map(repr, close))}?"
    return f"unknown {what} {name!r}; known {what}s: {', '.join(known)}"


def run_checks(
    items: Sequence[str], check: Callable[[str], CheckResult], output: out.GradcheckOutput
) -> list[CheckResult]:
    """Check each item, streaming results to ``output``."""
    start = time.perf_counter()
    output.start(items)
    results: list[CheckResult] = []
    try:
        for item in items:
            results.append(check(item))
            output.result(results[-1])
    except KeyboardInterrupt:
        output.finish(results, time.perf_counter() - start)
        out.print_note(f"interrupted after {len(results)} of {len(items)}")
        raise SystemExit(130) from None
    output.finish(results, time.perf_counter() - start)
    return results


@click.command("gradcheck", cls=PlainErrorCommand)
@click.argument("args", nargs=-1, metavar="[CONFIG] [KEY=VALUE]...")
@click.option(
    "--op",
    "ops",
    multiple=True,
    metavar="NAME",
    help="Check only this op, or every op of a family (matmul: matmul_2d, matmul_...); with "
    "CONFIG: this parameter. Repeatable.",
)
@click.option("--list", "list_names", is_flag=True, help="Print the names --op accepts and exit.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per checked op.")
@click.option(
    "--eps",
    type=FiniteFloatRange(min=0, min_open=True),
    default=1e-6,
    show_default=True,
    help="Finite-difference step.",
)
@click.option(
    "--atol",
    type=FiniteFloatRange(min=0),
    default=1e-5,
    show_default=True,
    help="Absolute tolerance.",
)
@click.option(
    "--rtol",
    type=FiniteFloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="Relative tolerance.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the sample inputs and upstream gradients.",
)
@click.option(
    "--second-order",
    is_flag=True,
    help="Check second derivatives (gradgradcheck) of every registry op instead.",
)
@click.pass_context
def gradcheck_cmd(
    ctx: click.Context,
    args: tuple[str, ...],
    ops: tuple[str, ...],
    list_names: bool,
    as_json: bool,
    eps: float,
    atol: float,
    rtol: float,
    seed: int,
    second_order: bool,
) -> None:
    """Compare analytic gradients with central differences, in float64.

    \b
    Without CONFIG: every op of the registry, every sample input.
    With CONFIG: the loss of that config's model, with respect to each parameter
    (KEY=VALUE overrides as for tapegrad train).
    Exit status: 0 all pass, 1 a check failed, 2 usage error.
    """
    tol = Tolerances(eps, atol, rtol, seed)
    config, overrides = _split(args)
    if second_order and (config is not None or overrides):
        raise click.UsageError("--second-order checks the op registry; give no CONFIG with it")
    if list_names:
        click.echo("\n".join(_names(config, overrides)))
        return
    if config is None and not overrides:
        results = _check_registry(ops, tol, as_json, second_order)
    else:
        results = _check_config((config, overrides), ops, tol, as_json)
    if not all(r.ok for r in results):
        ctx.exit(1)


def _check_registry(
    ops: Sequence[str], tol: Tolerances, as_json: bool, second_order: bool = False
) -> list[CheckResult]:
    from tapegrad.testing import opinfo

    by_name = {op.name: op for op in opinfo.OPS}
    names = select(ops, list(by_name), "op")
    output = out.gradcheck_output(as_json, is_terminal(), "op")
    return run_checks(names, lambda name: check_op(by_name[name], tol, second_order), output)


def _names(config: str | None, overrides: Sequence[str]) -> list[str]:
    """The registry's op names, or with a config its model's parameter names."""
    if config is None and not overrides:
        from tapegrad.testing import opinfo

        return list(dict.fromkeys(op.name for op in opinfo.OPS))
    case = _load_case((config, overrides), double=False)
    return [name for name, _ in case.parameters]


def _split(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG] [KEY=VALUE ...]`` as ``tapegrad train`` reads it (errors: one line, exit 2)."""
    from tapegrad.cli.train_args import split_args
    from tapegrad.train import ConfigError

    try:
        path, overrides = split_args(args)
    except ConfigError as exc:
        out.print_error(str(exc))
        raise SystemExit(EXIT_USAGE) from None
    return (None if path is None else str(path)), overrides


def _check_config(
    config: ConfigSpec, params: Sequence[str], tol: Tolerances, as_json: bool
) -> list[CheckResult]:
    case = _load_case(config, double=True)
    named = dict(case.parameters)
    names = select(params, list(named), "parameter")
    output = out.gradcheck_output(as_json, is_terminal(), "parameter")
    return run_checks(names, lambda name: _check_parameter(case, name, tol), output)


def _check_parameter(case: ConfigCase, name: str, tol: Tolerances) -> CheckResult:
    """d loss / d parameter: the parameter is the only input that varies."""
    param = dict(case.parameters)[name]
    result = CheckResult(name)
    result.add(
        "loss",
        lambda: check_gradients(
            lambda p: case.loss(),
            (param,),
            eps=tol.eps,
            atol=tol.atol,
            rtol=tol.rtol,
            seed=tol.seed,
        ),
    )
    return result


# ============================================================================ graph

GRAD_PRINT_MAX = 16  # larger gradients are summarized by their norm

BLOG_CODE = """\
x1 = tapegrad.ones(2, 2, requires_grad=True)
x2 = tapegrad.tensor(1.1, requires_grad=True)
y = x1 * (x2 + 2)
z = y.pow(2) * 3
out = z.mean()
"""


def blog_example() -> tuple[Any, dict[str, Any]]:
    """The blog's "Digging deeper" graph: ``out`` and its named tensors."""
    x1 = tapegrad.ones(2, 2, requires_grad=True)
    x2 = tapegrad.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    y.retain_grad()
    z = y.pow(2) * 3
    z.retain_grad()
    result = z.mean()
    return result, {"out": result, "x1": x1, "x2": x2, "y": y, "z": z}


@click.command("graph", cls=PlainErrorCommand)
@click.argument("args", nargs=-1, metavar="[CONFIG] [KEY=VALUE]...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "dot", "json", "svg", "png"]),
    default="tree",
    show_default=True,
    help="A tree of grad_fn nodes, a Graphviz digraph (DOT text), JSON nodes and edges, or "
    "a picture (svg, png: needs pip install 'tapegrad[viz]' and Graphviz's dot).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Show only N levels below the output.",
)
@click.option(
    "--no-values", is_flag=True, help="Tree and pictures: skip backward() and the gradients."
)
@click.option(
    "--trace",
    "show_trace",
    is_flag=True,
    help="Run backward() and show each step the engine takes, in its order: the gradient "
    "that arrives, the rule with its numbers, what is sent on (--format json: as data).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="svg/png only: write the picture to FILE (default: stdout).",
)
def graph_cmd(
    args: tuple[str, ...],
    fmt: str,
    depth: int | None,
    no_values: bool,
    show_trace: bool,
    out_file: str | None,
) -> None:
    """Print the backward graph (grad_fn, next_functions) of a computation.

    Without CONFIG: the blog's example, then its gradients after out.backward().
    With CONFIG (and KEY=VALUE overrides as for tapegrad train): one training step's loss
    for that config's model. --trace shows the backward pass itself, step by step;
    --format svg|png draws the graph.
    """
    config, overrides = _split(args)
    if no_values and (fmt in ("json", "dot") or show_trace):
        what = "--trace" if show_trace else f"--format {fmt}"
        raise click.UsageError(
            f"--no-values skips backward() for --format tree, svg and png; {what} shows no "
            "gradients to skip (drop --no-values)"
        )
    if show_trace and fmt not in ("tree", "json"):
        raise click.UsageError("--trace prints text or JSON: use --format tree or --format json")
    if out_file is not None and fmt not in ("svg", "png"):
        raise click.UsageError("--out writes a picture: use it with --format svg or png")
    terminal = is_terminal()
    if config is None and not overrides:
        loss, names = blog_example()
        root, header, grads = "out", BLOG_CODE + "\nout.grad_fn\n", ["x1", "x2", "y", "z"]
    else:
        case = _load_case((config, overrides), double=False)
        loss, names = case.loss(), {**dict(case.inputs), **dict(case.parameters)}
        shown = " ".join([config or "defaults", *overrides])
        root, header = "loss", f"{shown}: the loss of one training step\n\nloss.grad_fn\n"
        grads = [name for name, _ in case.parameters]
    if show_trace:
        traced = trace(loss, names=names)
        header = header.replace(".grad_fn\n", ".backward(), step by step\n")
        render_trace.print_trace(traced, terminal, header=header, as_json=fmt == "json")
        return
    if fmt in ("svg", "png"):
        if not no_values:
            loss.backward(retain_graph=True)  # gradients in the boxes, saved tensors kept
        render_trace.write_picture(draw(loss, names, depth=depth), fmt, out_file, terminal)
        return
    graph = walk(loss, names)
    if fmt != "tree":
        shown = graph if depth is None else truncate(graph, depth)
        text = to_dot(shown) if fmt == "dot" else to_json(shown) + "\n"
        out.print_text(text, terminal)
        return
    out.print_text(header, terminal)
    styled = terminal and len(graph.nodes) <= out.STYLED_MAX_NODES
    out.print_tree(out.tree_lines(graph, depth), styled)
    if not no_values:
        out.print_text(_gradients_text(loss, root, names, grads), terminal)


def _gradients_text(loss: Any, root: str, names: dict[str, Any], grads: Sequence[str]) -> str:
    """Run backward and show each named tensor's ``.grad`` as PyTorch prints it."""
    loss.backward()
    lines = [f"\n{root}.backward()"]
    for name in grads:
        grad = names[name].grad
        if grad.numel() <= GRAD_PRINT_MAX:
            lines += [f"{name}.grad", repr(grad)]
        else:
            norm = float(np.linalg.norm(grad.numpy()))
            lines.append(f"{name}.grad  {list(grad.shape)}  norm {norm:.4f}")
    return "\n".join(lines) + "\n"


# ============================================================================ configs


@dataclass
class ConfigCase:
    """One training step of a config: the model's named parameters, the batch, the loss."""

    parameters: list[tuple[str, Any]]
    inputs: list[tuple[str, Any]]
    loss: Callable[[], Any]


#: A config file (None: the defaults) and its KEY=VALUE overrides.
ConfigSpec = tuple[str | None, Sequence[str]]


def _load_case(config: ConfigSpec, double: bool) -> ConfigCase:
    """Build the config's data and model exactly as ``tapegrad train`` does; ``double`` casts
    parameters and float data to float64 (for gradcheck)."""
    from tapegrad.train import ConfigError, load_config, memory, prepare
    from tapegrad.train.loop import batches

    try:
        loaded = load_config(config[0], config[1])
        # train's guard, before any data are made: sizes that cannot fit are refused
        memory.check(memory.estimate_config(loaded), loaded)
        trainer = prepare(loaded)
    except ConfigError as exc:
        out.print_error(str(exc))
        raise SystemExit(EXIT_USAGE) from None
    x, y, _ = next(iter(batches(trainer.data, trainer.config["train.batch_size"])))
    parameters = list(trainer.model.named_parameters())
    if double:
        x, y = _double(x), _double(y)
        for _, p in parameters:
            p._data = p._data.astype(np.float64)
    model, loss_fn = trainer.model, trainer.loss_fn
    return ConfigCase(parameters, [("x", x), ("y", y)], lambda: loss_fn(model(x), y))


def _double(t: Any) -> Any:
    return t.double() if t.dtype.is_floating_point else t
