"""Primitive differentiable operations. Each sees numpy arrays, never Tensors."""
