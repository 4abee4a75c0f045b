"""What a Value may hold, and how user data and constants are turned into it.

Scalars built from Python numbers keep a plain ``float`` (cheap, and friendly
to print, as in micrograd). Everything else is an ``ndarray``: float64 by
default; float32 (and float16) arrays keep their dtype; ints and bools become
float64. Constants mixed into expressions (numbers, arrays, lists) are
checked here, so that a bad operand is refused with the op's name.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

F64 = np.dtype(np.float64)

# numpy < 2 promotes (0-d float32 array) * (Python float) to float64; numpy 2
# treats the Python float as "weak" and keeps float32 (NEP 50).
LEGACY_PROMOTION = int(np.__version__.split(".")[0]) < 2


def weak_float(a: Any, b: Any) -> tuple[Any, Any]:
    """Give a Python float the dtype of a low-precision 0-d operand, as numpy 2 would."""
    if type(a) is float and isinstance(b, np.ndarray) and b.ndim == 0 and b.dtype.itemsize < 8:
        return b.dtype.type(a), b
    if type(b) is float and isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.itemsize < 8:
        return a, a.dtype.type(b)
    return a, b


def as_data(out: Any) -> Any:
    """Normalize an op's raw result: a float64 scalar becomes a Python ``float``."""
    if type(out) is float:
        return out
    if type(out) is np.ndarray:
        return float(out) if out.ndim == 0 and out.dtype == F64 else out
    if type(out) is np.float64 or type(out) is int or type(out) is bool:
        return float(out)
    return np.asarray(out)


def to_data(data: Any, dtype: Any) -> Any:
    """Convert user data for ``Value(data, dtype=...)``, copying arrays."""
    if type(data) is float and dtype is None:
        return data
    if isinstance(data, (str, bytes)):
        raise TypeError(f"Value: data must be numeric, got {type(data).__name__} {data!r}")
    try:
        arr = np.array(data)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"Value: cannot turn {type(data).__name__} into a numeric array ({exc})") from None
    if arr.dtype.kind == "c":
        raise TypeError("Value: complex data is not supported")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Value: data must be numeric, got an array of dtype {arr.dtype}")
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Value: dtype must be a floating type such as float64 or float32, got {dt}")
        arr = arr.astype(dt, copy=False)
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return as_data(arr)


def constant(x: Any, name: str) -> Any:
    """Check a non-Value operand of op ``name``; constants are never differentiated."""
    if type(x) is float or type(x) is int:
        return x
    if type(x) is np.ndarray:
        if x.dtype.kind in "biuf":
            return x
    elif isinstance(x, (numbers.Real, np.generic, list, tuple)) and not isinstance(x, (str, bytes)):
        arr = np.asarray(x)
        if arr.dtype.kind in "biuf":
            return x if isinstance(x, (numbers.Real, np.generic)) else arr
        x = arr
    if isinstance(x, complex) or (isinstance(x, np.ndarray) and x.dtype.kind == "c"):
        raise TypeError(f"{name}: complex numbers are not supported")
    what = f"an array of dtype {x.dtype}" if isinstance(x, np.ndarray) else f"type {type(x).__name__}"
    raise TypeError(f"{name}: unsupported operand of {what}")


def numeric_array(x: Any, where: str, what: str = "input", error: type[Exception] = TypeError) -> np.ndarray:
    """``x`` (a Value's data, or array-like data) as a numeric ndarray, without copying.

    Anything else raises ``error`` naming the operation ``where`` and the argument ``what``.
    """
    from .value import Value  # (value.py builds on this module)

    data = x.data if isinstance(x, Value) else x
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise error(f"{where}: {what} is not an array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise error(f"{where}: {what} must be numeric, got dtype {arr.dtype}")
    return arr
