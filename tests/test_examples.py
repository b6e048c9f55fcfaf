"""The blog series in ``examples/``: each part runs, parts 1 and 2 print the same losses, and
the loss falls in parts 3 and 4."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PARTS = [
    "part1_from_scratch.py",
    "part2_autograd.py",
    "part3_modules.py",
    "part4_optimizers.py",
]
LINE = re.compile(r"^Epoch: +(\d+) +Loss: (\S+)$")


def losses(script: str) -> list[tuple[int, str]]:
    """Run one example; its (epoch, printed loss) lines."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    found = [LINE.match(line) for line in lines]
    assert all(found), f"unexpected output from {script}: {lines}"
    return [(int(m.group(1)), m.group(2)) for m in found if m]


@pytest.fixture(scope="module")
def printed() -> dict[str, list[tuple[int, str]]]:
    return {part: losses(part) for part in PARTS}


def test_every_part_prints_its_losses_every_10_epochs(printed):
    for part, rows in printed.items():
        assert [epoch for epoch, _ in rows] == list(range(10, 201, 10)), part
        assert all(float(loss) > 0 for _, loss in rows), part


def test_from_scratch_and_autograd_print_the_same_losses(printed):
    assert printed["part1_from_scratch.py"] == printed["part2_autograd.py"]


@pytest.mark.parametrize("part", ["part3_modules.py", "part4_optimizers.py"])
def test_the_loss_falls(printed, part):
    values = [float(loss) for _, loss in printed[part]]
    assert values[-1] < 0.5 * values[0]
    assert min(values[-5:]) < min(values[:5])


def test_the_readme_lists_every_part():
    readme = (EXAMPLES / "README.md").read_text()
    for part in PARTS:
        assert f"`{part}`" in readme


def test_the_drawn_blog_graph_shows_the_posts_gradients():
    svg = (EXAMPLES / "blog_graph.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for number in ("0.25", "4.65", "14.415", "18.6"):
        assert f"grad [2, 2] all {number}" in svg or f"grad {number}" in svg
