"""Whole networks from a short description: :func:`mlp`, a stack of Dense layers and activations."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import init as init_
from .activations import make_activation
from .containers import Sequential
from .layers import Dense, Initializer
from .module import Module

__all__ = ["mlp"]

# Activations whose layers start from Kaiming's initialization when none is
# given: Xavier's assumes a unit that is linear near 0, which ReLU is not.
_KAIMING = ("relu", "leaky_relu")


def mlp(
    sizes: Sequence[int],
    activation: str | None = "sigmoid",
    output: str | None = None,
    *,
    init: Initializer | None = None,
    rng: np.random.Generator | int | None = None,
    dtype: Any = np.float64,
) -> Sequential:
    """A multilayer perceptron: ``Dense(sizes[0] -> sizes[1])``, activation, …, ``Dense(-> sizes[-1])``.

    ``sizes`` lists every layer's width, the input's first and the output's
    last. ``activation`` follows each hidden layer and ``output`` the last
    one; each is a name from :data:`~tinygrad_nn.nn.ACTIVATIONS`, or None for
    no module there (a linear layer). An unknown name raises ValueError
    before any weight is drawn.

    ``init`` (a name from :mod:`tinygrad_nn.nn.init` or a callable, as for
    :class:`~tinygrad_nn.nn.Dense`) initializes every layer's weights; None
    chooses per layer by the activation after it: ``kaiming_uniform`` before
    ``relu`` and ``leaky_relu``, ``xavier_uniform`` otherwise. Biases start
    at zero. All layers draw from one Generator (``rng``: a Generator, an int
    seed, or None for a fresh one), in order, so one seed gives one network.

    >>> from tinygrad_nn import nn
    >>> nn.mlp([4, 10, 3], "tanh", rng=0)
    Sequential(
      (0): Dense(in_features=4, out_features=10, bias=True)
      (1): Tanh()
      (2): Dense(in_features=10, out_features=3, bias=True)
    )
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output width, got {sizes!r}")
    for name in (activation, output):
        if name is not None:
            make_activation(name)  # an unknown name fails here, before any weight is drawn
    gen = init_.as_generator(rng)
    layers: list[Module] = []
    last = len(sizes) - 2
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        act = output if i == last else activation
        by_activation = "kaiming_uniform" if act in _KAIMING else "xavier_uniform"
        weights = by_activation if init is None else init
        layers.append(Dense(n_in, n_out, init=weights, rng=gen, dtype=dtype))
        if act is not None:
            layers.append(make_activation(act))
    return Sequential(*layers)
