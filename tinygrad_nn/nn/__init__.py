"""Layers, activations, losses, initializers and the Module system.

>>> import numpy as np
>>> from tinygrad_nn import nn
>>> model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.Sigmoid(), nn.Dense(3, 1, rng=1))
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> loss = nn.sse_loss(model(np.ones((4, 2))), np.zeros((4, 1)))
>>> loss.backward()
>>> model[0].weight.grad.shape
(2, 3)
"""

from ..checkpoint import CheckpointError
from . import functional, init
from .activations import (
    ACTIVATIONS,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    make_activation,
)
from .builders import mlp
from .containers import ModuleList, ParameterList, Sequential
from .layers import Dense
from .losses import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, sse_loss
from .module import LoadResult, Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "CheckpointError",
    "Dense",
    "Identity",
    "LeakyReLU",
    "LoadResult",
    "LogSoftmax",
    "Module",
    "ModuleList",
    "Parameter",
    "ParameterList",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "functional",
    "init",
    "make_activation",
    "mlp",
    "mse_loss",
    "sse_loss",
]
