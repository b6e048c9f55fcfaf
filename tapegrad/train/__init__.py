"""Training from experiment configs: the blog's loop, driven by YAML (no printing, no click).

``run(load_config("configs/blog.yaml"), callback)`` trains and reports events to ``callback``;
``resume(run_dir)`` continues a saved run exactly where it stopped.
"""

from tapegrad.train.config import Config, ConfigError, default_config, dump_config, load_config
from tapegrad.train.events import Callback, EpochEnded, Event, RunStarted, RunWarning
from tapegrad.train.loop import Trainer, fit, prepare
from tapegrad.train.model import build_model
from tapegrad.train.result import RunResult
from tapegrad.train.runs import resume, run

__all__ = [
    "Callback",
    "Config",
    "ConfigError",
    "EpochEnded",
    "Event",
    "RunResult",
    "RunStarted",
    "RunWarning",
    "build_model",
    "default_config",
    "dump_config",
    "Trainer",
    "fit",
    "prepare",
    "load_config",
    "resume",
    "run",
]
