"""The house rules of DESIGN.md and ARCHITECTURE.md, checked by reading every import.

Every import in ``tapegrad/`` counts, inside functions too (a ``TYPE_CHECKING`` block aside):
each module belongs to one layer and imports only from its own layer or those below, no
modules import each other in a cycle, and no module is over 500 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tapegrad"
MAX_LINES = 500

# Bottom to top. A module belongs to the first entry naming it or a package holding it.
LAYERS = [
    (
        "numpy helpers",
        [
            "_array",
            "_dtypes",
            "_printing",
            "_conversion",
            "_index_plan",
            "_device",
            "cuda",
            "_startup",
        ],
    ),
    ("autograd core", ["engine"]),
    (
        "tensor",
        ["tensor", "recording", "promotion", "inplace", "factories", "_flat", "serialization"],
    ),
    ("ops", ["ops"]),
    ("autograd API", ["autograd", "replay"]),
    ("nn, optim, testing", ["nn", "optim", "testing"]),
    ("package face", [""]),  # tapegrad/__init__.py: gives tapegrad.nn, .optim, .autograd
    ("train", ["train"]),
    ("cli", ["cli", "__main__"]),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int:
    inner = module.removeprefix("tapegrad").removeprefix(".")
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if inner == prefix or (prefix and inner.startswith(prefix + ".")):
                return index
            if prefix == "" and inner == "":
                best = index
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and ARCHITECTURE.md)")
    return best


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, node: ast.AST) -> list[str]:
    """The tapegrad modules an import statement loads, by name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:  # relative: from the importing module's package
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    found = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.append(sub if sub in MODULES else base)
    return found


def _imports(module: str) -> set[str]:
    """Every tapegrad module that ``module`` imports, anywhere but a TYPE_CHECKING block."""
    tree = ast.parse(MODULES[module].read_text())
    skipped = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and _is_type_checking(block)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            names.update(m for m in _imported(module, node) if m.split(".")[0] == "tapegrad")
    return {m for m in names if m in MODULES and m != module}


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_imports_only_point_down():
    upward = [
        f"{a} ({LAYERS[_layer(a)][0]}) imports {b} ({LAYERS[_layer(b)][0]})"
        for a, targets in GRAPH.items()
        for b in sorted(targets)
        if _layer(b) > _layer(a)
    ]
    assert upward == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_500_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by concern"


def test_the_checks_catch_what_they_should():
    """The cycle finder and the layer rule on a made-up house, so they can fail."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert _layer("tapegrad.engine.node") < _layer("tapegrad.tensor") < _layer("tapegrad.ops.base")
    assert _layer("tapegrad.nn.module") < _layer("tapegrad") < _layer("tapegrad.cli.main")


def test_type_checking_imports_are_skipped(tmp_path):
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tapegrad.cli\n"
    )
    block = tree.body[1]
    assert isinstance(block, ast.If) and _is_type_checking(block)


def test_import_tapegrad_does_not_import_cli_libraries():
    code = (
        "import sys, tapegrad, tapegrad.nn, tapegrad.optim; "
        "print(sorted(m for m in ('click', 'rich', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _third_party(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_cli_imports_click_and_rich():
    for module in MODULES:
        if module.startswith("tapegrad.cli"):
            continue
        assert not _third_party(module) & {"click", "rich"}, module


def test_train_never_prints():
    for module, path in MODULES.items():
        if not module.startswith("tapegrad.train"):
            continue
        calls = [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"
        ]
        assert not calls, f"{module} calls print()"
