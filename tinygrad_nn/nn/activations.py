"""Activation functions, as functions and as Modules for :class:`~tinygrad_nn.nn.Sequential`.

The functions take a Value or plain data (a constant) and return a Value; each
Module's ``forward`` is the function of the same name.
"""

from __future__ import annotations

from typing import Any

from .. import ops
from ..value import Value, apply
from .module import Module

__all__ = [
    "ACTIVATIONS",
    "Identity",
    "LeakyReLU",
    "LogSoftmax",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "as_value",
    "identity",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "make_activation",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]


def as_value(x: Any, name: str) -> Value:
    """``x`` itself if it is a Value, else a constant Value of its data (errors name ``name``)."""
    if isinstance(x, Value):
        return x
    try:
        return Value(x, requires_grad=False)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None


# -- functions -----------------------------------------------------------------


def sigmoid(x: Any) -> Value:
    """σ(x) = 1 / (1 + e^−x); σ′ = σ(1 − σ)."""
    return (x if type(x) is Value else as_value(x, "sigmoid")).sigmoid()


def tanh(x: Any) -> Value:
    """tanh(x); tanh′ = 1 − tanh²."""
    return (x if type(x) is Value else as_value(x, "tanh")).tanh()


def relu(x: Any) -> Value:
    """max(x, 0), with relu′(0) = 0."""
    return (x if type(x) is Value else as_value(x, "relu")).relu()


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Value:
    """x for x > 0, ``negative_slope``·x otherwise."""
    return as_value(x, "leaky_relu").leaky_relu(negative_slope)


def softmax(x: Any, axis: int = -1) -> Value:
    """e^x / Σ e^x along ``axis`` (stable while differences of inputs fit in floats)."""
    return as_value(x, "softmax").softmax(axis)


def log_softmax(x: Any, axis: int = -1) -> Value:
    """x − log Σ e^x along ``axis`` (stable while differences of inputs fit in floats)."""
    return as_value(x, "log_softmax").log_softmax(axis)


def identity(x: Any) -> Value:
    """x unchanged (as a Value)."""
    return as_value(x, "identity")


def softplus(x: Any) -> Value:
    """log(1 + e^x), without overflow for any x; softplus′ = σ."""
    return apply(ops.SOFTPLUS, as_value(x, "softplus"))


def log_sigmoid(x: Any) -> Value:
    """log σ(x) = −softplus(−x): finite for any x (never the log of an underflowed 0)."""
    return -softplus(-as_value(x, "log_sigmoid"))


# -- modules ---------------------------------------------------------------------


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e^−x), elementwise."""

    def forward(self, x: Any) -> Value:
        return sigmoid(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Any) -> Value:
        return tanh(x)


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Any) -> Value:
        return relu(x)


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope``·x otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Value:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """e^x / Σ e^x along ``axis`` (default: the last, the class axis of (N, C))."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Any) -> Value:
        return softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """x − log Σ e^x along ``axis``."""

    def forward(self, x: Any) -> Value:
        return log_softmax(x, self.axis)


class Softplus(Module):
    """log(1 + e^x), elementwise."""

    def forward(self, x: Any) -> Value:
        return softplus(x)


class Identity(Module):
    """Returns its input (as a Value): a linear output unit, or a placeholder."""

    def forward(self, x: Any) -> Value:
        return identity(x)


# -- by name -----------------------------------------------------------------------

ACTIVATIONS: dict[str, type[Module]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softplus": Softplus,
    "softmax": Softmax,
    "log_softmax": LogSoftmax,
    "identity": Identity,
}
"""The activation Modules by name, each named for the function it computes.

The one table from a name (a command-line option, a configuration field) to
a module: :func:`make_activation`, :func:`~tinygrad_nn.nn.mlp` and the δ
rules of :mod:`tinygrad_nn.backprop` read it.
"""


def make_activation(name: str) -> Module:
    """A new activation Module for ``name``, with its default options: ``"tanh"`` gives ``Tanh()``.

    Raises ValueError, naming the valid names, when ``name`` is not in :data:`ACTIVATIONS`.

    >>> make_activation("relu")
    ReLU()
    """
    cls = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return cls()
