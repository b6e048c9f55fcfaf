"""The layering promises of DESIGN.md, checked by scanning imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tapegrad"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py")) if (PACKAGE / sub).is_dir() else []


def test_import_tapegrad_does_not_import_cli_libraries():
    code = (
        "import sys, tapegrad, tapegrad.nn, tapegrad.optim; "
        "print(sorted(m for m in ('click', 'rich', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ops_see_arrays_only():
    banned = (
        "tapegrad.tensor",
        "tapegrad.nn",
        "tapegrad.train",
        "tapegrad.cli",
        "tapegrad.functional",
    )
    for path in _modules("ops"):
        bad = [m for m in _imports(path) if m.startswith(banned)]
        assert not bad, f"{path.name} imports {bad}"


def test_only_cli_imports_click_and_rich():
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        bad = [m for m in _imports(path) if m.split(".")[0] in ("click", "rich")]
        assert not bad, f"{path} imports {bad}"


def test_engine_knows_nothing_of_ops():
    for name in ("engine.py", "function.py", "grad_mode.py"):
        bad = [m for m in _imports(PACKAGE / "autograd" / name) if m.startswith("tapegrad.ops")]
        assert not bad, f"{name} imports {bad}"


def test_train_never_prints():
    for path in _modules("train"):
        calls = [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"
        ]
        assert not calls, f"{path.name} calls print()"


def test_nn_and_optim_use_public_api_only():
    for path in _modules("nn") + _modules("optim"):
        bad = [
            m for m in _imports(path) if m.startswith(("tapegrad.ops", "tapegrad.autograd.engine"))
        ]
        assert not bad, f"{path.name} imports {bad}"
