"""The functional API: every activation and every loss as a plain function.

``from tinygrad_nn.nn import functional as F``; each function accepts a Value
or plain data (a number, list or ndarray, taken as a constant) and returns a
Value. The definitions live in :mod:`.activations` and :mod:`.losses`.
"""

from __future__ import annotations

from .activations import (
    identity,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from .losses import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, sse_loss

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "identity",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "mse_loss",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "sse_loss",
    "tanh",
]
