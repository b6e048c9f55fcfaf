"""The README is a contract: each of its Python code blocks runs as shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(name: str) -> list[str]:
    return BLOCK.findall((ROOT / name).read_text())


def test_python_blocks_run_in_order(monkeypatch, capsys):
    name = "README.md"
    monkeypatch.chdir(ROOT)
    blocks = _blocks(name)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"{name} python block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{name} python block {number} fails: {exc!r}\n{code}")
    capsys.readouterr()
