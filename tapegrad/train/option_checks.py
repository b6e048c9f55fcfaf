"""Checks for the held-out data and early-stopping keys, and the rules that tie them together.

``data.val_split`` is a fraction strictly between 0 and 1; ``train.early_stopping`` is off
(null or false), on with its defaults (true), a patience (an integer), or a mapping of
``monitor``, ``patience`` and ``min_delta``; it is stored as the full mapping. The monitor
defaults to ``val_loss`` when the run has validation data, else to the training ``loss``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tapegrad.train.checks import Check, integer, number
from tapegrad.train.errors import ConfigError

MONITORS = ("val_loss", "loss")
EARLY_STOPPING_DEFAULTS: dict[str, Any] = {"monitor": None, "patience": 10, "min_delta": 0.0}


def fraction() -> Check:
    """A number strictly between 0 and 1 (a share of the samples)."""

    def convert(value: Any) -> float:
        x = number().convert(value)
        if not 0 < x < 1:
            raise ValueError
        return x

    return Check("a number between 0 and 1 (exclusive)", convert)


def early_stopping() -> Check:
    """null/false (off), true (defaults), a patience, or ``{monitor, patience, min_delta}``."""
    patience, min_delta = integer(ge=1), number(ge=0)

    def convert(value: Any) -> dict[str, Any] | None:
        if value is None or value is False:
            return None
        if value is True:
            return dict(EARLY_STOPPING_DEFAULTS)
        if isinstance(value, int):
            return {**EARLY_STOPPING_DEFAULTS, "patience": patience.convert(value)}
        if not isinstance(value, dict) or not set(value) <= set(EARLY_STOPPING_DEFAULTS):
            raise ValueError
        options = {**EARLY_STOPPING_DEFAULTS, **value}
        if options["monitor"] not in (None, *MONITORS):
            raise ValueError
        options["patience"] = patience.convert(options["patience"])
        options["min_delta"] = min_delta.convert(options["min_delta"])
        return options

    return Check(
        "null, true, a patience (an integer >= 1) or a mapping of monitor (val_loss or loss), "
        "patience (an integer >= 1) and min_delta (a number >= 0)",
        convert,
        MONITORS,
    )


def check_heldout(values: dict[str, Any], sources: Mapping[str, str]) -> None:
    """One source of validation data at most; the early-stopping monitor resolved (in place)."""
    validation = values.get("data.val_split") is not None or values.get("data.val_path")
    if values.get("data.val_split") is not None and values.get("data.val_path") is not None:
        where = sources.get("data.val_path", "defaults")
        raise ConfigError(
            f"{where}: data.val_path cannot be combined with data.val_split (one source of "
            "validation data); set one of them to null"
        )
    options = values.get("train.early_stopping")
    if options is None:
        return
    options = dict(options)
    if options["monitor"] is None:
        options["monitor"] = "val_loss" if validation else "loss"
    if options["monitor"] == "val_loss" and not validation:
        where = sources.get("train.early_stopping", "defaults")
        raise ConfigError(
            f"{where}: train.early_stopping monitors val_loss, but the run has no validation "
            "data; set data.val_split (e.g. 0.2) or data.val_path, or monitor: loss"
        )
    values["train.early_stopping"] = options
