"""Activation functions: gelu, silu, mish, elu, celu, selu, leaky_relu, relu6, hardtanh, hardsigmoid, hardswish, softplus, softsign, logsigmoid, softmin."""

from __future__ import annotations
