"""Sweeps: one config, a grid of override values, one run directory per point of the grid.

``plan`` parses ``KEY=V1,V2`` specs (values are YAML: ``model.hidden=[8],[16]`` is two
values), checks every run's config before anything starts, and says for each run directory
what is left to do (start it, resume it, or nothing: it finished). ``execute`` runs them as
``tapegrad train`` subprocesses, ``jobs`` at a time, each in its own process group so that a
stop request reaches every run exactly once (they save and can be resumed by sweeping again).
Nothing here prints.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapegrad.train.checkpoint import RESUMABLE_KEYS
from tapegrad.train.config import flatten, load_config, parse_overrides, read_yaml
from tapegrad.train.errors import COMMAND_LINE, ConfigError, clip
from tapegrad.train.outputs import CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE
from tapegrad.train.schema import Config

#: Where the subprocesses' output goes, under the sweep directory.
LOG_DIR = ".sweep-logs"
NEW, RESUME, RESTART, DONE = "new", "resume", "restart", "done"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+\-\[\]]")


@dataclass
class SweepRun:
    """One point of the grid: its overrides, directory, and what is left to do."""

    name: str
    overrides: list[str]
    directory: Path
    config: Config
    action: str = NEW
    returncode: int | None = None
    log: Path | None = None


@dataclass
class SweepResult:
    """What ``execute`` did: the runs, whether it was stopped, and the failed ones."""

    runs: list[SweepRun]
    stopped: bool = False
    failed: list[SweepRun] = field(default_factory=list)


def split_values(text: str) -> list[str]:
    """``"[8],[16]"`` -> ``["[8]", "[16]"]``: commas outside brackets and quotes separate."""
    values, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(text[start:i])
            start = i + 1
    values.append(text[start:])
    return [v.strip() for v in values]


def parse_sweeps(specs: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["train.lr=1e-3,1e-2"]`` -> ``[("train.lr", ["1e-3", "1e-2"])]`` with checked keys."""
    axes: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"{COMMAND_LINE}: --sweep expects KEY=V1,V2,..., got {clip(spec)!r}")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise ConfigError(f"{COMMAND_LINE}: --sweep {clip(spec)}: an empty value")
        (key,) = parse_overrides([f"{key.strip()}={values[0]}"])  # checks the key
        if key in axes:
            raise ConfigError(f"{COMMAND_LINE}: --sweep {key} is given twice")
        axes[key] = list(dict.fromkeys(values))
    return list(axes.items())


def run_name(assignment: Sequence[tuple[str, str]]) -> str:
    """``train.lr=0.01,model.hidden=[8]`` with characters unsafe in file names replaced."""
    name = ",".join(f"{key}={value}" for key, value in assignment)
    return _UNSAFE.sub("_", name)[:200]


def plan(
    config_path: str | Path | None,
    overrides: Sequence[str],
    specs: Sequence[str],
    out_dir: str | Path,
) -> list[SweepRun]:
    """Every run of the grid with its checked config and what is left to do in its directory."""
    axes = parse_sweeps(specs)
    swept = {key for key, _ in axes}
    fixed = [o for o in overrides if next(iter(parse_overrides([o]))) not in swept]
    runs = []
    for values in itertools.product(*(v for _, v in axes)):
        assignment = [(key, value) for (key, _), value in zip(axes, values)]
        name = run_name(assignment)
        directory = Path(out_dir) / name
        items = [*fixed, *(f"{k}={v}" for k, v in assignment)]
        config = load_config(config_path, items, {"output.dir": str(directory)})
        runs.append(SweepRun(name, items, directory, config))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{COMMAND_LINE}: two sweep values give the same run name")
    for run in runs:
        run.action = _action(run)
    return runs


def _action(run: SweepRun) -> str:
    directory = run.directory
    if not directory.is_dir() or not (directory / CONFIG_FILE).exists():
        return RESTART if directory.is_dir() and any(_entries(directory)) else NEW
    _same_config(run)
    summary = _read_json(directory / SUMMARY_FILE)
    status = summary.get("status")
    epochs = run.config["train.epochs"]
    if status in ("diverged", "failed"):
        return DONE  # running it again would end the same way
    if status == "ok" and summary.get("epochs", 0) >= epochs:
        return DONE
    if (directory / CHECKPOINT_FILE).is_file() and status in ("ok", "interrupted"):
        return RESUME
    return RESTART


def _entries(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if not p.name.startswith(".")]


def _same_config(run: SweepRun) -> None:
    path = run.directory / CONFIG_FILE
    saved = flatten(read_yaml(path), str(path))
    ignored = {*RESUMABLE_KEYS, "output.dir", "data.path"}
    for key, value in run.config.values.items():
        if key not in ignored and key in saved and saved[key] != value:
            raise ConfigError(
                f"{path}: {key} is {json.dumps(saved[key])} there but the sweep sets "
                f"{json.dumps(value)}; use another --out for a different sweep"
            )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def command(run: SweepRun, config_path: str | Path | None) -> list[str]:
    """The ``tapegrad train`` command line that does what is left of ``run``."""
    base = [sys.executable, "-m", "tapegrad", "train"]
    if run.action == RESUME:
        epochs = f"train.epochs={run.config['train.epochs']}"
        return [*base, "--resume", str(run.directory), epochs, "-q"]
    config = [str(config_path)] if config_path is not None else []
    overwrite = ["--overwrite"] if run.action == RESTART else []
    return [*base, *config, *run.overrides, "--out", str(run.directory), "-q", *overwrite]


def execute(
    runs: Sequence[SweepRun],
    config_path: str | Path | None,
    jobs: int = 1,
    should_stop: Callable[[], bool] = lambda: False,
    on_change: Callable[[SweepRun], None] = lambda run: None,
    poll: float = 0.05,
) -> SweepResult:
    """Run what is left, ``jobs`` processes at a time; ``should_stop`` ends the sweep: each
    running process is sent one SIGINT (it saves its run and exits 130), none is started."""
    todo = [r for r in runs if r.action != DONE]
    result = SweepResult(list(runs))
    running: dict[int, tuple[SweepRun, subprocess.Popen[bytes]]] = {}
    logs = Path(runs[0].directory).parent / LOG_DIR if runs else Path(LOG_DIR)
    try:
        while todo or running:
            if should_stop() and not result.stopped:
                result.stopped = True
                todo = []
                _signal_all(running)
            while todo and len(running) < max(1, jobs):
                run = todo.pop(0)
                running[id(run)] = (run, _start(run, config_path, logs))
                on_change(run)
            for key, (run, process) in list(running.items()):
                if process.poll() is not None:
                    run.returncode = process.returncode
                    del running[key]
                    if run.returncode not in (0, 130):
                        result.failed.append(run)
                    on_change(run)
            time.sleep(poll)
    except BaseException:  # a second interrupt: stop every child at once, then re-raise
        _signal_all(running, signal.SIGTERM)
        for _, process in running.values():
            process.wait()
        raise
    return result


def _start(run: SweepRun, config_path: str | Path | None, logs: Path) -> subprocess.Popen[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    run.log = logs / f"{run.name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(run.log, "ab") as log:
        # A session of its own: a Ctrl-C on the terminal reaches only the sweep, which then
        # asks each run to stop once (a second SIGINT would stop a run without saving).
        return subprocess.Popen(
            command(run, config_path),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _signal_all(
    running: dict[int, tuple[SweepRun, subprocess.Popen[bytes]]], signum: int = signal.SIGINT
) -> None:
    for _, process in running.values():
        if process.poll() is None:
            with contextlib.suppress(OSError):  # it has just ended
                process.send_signal(signum)
