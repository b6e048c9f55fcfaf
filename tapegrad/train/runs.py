"""Runs: a prepared ``Trainer`` plus the run's files, started fresh (``run``) or resumed.

``run`` checks sizes and the output directory before anything is written; ``resume``
continues a saved run bit for bit. Each holds its directory's lock from before its first
write to after its final save. Both report through the callback and write metrics as
they come, and a checkpoint every ``train.checkpoint_every`` epochs and at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import tapegrad as tg
from tapegrad import nn
from tapegrad.train import memory, threads
from tapegrad.train.checkpoint import load_run, pack
from tapegrad.train.errors import clip
from tapegrad.train.events import (
    Callback,
    EpochEnded,
    Event,
    Interruptible,
    RunStarted,
    RunWarning,
    StopCheck,
)
from tapegrad.train.lock import RunLock
from tapegrad.train.loop import Trainer, prepare
from tapegrad.train.model import state_arrays
from tapegrad.train.outputs import (
    CHECKPOINT_FILE,
    DATA_FILE,
    RunDirectory,
    RunFileError,
    discard_output_dir,
    lock_output_dir,
)
from tapegrad.train.result import RunResult
from tapegrad.train.schema import Config


def run(
    config: Config,
    callback: Callback | None = None,
    *,
    should_stop: StopCheck | None = None,
    detect_anomaly: bool = False,
    overwrite: bool = False,
    interruptible: Interruptible | None = None,
) -> RunResult:
    """Seed, build data and model, train, and write the run's files if ``output.dir`` is set.

    ``should_stop`` is asked before every step (a signal handler sets it); ``detect_anomaly``
    runs under ``tapegrad.autograd.detect_anomaly()``; ``overwrite`` allows an output
    directory that already holds files; ``interruptible`` is passed to ``Trainer.train``.
    Sizes that cannot fit in memory, a non-empty output directory, one another process is
    writing to, and bad data raise ConfigError before anything is written.
    """
    out_dir = config["output.dir"]
    where = config.sources.get("output.dir", "defaults")
    window = interruptible or contextlib.nullcontext
    with window():  # nothing is written yet
        memory.check(memory.estimate_config(config), config)
    # Locked before anything else, so a second run into the directory names this one.
    lock, created = lock_output_dir(out_dir, overwrite, where) if out_dir else (None, False)
    try:
        with window():
            trainer = prepare(config)
        columns = _columns(trainer.data.n_classes is not None, trainer.columns)
        files = None
        if lock is not None:
            files = RunDirectory.create(
                out_dir, config, columns, overwrite, where, lock, _texts(trainer)
            )
    except BaseException:
        if lock is not None:
            discard_output_dir(lock, created)
        raise
    return _session(trainer, files, callback, should_stop, detect_anomaly, interruptible)


def resume(
    run_dir: str | Path,
    overrides: Sequence[str] = (),
    callback: Callback | None = None,
    *,
    should_stop: StopCheck | None = None,
    detect_anomaly: bool = False,
    interruptible: Interruptible | None = None,
) -> RunResult:
    """Continue the run saved in ``run_dir`` from its checkpoint, appending to its files.

    ``overrides`` may change only ``checkpoint.RESUMABLE_KEYS`` (e.g. ``train.epochs=500``
    to train further). The result's history covers the whole run, earlier sessions included.
    The directory is locked before its checkpoint is read: a run still writing to it, or
    another resume of it, is refused (ConfigError naming its pid).
    """
    lock = RunLock.acquire(run_dir, clip(str(run_dir))) if Path(run_dir).is_dir() else None
    try:
        with (interruptible or contextlib.nullcontext)():  # nothing is written yet
            config, snapshot = load_run(run_dir, list(overrides))
            memory.check(memory.estimate_config(config), config)
            trainer = prepare(config)
            trainer.restore(snapshot, Path(run_dir) / CHECKPOINT_FILE)
        columns = _columns(trainer.data.n_classes is not None, trainer.columns)
        assert lock is not None  # load_run refuses a path that is not a directory
        files = RunDirectory.reopen(run_dir, config, columns, trainer.rows(), lock, _texts(trainer))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return _session(trainer, files, callback, should_stop, detect_anomaly, interruptible)


def _session(
    trainer: Trainer,
    files: RunDirectory | None,
    callback: Callback | None,
    should_stop: StopCheck | None,
    detect_anomaly: bool,
    interruptible: Interruptible | None,
) -> RunResult:
    config, data, model = trainer.config, trainer.data, trainer.model
    sizes = [data.d_in, *config["model.hidden"], data.d_out]
    every = config["train.checkpoint_every"]
    emit = _fan_out(callback, files, trainer, every)
    start = trainer.result.epochs_done
    held_out = trainer.held_out.n if trainer.held_out is not None else 0
    classification = data.n_classes is not None
    started = RunStarted(config, data.n, sizes, _count(model), classification, start, held_out)
    anomaly = tg.autograd.detect_anomaly() if detect_anomaly else contextlib.nullcontext()
    try:
        with anomaly, threads.for_config(config, sizes, data.n):
            emit(started)
            result = trainer.train(emit, should_stop, interruptible)
        if files is not None:
            _save(trainer, files, result)
    finally:
        if files is not None:
            files.release()
    return result


def _save(trainer: Trainer, files: RunDirectory, result: RunResult) -> None:
    """The final save: model, checkpoint, summary, each tried even if one before failed."""
    files.close()  # a failed last flush of metrics.csv is recorded before the summary
    result.out_dir = str(files.path)
    saved = result.resumable
    extra = {name: arrays for c in trainer.callbacks for name, arrays in c.files().items()}
    result.files_not_saved = files.finish(
        state_arrays(trainer.model) if saved else None,
        result.summary(),
        pack(trainer.snapshot()) if saved else None,
        extra,
    )


def _texts(trainer: Trainer) -> dict[str, str]:
    """Text files written when the run starts: ``data.json`` (columns and scaling)."""
    return {DATA_FILE: trainer.info.to_json()} if trainer.info is not None else {}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _columns(classification: bool, extra: Sequence[str] = ()) -> list[str]:
    figures = ["loss", "accuracy"] if classification else ["loss"]
    return ["epoch", *figures, *extra, "seconds"]


def _fan_out(
    callback: Callback | None, files: RunDirectory | None, trainer: Trainer, every: int | None
) -> Callback:
    warned = False

    def emit(event: Event) -> None:
        nonlocal warned
        warning = None
        if files is not None and isinstance(event, EpochEnded):
            files.add_metrics(vars(event))
            if every and event.epoch % every == 0 and event.epoch < event.epochs:
                try:
                    files.save_checkpoint(pack(trainer.snapshot()))
                except RunFileError as exc:  # the run can still finish and save: warn once
                    if not warned:
                        warning = RunWarning(f"{exc} at epoch {event.epoch}; training goes on")
                    warned = True
        if callback is not None:
            callback(event)
            if warning is not None:
                callback(warning)

    return emit
