"""Weight initializers: each takes a shape and returns a fresh ndarray.

Every initializer can be called as ``f(shape, rng=..., dtype=...)``, the
convention :class:`~tinygrad_nn.nn.Dense` uses for its ``init=`` argument.

Every random initializer takes ``rng``: a ``numpy.random.Generator``, an int
seed, or ``None`` (fresh OS entropy). Values are drawn in float64 and then
cast to ``dtype``, so one seed gives the same network in float64 and float32
(up to rounding).

Fan-in and fan-out follow this package's weight layout, ``(in, out)`` (the
W_jk of the classic notes, used by :class:`~tinygrad_nn.nn.Dense`): for a 2-d
shape ``fan_in = shape[0]`` and ``fan_out = shape[1]``; a 1-d shape ``(n,)``
has ``fan_in = fan_out = n``. (PyTorch stores ``(out, in)``; the fans are the
same, the axes are swapped.)

To re-initialize a parameter: ``layer.weight.data = init.kaiming_uniform(layer.weight.shape, rng=0)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "as_generator",
    "calculate_gain",
    "constant",
    "fans",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "ones",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Shape = int | Sequence[int]
RNG = np.random.Generator | int | None


def as_generator(rng: RNG) -> np.random.Generator:
    """``rng`` as a Generator: used as is, seeded from an int, or fresh for ``None``."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"rng: a seed must be a non-negative int, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _shape(name: str, shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        dims = tuple(int(n) for n in shape)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"{name}: shape {dims} has a negative dimension")
    return dims


def _dtype(name: str, dtype: Any) -> np.dtype[Any]:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{name}: dtype must be a floating type such as float64 or float32, got {dt}")
    return dt


def fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a 1-d ``(n,)`` or 2-d ``(in, out)`` shape."""
    dims = _shape("fans", shape)
    if len(dims) == 1:
        return dims[0], dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    raise ValueError(f"fans: fan-in/fan-out are defined for 1-d (n,) and 2-d (in, out) shapes, got {dims}")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation, as in PyTorch.

    linear/identity/sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu: √(2 / (1 + slope²))
    (``param`` is the slope, default 0.01); selu: 3/4.
    """
    name = nonlinearity.lower()
    if name in ("linear", "identity", "sigmoid"):
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if name == "selu":
        return 0.75
    raise ValueError(
        f"calculate_gain: unknown nonlinearity {nonlinearity!r} "
        "(linear, identity, sigmoid, tanh, relu, leaky_relu, selu)"
    )


def _fan(name: str, shape: tuple[int, ...], mode: str) -> int:
    fan_in, fan_out = fans(shape)
    if mode == "fan_in":
        fan = fan_in
    elif mode == "fan_out":
        fan = fan_out
    else:
        raise ValueError(f"{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    if fan == 0:
        raise ValueError(f"{name}: {mode} is 0 for shape {shape}")
    return fan


def zeros(shape: Shape, *, rng: RNG = None, dtype: Any = np.float64) -> np.ndarray:
    """All zeros (the default bias of :class:`~tinygrad_nn.nn.Dense`).

    ``rng`` is ignored; the deterministic initializers accept it so that every
    initializer can be called as ``f(shape, rng=..., dtype=...)``.
    """
    return np.zeros(_shape("zeros", shape), dtype=_dtype("zeros", dtype))


def ones(shape: Shape, *, rng: RNG = None, dtype: Any = np.float64) -> np.ndarray:
    """All ones."""
    return np.ones(_shape("ones", shape), dtype=_dtype("ones", dtype))


def constant(shape: Shape, value: float, *, rng: RNG = None, dtype: Any = np.float64) -> np.ndarray:
    """Every element equal to ``value``."""
    return np.full(_shape("constant", shape), float(value), dtype=_dtype("constant", dtype))


def uniform(
    shape: Shape, low: float = 0.0, high: float = 1.0, *, rng: RNG = None, dtype: Any = np.float64
) -> np.ndarray:
    """Independent draws from U(low, high)."""
    dims, dt = _shape("uniform", shape), _dtype("uniform", dtype)
    if not low <= high:
        raise ValueError(f"uniform: need low <= high, got low={low}, high={high}")
    return as_generator(rng).uniform(low, high, size=dims).astype(dt)


def normal(
    shape: Shape, mean: float = 0.0, std: float = 1.0, *, rng: RNG = None, dtype: Any = np.float64
) -> np.ndarray:
    """Independent draws from N(mean, std²)."""
    dims, dt = _shape("normal", shape), _dtype("normal", dtype)
    if not std >= 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    return as_generator(rng).normal(mean, std, size=dims).astype(dt)


def xavier_uniform(
    shape: Shape, gain: float = 1.0, *, rng: RNG = None, dtype: Any = np.float64
) -> np.ndarray:
    """Glorot/Xavier uniform: U(−a, a) with a = gain·√(6 / (fan_in + fan_out)).

    Keeps the variance of activations and of gradients roughly constant
    through sigmoid/tanh layers; the default weight init of ``Dense``.
    """
    dims = _shape("xavier_uniform", shape)
    fan_in, fan_out = fans(dims)
    if fan_in + fan_out == 0:
        raise ValueError(f"xavier_uniform: shape {dims} has no elements to initialize")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(dims, -a, a, rng=rng, dtype=dtype)


def xavier_normal(shape: Shape, gain: float = 1.0, *, rng: RNG = None, dtype: Any = np.float64) -> np.ndarray:
    """Glorot/Xavier normal: N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out))."""
    dims = _shape("xavier_normal", shape)
    fan_in, fan_out = fans(dims)
    if fan_in + fan_out == 0:
        raise ValueError(f"xavier_normal: shape {dims} has no elements to initialize")
    return normal(dims, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng, dtype=dtype)


def kaiming_uniform(
    shape: Shape,
    gain: float = math.sqrt(2.0),
    mode: str = "fan_in",
    *,
    rng: RNG = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He/Kaiming uniform: U(−b, b) with b = gain·√(3 / fan); the default gain √2 suits ReLU."""
    dims = _shape("kaiming_uniform", shape)
    b = gain * math.sqrt(3.0 / _fan("kaiming_uniform", dims, mode))
    return uniform(dims, -b, b, rng=rng, dtype=dtype)


def kaiming_normal(
    shape: Shape,
    gain: float = math.sqrt(2.0),
    mode: str = "fan_in",
    *,
    rng: RNG = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He/Kaiming normal: N(0, σ²) with σ = gain / √fan; the default gain √2 suits ReLU."""
    dims = _shape("kaiming_normal", shape)
    return normal(dims, 0.0, gain / math.sqrt(_fan("kaiming_normal", dims, mode)), rng=rng, dtype=dtype)


# Initializers that Dense accepts by name.
INITIALIZERS = {
    "zeros": zeros,
    "ones": ones,
    "uniform": uniform,
    "normal": normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
}
