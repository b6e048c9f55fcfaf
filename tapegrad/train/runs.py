"""Runs: a prepared ``Trainer`` plus the run's files, started fresh (``run``) or resumed.

``run`` checks sizes and the output directory before anything is written; ``resume``
continues a saved run bit for bit. Both report through the callback and write metrics as
they come, and a checkpoint every ``train.checkpoint_every`` epochs and at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import tapegrad as tg
from tapegrad import nn
from tapegrad.train import memory
from tapegrad.train.checkpoint import load_run, pack
from tapegrad.train.events import Callback, EpochEnded, Event, RunStarted, StopCheck
from tapegrad.train.loop import Trainer, prepare
from tapegrad.train.model import state_arrays
from tapegrad.train.outputs import CHECKPOINT_FILE, RunDirectory, check_output_dir
from tapegrad.train.result import RunResult
from tapegrad.train.schema import Config


def run(
    config: Config,
    callback: Callback | None = None,
    *,
    should_stop: StopCheck | None = None,
    detect_anomaly: bool = False,
    overwrite: bool = False,
) -> RunResult:
    """Seed, build data and model, train, and write the run's files if ``output.dir`` is set.

    ``should_stop`` is asked before every step (a signal handler sets it); ``detect_anomaly``
    runs under ``tapegrad.autograd.detect_anomaly()``; ``overwrite`` allows an output
    directory that already holds files. Sizes that cannot fit in memory, a non-empty output
    directory and bad data raise ConfigError before anything is written.
    """
    memory.check(memory.estimate_config(config), config)
    out_dir = config["output.dir"]
    if out_dir:
        check_output_dir(out_dir, overwrite, config.sources.get("output.dir", "defaults"))
    trainer = prepare(config)
    classification = trainer.data.n_classes is not None
    columns = _columns(classification)
    files = RunDirectory.create(out_dir, config, columns, overwrite) if out_dir else None
    return _session(trainer, files, callback, should_stop, detect_anomaly)


def resume(
    run_dir: str | Path,
    overrides: Sequence[str] = (),
    callback: Callback | None = None,
    *,
    should_stop: StopCheck | None = None,
    detect_anomaly: bool = False,
) -> RunResult:
    """Continue the run saved in ``run_dir`` from its checkpoint, appending to its files.

    ``overrides`` may change only ``checkpoint.RESUMABLE_KEYS`` (e.g. ``train.epochs=500``
    to train further). The result's history covers the whole run, earlier sessions included.
    """
    config, snapshot = load_run(run_dir, list(overrides))
    memory.check(memory.estimate_config(config), config)
    trainer = prepare(config)
    trainer.restore(snapshot, Path(run_dir) / CHECKPOINT_FILE)
    columns = _columns(trainer.data.n_classes is not None)
    files = RunDirectory.reopen(run_dir, config, columns, trainer.rows())
    return _session(trainer, files, callback, should_stop, detect_anomaly)


def _session(
    trainer: Trainer,
    files: RunDirectory | None,
    callback: Callback | None,
    should_stop: StopCheck | None,
    detect_anomaly: bool,
) -> RunResult:
    config, data, model = trainer.config, trainer.data, trainer.model
    sizes = [data.d_in, *config["model.hidden"], data.d_out]
    every = config["train.checkpoint_every"]
    emit = _fan_out(callback, files, trainer, every)
    start = trainer.result.epochs_done
    started = RunStarted(config, data.n, sizes, _count(model), data.n_classes is not None, start)
    anomaly = tg.autograd.detect_anomaly() if detect_anomaly else contextlib.nullcontext()
    try:
        with anomaly:
            emit(started)
            result = trainer.train(emit, should_stop)
    finally:
        if files is not None:
            files.close()
    if files is not None:
        result.out_dir = str(files.path)
        saved = result.resumable
        files.finish(
            state_arrays(model) if saved else None,
            result.summary(),
            pack(trainer.snapshot()) if saved else None,
        )
    return result


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _columns(classification: bool) -> list[str]:
    return (
        ["epoch", "loss", "accuracy", "seconds"] if classification else ["epoch", "loss", "seconds"]
    )


def _fan_out(
    callback: Callback | None, files: RunDirectory | None, trainer: Trainer, every: int | None
) -> Callback:
    def emit(event: Event) -> None:
        if files is not None and isinstance(event, EpochEnded):
            files.add_metrics(vars(event))
            if every and event.epoch % every == 0 and event.epoch < event.epochs:
                files.save_checkpoint(pack(trainer.snapshot()))
        if callback is not None:
            callback(event)

    return emit
