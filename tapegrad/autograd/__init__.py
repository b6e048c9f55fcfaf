"""Reverse-mode automatic differentiation: backward, grad, grad modes, custom Functions."""

from tapegrad.autograd.function import Function, FunctionCtx
from tapegrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tapegrad.autograd.gradients import backward, grad
from tapegrad.engine.anomaly import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from tapegrad.engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tapegrad.engine.node import AccumulateGrad, Node

__all__ = [
    "AccumulateGrad",
    "Function",
    "FunctionCtx",
    "Node",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "GradcheckError",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "set_detect_anomaly",
    "set_grad_enabled",
]
