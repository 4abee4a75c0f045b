"""Dense: the fully connected layer ``x @ weight + bias``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..coerce import numeric_array
from ..value import Value
from . import init as init_
from .module import Module, Parameter

__all__ = ["Dense"]

Initializer = str | Callable[..., Any]


def _resolve(which: str, spec: Initializer) -> Callable[..., Any]:
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec in init_.INITIALIZERS:
        return init_.INITIALIZERS[spec]
    raise ValueError(
        f"Dense: unknown {which} {spec!r}; use a callable f(shape, rng=, dtype=) or one of "
        f"{sorted(init_.INITIALIZERS)}"
    )


class Dense(Module):
    """Fully connected layer: ``y = x @ weight + bias``.

    ``weight`` has shape (in_features, out_features): ``weight[j, k]`` is the
    W_jk of the classic notes, the connection from input unit j to output unit
    k, so ``z_k = Σ_j x_j W_jk + θ_k``. ``bias`` has shape (out_features,).

    ``init`` / ``bias_init`` name an initializer of :mod:`tinygrad_nn.nn.init`
    or are callables ``f(shape, rng=generator, dtype=dtype) -> array``. The
    defaults are Keras's: Xavier/Glorot uniform weights, U(±√(6/(in+out))),
    which keep sigmoid/tanh units out of saturation, and a zero bias (the
    random weights already break the symmetry between units); for ReLU
    networks pass ``init="kaiming_uniform"``. ``rng`` is a
    ``numpy.random.Generator`` or an int seed: share one Generator across
    the layers of a model to make the whole model reproducible.

    The layer computes in its ``dtype`` (float64 by default): inputs of
    another dtype (e.g. float64 data into a float32 layer) are cast to it.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: Initializer = "xavier_uniform",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
        bias_init: Initializer = "zeros",
    ) -> None:
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
                raise ValueError(f"Dense: {what} must be a positive int, got {n!r}")
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Dense: dtype must be a floating type such as float64 or float32, got {dt}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        gen = init_.as_generator(rng)
        self.weight = Parameter(self._draw("init", init, (self.in_features, self.out_features), gen, dt))
        self.bias: Parameter | None = (
            Parameter(self._draw("bias_init", bias_init, (self.out_features,), gen, dt)) if bias else None
        )

    def _draw(
        self,
        which: str,
        spec: Initializer,
        shape: tuple[int, ...],
        gen: np.random.Generator,
        dt: np.dtype[Any],
    ) -> np.ndarray:
        values = np.asarray(_resolve(which, spec)(shape, rng=gen, dtype=dt))
        if values.shape != shape:
            raise ValueError(f"{self.name}: {which} returned shape {values.shape}, expected {shape}")
        if values.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: {which} returned non-numeric dtype {values.dtype}")
        return values.astype(dt, copy=False)

    @property
    def name(self) -> str:
        """``Dense(in -> out)``, the layer's name in error messages."""
        return f"Dense({self.in_features} -> {self.out_features})"

    def forward(self, x: Any) -> Value:
        """z = x @ weight + bias: ``x`` of shape (..., in_features) -> (..., out_features)."""
        z = self._input(x) @ self.weight
        return z if self.bias is None else z + self.bias

    def _input(self, x: Any) -> Any:
        """``x`` checked against the layer (an array or a Value) and cast to its dtype."""
        if type(x) is Value or isinstance(x, Value):
            d = x.data  # the array itself: Value's shape and dtype properties cost a call each
            if type(d) is float:
                d = np.asarray(d)
        elif type(x) is np.ndarray and x.dtype.kind in "biuf":
            d = x
        else:
            x = d = numeric_array(x, self.name)
        shape = d.shape
        if not shape or shape[-1] != self.in_features:
            raise ValueError(f"{self.name}: input has shape {shape}, expected (..., {self.in_features})")
        xd, wd = d.dtype, self.weight.data.dtype
        if xd is not wd and xd != wd:  # builtin dtypes are singletons: `is` settles the usual case
            x = x.astype(wd)
        return x

    def extra_repr(self) -> str:
        text = (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )
        return text if self.weight.dtype == np.float64 else f"{text}, dtype={self.weight.dtype}"
