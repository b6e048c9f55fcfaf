#!/usr/bin/env python
"""Soak test: train the blog's model for many steps and check that memory stays flat.

Every step builds a graph (forward, loss), runs backward through it and updates the
weights; when the step ends, nothing of that graph should survive. This script measures the
process's resident set size (RSS) after a warm-up and at the end, and fails if it grew by more
than a threshold::

    python scripts/soak.py --steps 10000               # the blog's loop, 10,000 steps
    python scripts/soak.py --steps 10000 --optimizer adam --batch-size 25

It prints RSS at the start, every ``--every`` steps, and at the end; exit code 1 when the
growth exceeds ``--threshold-mb`` (default 5 MB), else 0. The run's per-epoch history (loss
and time: two Python floats and two list slots, about 70 bytes an epoch) is meant to grow;
it is measured, reported and subtracted, so what is checked is growth that nothing explains.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tapegrad.train import EpochEnded, Event, RunResult, load_config, run  # noqa: E402

WARM_UP = 200


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 1e6
    except (OSError, ValueError, IndexError):
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak_kb / 1e3 if sys.platform != "darwin" else peak_kb / 1e6


def history_mb(result: RunResult) -> float:
    """Bytes the run's per-epoch history holds: the lists and the floats in them."""
    lists: Sequence[list] = (result.losses, result.accuracies, result.times)
    total = sum(sys.getsizeof(items) + sum(map(sys.getsizeof, items)) for items in lists)
    return total / 1e6


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="training steps after warm-up")
    parser.add_argument("--threshold-mb", type=float, default=5.0, help="allowed RSS growth")
    parser.add_argument("--optimizer", choices=("manual", "sgd", "adam"), default="manual")
    parser.add_argument("--batch-size", type=int, default=None, help="default: full batch")
    parser.add_argument("--every", type=int, default=2_000, help="report RSS every N steps")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 if memory stayed flat, 1 if it grew past the threshold."""
    args = parse_args(argv)
    batch = args.batch_size
    steps_per_epoch = 1 if batch is None else -(-100 // batch)
    epochs = WARM_UP + -(-args.steps // steps_per_epoch)
    overrides = [f"train.epochs={epochs}", f"train.optimizer={args.optimizer}"]
    overrides += [f"train.batch_size={batch if batch is not None else 'null'}"]
    if args.optimizer == "adam":
        overrides.append("train.lr=1e-3")
    config = load_config(None, overrides)
    marks: dict[str, float] = {}
    samples: list[float] = []

    def watch(event: Event) -> None:
        if not isinstance(event, EpochEnded):
            return
        done = (event.epoch - WARM_UP) * steps_per_epoch
        if event.epoch == WARM_UP:
            gc.collect()
            marks["start"] = rss_mb()
            print(f"after {WARM_UP} warm-up epochs: RSS {marks['start']:.1f} MB", flush=True)
        elif done > 0 and done % args.every < steps_per_epoch:
            samples.append(rss_mb())
            print(f"step {done:>7}: RSS {samples[-1]:.1f} MB", flush=True)

    started = time.perf_counter()
    result = run(config, watch)
    seconds = time.perf_counter() - started
    gc.collect()
    end = rss_mb()
    history = history_mb(result) * (result.epochs_done - WARM_UP) / result.epochs_done
    growth = end - marks["start"] - history
    steps = (result.epochs_done - WARM_UP) * steps_per_epoch
    print(
        f"{steps} steps ({args.optimizer}, batch {batch or 'full'}) in {seconds:.1f} s: "
        f"RSS start {marks['start']:.1f} MB, end {end:.1f} MB, max {max([end, *samples]):.1f} MB; "
        f"growth {end - marks['start']:+.2f} MB, of which the loss history {history:.2f} MB; "
        f"unexplained {growth:+.2f} MB (threshold {args.threshold_mb:g} MB); "
        f"status {result.status}"
    )
    if result.status != "ok":
        print(f"error: the run ended with status {result.status}: {result.message}")
        return 1
    if growth > args.threshold_mb:
        print(f"error: RSS grew by {growth:.2f} MB more than the history, over the threshold")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
