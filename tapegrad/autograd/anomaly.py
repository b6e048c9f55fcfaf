"""Anomaly mode, under its old ``tapegrad.autograd.anomaly`` name (it lives in the core)."""

from tapegrad.engine.anomaly import (  # noqa: F401
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
