"""train's promises: no click/rich, yaml only in config.py, no printing, importable alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[2] / "tapegrad" / "train"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_train_imports_neither_click_nor_rich_and_yaml_only_in_config():
    for path in TRAIN.glob("*.py"):
        roots = imported_roots(path)
        assert not roots & {"click", "rich"}, path.name
        if path.name != "config.py":
            assert "yaml" not in roots, path.name


def test_import_train_loads_no_cli_library():
    code = "import sys, tapegrad.train; print(sorted({'click', 'rich'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_unsafe_loading():
    for path in TRAIN.glob("*.py"):
        source = path.read_text()
        assert "allow_pickle=True" not in source and "yaml.load(" not in source
        assert "eval(" not in source, path.name
