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

__all__ = ["arrays", "broadcastable_shapes", "shapes", "values"]


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
