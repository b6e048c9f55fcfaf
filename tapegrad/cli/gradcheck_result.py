"""What ``tapegrad gradcheck`` found for one op or parameter: ``CheckResult`` and its
``Failure`` records, made by ``inspect_cmd`` and shown by ``render_inspect``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tapegrad.autograd.gradcheck import GradcheckReport


@dataclass
class Failure:
    """One failing sample: what disagreed, and the worst element's two values."""

    sample: str
    message: str
    numerical: float | None = None
    analytical: float | None = None


@dataclass
class CheckResult:
    """The gradcheck outcome for one op (or one parameter), over all its samples."""

    name: str
    samples: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every sample passed."""
        return not self.failures

    def add(self, sample: str, run: Callable[[], GradcheckReport]) -> None:
        """Run one check and fold its report in; an exception counts as a failure."""
        self.samples += 1
        try:
            report = run()
        except Exception as exc:  # a crashing op is a failed check, not a crashed command
            self.failures.append(Failure(sample, f"{type(exc).__name__}: {exc}"))
            return
        self.max_abs_err = max(self.max_abs_err, report.max_abs_err)
        self.max_rel_err = max(self.max_rel_err, report.max_rel_err)
        if not report.ok:
            numerical, analytical = report.worst or (None, None)
            message = report.failures[0] if report.failures else "gradients disagree"
            self.failures.append(Failure(sample, message, numerical, analytical))

    def to_json(self) -> dict[str, Any]:
        """The machine-readable record printed by ``--json``."""
        return {
            "name": self.name,
            "samples": self.samples,
            "max_abs_err": _finite(self.max_abs_err),
            "max_rel_err": _finite(self.max_rel_err),
            "ok": self.ok,
            "failures": [
                {**vars(f), "numerical": _finite(f.numerical), "analytical": _finite(f.analytical)}
                for f in self.failures
            ],
        }


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return value if value is not None and math.isfinite(value) else None
