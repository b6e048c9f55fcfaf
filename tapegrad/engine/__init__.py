"""The autograd core: grad modes, graph nodes, anomaly mode and the backward pass.

It knows nothing of Tensor or of ops: nodes hold numpy arrays, and the tensor layer hands
down what the core needs from it (``node.register_tensor_adapter``).
"""
