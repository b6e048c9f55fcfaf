"""How many threads the BLAS library (OpenBLAS under numpy) may use while a run trains.

OpenBLAS starts one thread per core and spins them for every matrix product. For the small
products of a small model that buys nothing, and when another process keeps a core busy the
spinning threads wait on each other: on a 2-core machine a spirals run took 28-42 s with the
default threads against 2.5-3.2 s with one. ``train.threads: auto`` therefore uses one thread
when the model's largest product is small (``SMALL_PRODUCT`` multiply-adds) and leaves the
library's default otherwise; an integer sets the count. The limit is applied with
threadpoolctl (the environment variables only act before numpy loads, which is too late
here); without threadpoolctl installed the setting has no effect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from tapegrad.train.checks import Check

AUTO = "auto"
#: Largest matrix product (rows x fan-in x fan-out) that ``auto`` runs on one thread.
SMALL_PRODUCT = 1 << 22


def thread_setting() -> Check:
    """``auto`` or an integer >= 1 (the check of ``train.threads``)."""

    def convert(value: Any) -> str | int:
        if isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError
        return value

    return Check("auto or an integer >= 1", convert, (AUTO,))


def thread_count(setting: str | int, layer_sizes: Sequence[int], batch: int) -> int | None:
    """The BLAS threads for a run (None: the library's default)."""
    if setting != AUTO:
        return int(setting)
    largest = max((a * b for a, b in zip(layer_sizes, layer_sizes[1:])), default=0)
    return 1 if batch * largest <= SMALL_PRODUCT else None


@contextlib.contextmanager
def limited(count: int | None) -> Iterator[None]:
    """Run the block with at most ``count`` BLAS threads (no limit for None, or without
    threadpoolctl)."""
    if count is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=count, user_api="blas"):
        yield


def for_config(config: Any, layer_sizes: Sequence[int], samples: int) -> Any:
    """``limited`` for a run's config (``train.threads``, ``train.batch_size``)."""
    batch = config.get("train.batch_size") or samples
    return limited(
        thread_count(config.get("train.threads", AUTO), layer_sizes, min(batch, samples))
    )
