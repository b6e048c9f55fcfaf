"""The config schema and the validated ``Config``.

The schema is one table (``SCHEMA``): dotted key -> default, check, help. Everything else
(unknown-key suggestions, per-kind applicability, printing the resolved config) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tapegrad.train.checks import (
    Check,
    boolean,
    choice,
    columns,
    hidden_sizes,
    integer,
    list_of,
    number,
    optional,
    text,
)
from tapegrad.train.option_checks import early_stopping, fraction
from tapegrad.train.schedule_options import scheduler
from tapegrad.train.threads import thread_setting


class When(NamedTuple):
    """A key that applies only while ``key`` has one of ``values`` (e.g. spirals-only keys)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Key:
    """One config key: default, check, help line, and when it applies (None: always)."""

    default: Any
    check: Check
    help: str
    only_if: When | None = None


DATA_KINDS = ("linear", "spirals", "csv")
OPTIMIZERS = ("manual", "sgd", "adam", "adamw", "rmsprop", "adagrad")
#: ``model.activation`` names (``model.ACTIVATIONS`` maps them to ``nn`` modules).
ACTIVATION_NAMES = (
    "relu", "tanh", "sigmoid", "gelu", "silu", "leaky_relu", "elu", "selu", "celu",
    "softplus", "mish", "hardswish",
)  # fmt: skip
LINEAR, SPIRALS, CSV = DATA_KINDS
FOR_LINEAR = When("data.kind", (LINEAR,))
FOR_SPIRALS = When("data.kind", (SPIRALS,))
FOR_CSV = When("data.kind", (CSV,))

SCHEMA: dict[str, Key] = {
    "seed": Key(0, integer(ge=0), "seeds data, initial weights and batch order"),
    "data.kind": Key("linear", choice(*DATA_KINDS), "which data set"),
    "data.n": Key(100, integer(ge=1), "number of samples", FOR_LINEAR),
    "data.d_in": Key(3, integer(ge=1), "number of input features", FOR_LINEAR),
    "data.weights": Key(
        [0.2, -1.3, -0.5],
        list_of(number(), "a non-empty list of numbers"),
        "y = x @ weights + noise * N(0,1)",
        FOR_LINEAR,
    ),
    "data.noise": Key(1.0, number(ge=0), "noise scale", When("data.kind", (LINEAR, SPIRALS))),
    "data.classes": Key(3, integer(ge=2), "number of spiral arms", FOR_SPIRALS),
    "data.points_per_class": Key(100, integer(ge=1), "points per spiral arm", FOR_SPIRALS),
    "data.path": Key(None, optional(text()), "CSV file, relative to the config file", FOR_CSV),
    "data.target": Key(None, columns(), "target column(s); null = the last", FOR_CSV),
    "data.header": Key(True, boolean(), "whether the first CSV row names the columns", FOR_CSV),
    "data.val_split": Key(
        None, optional(fraction()), "share of the samples held out for validation; null = none"
    ),
    "data.val_path": Key(None, optional(text()), "validation CSV (same columns)", FOR_CSV),
    "data.normalize": Key(
        "none", choice("none", "standard"), "standard: scale inputs by the training part's stats"
    ),
    "model.hidden": Key([32], hidden_sizes(), "hidden layer sizes"),
    "model.activation": Key("relu", choice(*ACTIVATION_NAMES), "hidden activation"),
    "model.dropout": Key(0.0, number(ge=0, lt=1), "dropout after each hidden activation; 0 = off"),
    "model.norm": Key(
        "none", choice("none", "batch", "layer"), "BatchNorm1d/LayerNorm after each hidden Linear"
    ),
    "model.init": Key("normal", choice("normal", "torch"), "normal: N(0,1), zero bias"),
    "train.epochs": Key(200, integer(ge=1), "passes over the data"),
    "train.lr": Key(1e-4, number(gt=0), "learning rate"),
    "train.loss": Key("sse", choice("sse", "mse", "cross_entropy"), "loss function"),
    "train.optimizer": Key("manual", choice(*OPTIMIZERS), "weight update"),
    "train.momentum": Key(
        0.0, number(ge=0), "SGD/RMSprop momentum", When("train.optimizer", ("sgd", "rmsprop"))
    ),
    "train.betas": Key(
        [0.9, 0.999],
        list_of(number(ge=0, lt=1), "a list of 2 numbers in [0, 1)", 2),
        "Adam/AdamW betas",
        When("train.optimizer", ("adam", "adamw")),
    ),
    "train.weight_decay": Key(
        None,
        optional(number(ge=0)),
        "L2 penalty (adamw: decoupled); null = the optimizer's default (0; adamw 0.01)",
        When("train.optimizer", OPTIMIZERS[1:]),
    ),
    "train.clip_grad_norm": Key(
        None, optional(number(gt=0)), "clip the gradients' total norm to this; null = off"
    ),
    "train.scheduler": Key(
        None,
        scheduler(),
        "{kind: step | multistep | exponential | cosine | onecycle | plateau, ...}",
    ),
    "train.batch_size": Key(None, optional(integer(ge=1)), "null = full batch"),
    "train.log_every": Key(10, integer(ge=1), "report every N epochs"),
    "train.stop_on_nonfinite": Key(
        True, boolean(), "stop when the loss becomes nan or inf (false: run on)"
    ),
    "train.compile": Key(
        True,
        boolean(),
        "replay the recorded step (tapegrad.compile); false = run every step eagerly",
    ),
    "train.threads": Key(
        "auto", thread_setting(), "BLAS threads: auto (1 for small models) or a number"
    ),
    "train.checkpoint_every": Key(
        None, optional(integer(ge=1)), "also save a checkpoint every N epochs; null = at the end"
    ),
    "train.early_stopping": Key(
        None, early_stopping(), "{monitor: val_loss | loss, patience, min_delta}; null = off"
    ),
    "output.dir": Key(None, optional(text()), "where run files go; null = write nothing"),
}

#: Defaults that depend on ``data.kind`` (used only when the key is not set).
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    SPIRALS: {"data.noise": 0.2, "train.loss": "cross_entropy"},
}

#: Which losses fit which data: regression sets take squared errors, spirals are classes.
LOSSES_FOR_KIND: dict[str, tuple[str, ...]] = {
    LINEAR: ("sse", "mse"),
    SPIRALS: ("cross_entropy",),
    CSV: ("sse", "mse", "cross_entropy"),
}

SECTIONS = tuple(dict.fromkeys(k.split(".")[0] for k in SCHEMA if "." in k))


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Config:
    """A validated config: dotted key -> value, for every key that applies to it."""

    values: dict[str, Any]
    path: Path | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when the key does not apply to this config."""
        return self.values.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The nested mapping as it would be written in YAML."""
        nested: dict[str, Any] = {}
        for key, value in self.values.items():
            *sections, leaf = key.split(".")
            target = nested
            for section in sections:
                target = target.setdefault(section, {})
            target[leaf] = value
        return nested
