"""Hypothesis strategies for testing code built on tinygrad_nn.

Requires the ``test`` extra (``pip install tinygrad_nn[test]``)::

    from hypothesis import given
    from tinygrad_nn.testing import values

    @given(values(shape=(3, 2)))
    def test_sum_grad_is_ones(v):
        v.sum().backward()
        assert (v.grad == 1).all()
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "tinygrad_nn.testing needs hypothesis: pip install 'tinygrad_nn[test]'"
    ) from exc

from .value import Value

__all__ = [
    "arrays",
    "assert_grads_close",
    "broadcastable_shapes",
    "dense_networks",
    "network_inputs",
    "shapes",
    "values",
]


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, including 0-d ``()`` unless ``min_dims > 0``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(
    num_shapes: int = 2, *, min_dims: int = 0, max_dims: int = 3, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Tuples of ``num_shapes`` shapes that broadcast together (with size-1 and missing axes)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda bs: bs.input_shapes)


def arrays(
    shape: Any = None,
    *,
    dtype: Any = np.float64,
    min_value: float = -3.0,
    max_value: float = 3.0,
    away_from_zero: float = 0.0,
) -> st.SearchStrategy[np.ndarray]:
    """Finite float arrays with elements in ``[min_value, max_value]``.

    ``shape`` is a tuple or a strategy of tuples (default: :func:`shapes`).
    ``away_from_zero`` keeps ``|x| >= away_from_zero``, for ops with a kink or
    pole at 0 (abs, relu, division, log of |x|).
    """
    elements = st.floats(
        min_value, max_value, allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8
    )
    if away_from_zero > 0:
        elements = elements.filter(lambda v: abs(v) >= away_from_zero)
    return hnp.arrays(dtype=dtype, shape=shapes() if shape is None else shape, elements=elements)


def values(
    shape: Any = None,
    *,
    dtype: Any = np.float64,
    min_value: float = -3.0,
    max_value: float = 3.0,
    away_from_zero: float = 0.0,
    requires_grad: bool = True,
) -> st.SearchStrategy[Value]:
    """Values wrapping :func:`arrays` (0-d float64 ones hold a Python float)."""
    return arrays(
        shape, dtype=dtype, min_value=min_value, max_value=max_value, away_from_zero=away_from_zero
    ).map(lambda a: Value(a, requires_grad=requires_grad, dtype=dtype))


# ---------------------------------------------------------------------------
# Networks of Dense layers, and data for them
# ---------------------------------------------------------------------------

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity", "none")
"""What :func:`dense_networks` puts after a layer: a name in :data:`tinygrad_nn.nn.ACTIVATIONS`, or none."""


def _int_range(spec: Any, what: str, low: int) -> st.SearchStrategy[int]:
    """``spec`` is an int or a ``(min, max)`` pair, all >= ``low``."""
    lo, hi = (spec, spec) if isinstance(spec, int) else tuple(spec)
    if not (isinstance(lo, int) and isinstance(hi, int) and low <= lo <= hi):
        raise ValueError(f"{what} must be an int >= {low} or a (min, max) pair of them, got {spec!r}")
    return st.integers(lo, hi)


def dense_networks(
    *,
    depth: int | tuple[int, int] = (1, 4),
    width: int | tuple[int, int] = (1, 8),
    activations: Sequence[str] = ("sigmoid", "tanh", "identity", "none"),
    bias: bool | None = None,
    max_weight: float = 2.0,
) -> st.SearchStrategy[Any]:
    """``nn.Sequential`` networks of ``depth`` Dense layers, each followed by an activation.

    ``depth`` and ``width`` (every layer size, the input's included) are an
    int or a ``(min, max)`` range. Each layer's activation is drawn from
    ``activations``: ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"``
    (an ``nn.Identity`` module) or ``"none"`` (no module after the layer).
    ``bias=None`` draws, per layer, whether it has a bias. Weights and
    biases are float64, drawn in ``[-max_weight, max_weight]``.
    """
    depths = _int_range(depth, "dense_networks: depth", 1)
    widths = _int_range(width, "dense_networks: width", 1)
    acts = tuple(activations)
    unknown = [a for a in acts if a not in ACTIVATIONS]
    if not acts or unknown:
        raise ValueError(
            f"dense_networks: activations must be a non-empty selection of {ACTIVATIONS}, got {activations!r}"
        )
    if not (math.isfinite(max_weight) and max_weight >= 0):
        raise ValueError(f"dense_networks: max_weight must be a finite number >= 0, got {max_weight!r}")
    weights = st.floats(-max_weight, max_weight, allow_subnormal=False)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        from . import nn  # imported late: the strategies above do not need it

        n_layers = draw(depths)
        sizes = [draw(widths) for _ in range(n_layers + 1)]
        modules: list[Any] = []
        for n_in, n_out in itertools.pairwise(sizes):
            layer = nn.Dense(n_in, n_out, bias=draw(st.booleans()) if bias is None else bias)
            layer.weight.data[...] = draw(hnp.arrays(np.float64, (n_in, n_out), elements=weights))
            if layer.bias is not None:
                layer.bias.data[...] = draw(hnp.arrays(np.float64, (n_out,), elements=weights))
            modules.append(layer)
            act = draw(st.sampled_from(acts))
            if act != "none":
                modules.append(nn.make_activation(act))
        return nn.Sequential(*modules)

    return build()


def _feature_sizes(model: Any) -> tuple[int, int]:
    """Input width of the first Dense layer and output width of the last one."""
    from . import nn

    layers = [model] if isinstance(model, nn.Dense) else [m for m in model if isinstance(m, nn.Dense)]
    if not layers:
        raise ValueError(f"network_inputs: {type(model).__name__} has no Dense layer to size the data by")
    return layers[0].weight.shape[0], layers[-1].weight.shape[1]


def network_inputs(
    model: Any,
    *,
    batch: int | tuple[int, int] = (1, 16),
    min_value: float = -3.0,
    max_value: float = 3.0,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Pairs ``(x, t)`` for ``model`` (a Dense layer or a Sequential of them).

    ``x`` has shape ``(batch, in_features)`` with elements in
    ``[min_value, max_value]``; the targets ``t`` have shape
    ``(batch, out_features)`` with elements in ``[-1, 1]``. Both float64.
    """
    n_in, n_out = _feature_sizes(model)
    batches = _int_range(batch, "network_inputs: batch", 1)
    return batches.flatmap(
        lambda b: st.tuples(
            arrays((b, n_in), min_value=min_value, max_value=max_value),
            arrays((b, n_out), min_value=-1.0, max_value=1.0),
        )
    )


# ---------------------------------------------------------------------------
# Comparing gradients
# ---------------------------------------------------------------------------


def _entries(x: Any) -> dict[str, Any]:
    """Name -> array for a dict, a list of gradients, or a single gradient."""
    if isinstance(x, Mapping):
        return {repr(k): v for k, v in x.items()}
    if isinstance(x, (list, tuple)) and any(
        v is None or isinstance(v, (np.ndarray, Value, Mapping, list, tuple)) for v in x
    ):
        return {f"[{i}]": v for i, v in enumerate(x)}
    return {"": x}


def _as_grad(x: Any, label: str, side: str) -> np.ndarray:
    side = f"{side} {label}" if label else side
    if x is None:
        raise AssertionError(f"{side} is None (no gradient reached it)")
    if isinstance(x, Value):
        x = x.data
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise AssertionError(f"{side} is not numeric (dtype {arr.dtype})")
    return arr.astype(np.float64)


def _worst(a: np.ndarray, e: np.ndarray, rtol: float, atol: float) -> str | None:
    """None when every element is close, else a description of the worst one."""
    with np.errstate(all="ignore"):
        both_finite = np.isfinite(a) & np.isfinite(e)
        err = np.where(both_finite, np.abs(a - e), np.inf)
        band = atol + rtol * np.where(np.isfinite(e), np.abs(e), 0.0)
        bad = ~(err <= band)
        if not bad.any():
            return None
        ratio = np.where(band > 0, err / np.where(band > 0, band, 1.0), np.where(err > 0, np.inf, 0.0))
        flat = int(np.argmax(np.where(bad, ratio, -1.0).reshape(-1)))
        idx = tuple(int(i) for i in np.unravel_index(flat, a.shape)) if a.ndim else ()
        av, ev = float(a.reshape(-1)[flat]), float(e.reshape(-1)[flat])
        abs_err = abs(av - ev)
        rel_err = abs_err / abs(ev) if ev != 0 else (0.0 if abs_err == 0 else math.inf)
    where = f"at {list(idx)}" if idx else "(scalar)"
    return (
        f"{where}: actual={av!r}, expected={ev!r}, abs err={abs_err:.3g}, rel err={rel_err:.3g}; "
        f"{int(bad.sum())} of {a.size} elements out of tolerance"
    )


def assert_grads_close(actual: Any, expected: Any, *, rtol: float = 1e-7, atol: float = 1e-12) -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` element by element.

    Either argument may be an array, a Value (its data), a number, a list of
    these, or a dict keyed by parameter name (keys must match). NaN or inf
    never matches. The failure message names, for every entry that differs,
    the worst element: its index, both values, the absolute error and the
    relative error ``|actual - expected| / |expected|``.
    """
    acts, exps = _entries(actual), _entries(expected)
    if acts.keys() != exps.keys():
        missing = [k for k in exps if k not in acts]
        extra = [k for k in acts if k not in exps]
        raise AssertionError(
            f"gradients have different entries: missing from actual {missing}, not expected {extra}"
        )
    problems = []
    for label in exps:
        a = _as_grad(acts[label], label, "actual")
        e = _as_grad(exps[label], label, "expected")
        if a.shape != e.shape:
            problems.append(f"{label or 'gradient'}: actual has shape {a.shape}, expected {e.shape}")
            continue
        worst = _worst(a, e, rtol, atol)
        if worst is not None:
            problems.append(f"{label} {worst}" if label else worst)
    if problems:
        head = f"gradients differ (rtol={rtol:g}, atol={atol:g})"
        if len(exps) > 1:
            head += f" in {len(problems)} of {len(exps)} entries"
        raise AssertionError(head + ":\n  " + "\n  ".join(problems))
