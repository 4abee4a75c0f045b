"""The :class:`Value`: a number or numpy array that remembers how it was computed.

Every operation on Values goes through :func:`apply`: it runs the op's
forward on the raw data (floats and arrays) and, when some input requires
grad and recording is on, records the result's node: the op, the input Values
its gradient goes to, the raw inputs the op's VJP rules will read, and the
op's parameters. Nothing else is kept, no closures, so a graph holds no
reference cycles and is freed as soon as its last Value is dropped.
:mod:`tinygrad_nn.autograd` walks those records backwards.

Reading order for a newcomer: this file, then :mod:`tinygrad_nn.ops` (each
op's forward and VJP side by side), then :mod:`tinygrad_nn.autograd`. By
default the arithmetic operators and the common elementwise methods run a
faster but equivalent version of :func:`apply` (``tinygrad_nn/_fast/``; the
tests check that both give the same bits); ``tinygrad_nn.reference_mode()``
runs everything through the code in this file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Union

import numpy as np

from . import anomaly, grad_mode, ops
from ._fast.record import inputs, op_params, record
from .coerce import F64, LEGACY_PROMOTION, as_data, constant, to_data, weak_float

ArrayLike = Union[float, int, Sequence[Any], np.ndarray, np.generic, "Value"]


def apply(op: ops.Op, *args: Any, **params: Any) -> Value:
    """Run ``op`` on Values and constants, and record it if anything needs a gradient."""
    raws = [a.data if isinstance(a, Value) else constant(a, op.name) for a in args]
    if LEGACY_PROMOTION and len(raws) == 2:  # numpy 1.x: float32 stays float32 as on numpy 2
        raws = list(weak_float(*raws))
    if anomaly._depth:  # inside detect_anomaly(): check out; the node keeps the user's line
        with anomaly.quiet():
            out = run_forward(op, raws, params)
        op = anomaly.watch_forward(op, raws, out)
    else:
        out = run_forward(op, raws, params)
    v = new_value(as_data(out))
    parents = [a if isinstance(a, Value) and a.requires_grad else None for a in args]
    if grad_mode.is_grad_enabled() and any(p is not None for p in parents):
        # See _fast/record.py for how the record is stored; the stamp is
        # the count of data changes so far (see Value.data).
        record(v, op, parents, raws, params, stamp=_data_changes)
    return v


def run_forward(op: ops.Op, raws: Sequence[Any], params: dict[str, Any]) -> Any:
    """``op.forward(*raws, **params)``, with an error naming the op and shapes if numpy refuses."""
    try:
        return op.forward(*raws, **params)
    except (ValueError, IndexError) as exc:
        raise refused(op, exc, raws, params) from None
    except (ZeroDivisionError, OverflowError):
        # Python floats raise where IEEE arithmetic gives inf or nan: redo the op on
        # numpy scalars, which give those results with the same warnings as arrays.
        return op.forward(*(np.float64(r) if type(r) is float else r for r in raws), **params)


def refused(op: ops.Op, exc: Exception, raws: Sequence[Any], params: dict[str, Any]) -> Exception:
    """The error to raise when numpy refused an op's inputs: it names the op and the shapes."""
    return type(exc)(op.describe_error(op.name, exc, *raws, **params))


def new_value(data: Any) -> Value:
    """A constant Value around already-normalized data (no checks, no copy)."""
    v = object.__new__(Value)
    v._data = data
    v._version = 0
    v.grad = None
    v.requires_grad = False
    v._op = v._in0 = v._in1 = v._saved = v._pending = None
    return v


# How many times any Value's .data has been assigned, in this process. A
# Value's _version is this count as of its last assignment; a recorded
# node's _stamp the count when it was recorded. So a node's VJP rules would
# read data the forward pass did not see exactly when something they read
# has a _version above the node's _stamp (autograd.check_versions).
_data_changes = 0


def data_changes() -> int:
    """How many times any Value's ``.data`` has been assigned so far (a clock for versions)."""
    return _data_changes


class Value:
    """A scalar or array node of a computation graph.

    ``Value(data, requires_grad=True, dtype=None)``: ``data`` is a number, a
    nested list or an ndarray (copied). Plain numbers and arrays mixed into
    expressions are constants: they are never differentiated.

    After ``loss.backward()``, every Value of the graph that requires grad
    holds ``.grad`` = ∂loss/∂value with the value's own shape, intermediates
    included: the ``.grad`` of a layer's pre-activation z is the δ of the
    classic backprop derivation.
    """

    # _data (read and assigned as .data), grad, requires_grad: what the user sees.
    # _version: the count of data changes (data_changes()) when .data was last
    #     assigned; 0 if it never was since the Value was made.
    # _op, _in0, _in1, _saved, _stamp: the node's record (which op made it,
    #     from what, and when), written by record() and read through autograd's
    #     inputs()/saved()/op_params(); how it is packed is explained in
    #     _fast/record.py.
    # _pending, _count: scratch space of the fast backward walk (_fast/walk.py).
    # _parameter: on an nn.Parameter, its name once a Module registers it
    #     (True before); unset on every other Value.
    __slots__ = (
        "_count", "_data", "_in0", "_in1", "_op", "_parameter", "_pending", "_saved", "_stamp", "_version",
        "grad", "requires_grad",
    )  # fmt: skip
    __array_ufunc__ = None  # ndarray (op) Value defers to Value's reflected operator

    _data: Any
    _version: int
    grad: Any
    requires_grad: bool
    _op: ops.Op | None
    _stamp: int
    _in0: Value | None
    _in1: Value | None
    _saved: Any
    _pending: Any
    _count: int
    _parameter: bool | str

    def __init__(self, data: ArrayLike, requires_grad: bool = True, dtype: Any = None) -> None:
        if isinstance(data, Value):
            raise TypeError("Value: data is already a Value; use v.detach() to get a constant copy")
        self._data = to_data(data, dtype)
        self._version = 0
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._op = self._in0 = self._in1 = self._saved = self._pending = None

    @property
    def data(self) -> Any:
        """The number (a Python float) or numpy array this Value holds.

        Assigning it (``v.data = x``, and ``v.data += x``, which assigns
        too) counts as a change: a graph recorded before the change whose
        gradient rules read this data refuses to run ``backward`` (it would
        mix old and new numbers). Writes into the array that are not
        assignments (``v.data[0] = 1``) are not seen; assign after them
        (``v.data = v.data``) to have them count.
        """
        return self._data

    @data.setter
    def data(self, new: Any) -> None:
        global _data_changes
        _data_changes += 1
        self._data = new
        self._version = _data_changes

    @property
    def version(self) -> int:
        """When ``.data`` was last assigned, on the process's count of data changes (0: never)."""
        return self._version

    # -- introspection -----------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data`` (``()`` for a scalar)."""
        return () if type(self.data) is float else self.data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements."""
        return 1 if type(self.data) is float else int(self.data.size)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of ``data`` (float64 for a Python float)."""
        return F64 if type(self.data) is float else self.data.dtype

    @property
    def op(self) -> str | None:
        """Name of the op that produced this Value (None for leaves and constants)."""
        return None if self._op is None else self._op.name

    @property
    def is_leaf(self) -> bool:
        """True for Values not recorded as the result of an op."""
        return self._op is None

    @property
    def inputs(self) -> tuple[Value, ...]:
        """The Values this one was computed from that receive gradients."""
        return () if self._op is None else tuple(p for p in inputs(self) if p is not None)

    @property
    def params(self) -> dict[str, Any]:
        """The recorded op's parameters (axis, shape, ...), empty for leaves."""
        return {} if self._op is None else dict(op_params(self))

    def item(self) -> float:
        """The value of a single-element Value as a Python float."""
        if self.size != 1:
            raise ValueError(
                f"item: only a single-element Value converts to a number, this one has shape {self.shape}"
            )
        return float(np.asarray(self.data).reshape(()))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = np.asarray(self.data, dtype=dtype)
        return arr.copy() if copy else arr

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Value")
        return self.shape[0]

    def __iter__(self) -> Iterator[Value]:
        return (self[i] for i in range(len(self)))

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of a Value of shape {self.shape} is ambiguous")
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        return format(self.item(), spec) if spec else repr(self)

    def __repr__(self) -> str:
        extra = []
        if type(self.data) is not float and self.dtype != F64:
            extra.append(f"dtype={self.dtype}")
        if self._op is not None:
            extra.append(f"op={self._op.name!r}")
        if not self.requires_grad:
            extra.append("requires_grad=False")
        if self.grad is not None:
            extra.append(f"grad={_brief(self.grad)}")
        kind = type(self).__name__
        if type(self) is Value and getattr(self, "_parameter", False):
            kind = "Parameter"
        return f"{kind}({', '.join([_brief(self.data), *extra])})"

    # -- arithmetic (other is a Value or a constant; the r-versions have it on the left)
    def __add__(self, other: Any) -> Value:
        """self + other, broadcasting as numpy does."""
        return apply(ops.ADD, self, other)

    def __radd__(self, other: Any) -> Value:
        return apply(ops.ADD, other, self)

    def __sub__(self, other: Any) -> Value:
        """self - other."""
        return apply(ops.SUB, self, other)

    def __rsub__(self, other: Any) -> Value:
        return apply(ops.SUB, other, self)

    def __mul__(self, other: Any) -> Value:
        """self * other, elementwise."""
        return apply(ops.MUL, self, other)

    def __rmul__(self, other: Any) -> Value:
        return apply(ops.MUL, other, self)

    def __truediv__(self, other: Any) -> Value:
        """self / other; division by zero gives inf or nan, as IEEE arithmetic does."""
        return apply(ops.DIV, self, other)

    def __rtruediv__(self, other: Any) -> Value:
        return apply(ops.DIV, other, self)

    def __pow__(self, other: Any) -> Value:
        """self ** other; the exponent may be a Value too (d/db a^b = a^b log a)."""
        return apply(ops.POW, self, other)

    def __rpow__(self, other: Any) -> Value:
        return apply(ops.POW, other, self)

    def __matmul__(self, other: Any) -> Value:
        """self @ other: matrix product, with numpy's rules for 1-d and stacked operands."""
        return apply(ops.MATMUL, self, other)

    def __rmatmul__(self, other: Any) -> Value:
        return apply(ops.MATMUL, other, self)

    def __neg__(self) -> Value:
        return apply(ops.NEG, self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return apply(ops.ABS, self)

    # -- elementwise functions ----------------------------------------------
    def exp(self) -> Value:
        """e^x, elementwise (inf on overflow, without a warning)."""
        return apply(ops.EXP, self)

    def log(self) -> Value:
        """Natural log; log(0) = -inf (no warning); a negative gives nan and a RuntimeWarning."""
        return apply(ops.LOG, self)

    def sqrt(self) -> Value:
        """√x, elementwise."""
        return apply(ops.SQRT, self)

    def abs(self) -> Value:
        """|x|, with the derivative at 0 taken as 0 (PyTorch's convention)."""
        return apply(ops.ABS, self)

    def tanh(self) -> Value:
        """tanh(x); derivative 1 - tanh(x)² from the saved output."""
        return apply(ops.TANH, self)

    def sigmoid(self) -> Value:
        """σ(x) = 1 / (1 + e^-x), overflow-free for any x; σ' = σ(1 - σ)."""
        return apply(ops.SIGMOID, self)

    def relu(self) -> Value:
        """max(x, 0), with relu'(0) = 0 (PyTorch's convention)."""
        return apply(ops.RELU, self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Value:
        """x for x > 0, ``negative_slope * x`` otherwise."""
        return apply(ops.LEAKY_RELU, self, slope=float(negative_slope))

    # -- reductions and normalizations -------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
        """Σ over ``axis`` (all axes by default)."""
        return apply(ops.SUM, self, axis=_axis(axis), keepdims=bool(keepdims))

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
        """The mean over ``axis`` (all axes by default)."""
        return apply(ops.MEAN, self, axis=_axis(axis), keepdims=bool(keepdims))

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
        """Maximum over ``axis``. Tied maxima share the gradient equally."""
        return apply(ops.MAX, self, axis=_axis(axis), keepdims=bool(keepdims))

    def softmax(self, axis: int = -1) -> Value:
        """exp(x) / Σ exp(x) along ``axis``, computed after subtracting the max."""
        return apply(ops.SOFTMAX, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Value:
        """x - log Σ exp(x) along ``axis``, stable while differences of inputs fit in floats."""
        return apply(ops.LOG_SOFTMAX, self, axis=axis)

    # -- shape ----------------------------------------------------------------
    def reshape(self, *shape: Any) -> Value:
        """The same elements in a new shape: ``v.reshape(2, 3)`` or ``v.reshape((2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(ops.RESHAPE, self, shape=tuple(int(n) for n in shape))

    def transpose(self, *axes: Any) -> Value:
        """Permute axes (reverse them when none are given), as ``ndarray.transpose``."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = tuple(axes[0] or ())
        return apply(ops.TRANSPOSE, self, axes=tuple(int(a) for a in axes) or None)

    @property
    def T(self) -> Value:
        """The transpose (axes reversed)."""
        return self.transpose()

    def broadcast_to(self, shape: Sequence[int]) -> Value:
        """This Value repeated along new or length-1 axes to ``shape``."""
        return apply(ops.BROADCAST_TO, self, shape=tuple(shape))

    def sum_to(self, shape: Sequence[int]) -> Value:
        """Sum down to ``shape`` (the adjoint of ``broadcast_to``)."""
        return apply(ops.SUM_TO, self, shape=tuple(shape))

    def __getitem__(self, index: Any) -> Value:
        return apply(ops.GETITEM, self, index=_index(index))

    def astype(self, dtype: Any) -> Value:
        """This Value cast to the floating ``dtype``; the gradient is cast back."""
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"astype: a Value holds floats, cannot cast to {dt}")
        return apply(ops.ASTYPE, self, dtype=dt)

    # -- graph ----------------------------------------------------------------
    def detach(self) -> Value:
        """A constant sharing this Value's data, cut off from the graph."""
        return new_value(self.data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every Value this one depends on.

        ``grad`` is ∂E/∂self, seeded with 1 when self has a single element.
        Gradients accumulate (+=) into ``.grad`` across calls. With
        ``create_graph=True`` the gradients are Values with a graph of their
        own, so they can be differentiated again.
        """
        autograd.backward(self, grad, create_graph=create_graph)


def _brief(x: Any) -> str:
    if type(x) is float:
        return repr(x)
    if isinstance(x, Value):
        return f"Value({_brief(x.data)})"
    return np.array2string(np.asarray(x), precision=4, threshold=20, separator=", ")


def _axis(axis: Any) -> Any:
    if axis is None or isinstance(axis, (int, np.integer)):
        return None if axis is None else int(axis)
    return tuple(int(a) for a in axis)


def _index(index: Any) -> Any:
    """The index as the op records it: Values replaced by their data, and arrays
    and lists copied, so that refilling the caller's index array after the
    forward pass cannot send the gradient to other elements."""
    if type(index) is tuple:
        return tuple(_index_item(i) for i in index)
    return _index_item(index)


def _index_item(i: Any) -> Any:
    if isinstance(i, Value):
        return np.array(i.data)
    if isinstance(i, (np.ndarray, list)):
        return np.array(i)
    return i


def concatenate(values: Sequence[Any], axis: int = 0) -> Value:
    """Join Values (or arrays) along an existing axis; gradients are split back."""
    values = list(values)
    if not values:
        raise ValueError("concatenate: need at least one Value")
    ndim = np.ndim(values[0].data if isinstance(values[0], Value) else values[0])
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} is out of bounds for {ndim}-d inputs")
    return apply(ops.CONCATENATE, *values, axis=axis % ndim)


def stack(values: Sequence[Any], axis: int = 0) -> Value:
    """Join Values (or arrays) of one shape along a new axis."""
    values = list(values)
    if not values:
        raise ValueError("stack: need at least one Value")
    ndim = np.ndim(values[0].data if isinstance(values[0], Value) else values[0]) + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of bounds for a {ndim}-d result")
    return apply(ops.STACK, *values, axis=axis % ndim)


def where(cond: Any, x: Any, y: Any) -> Value:
    """``x`` where ``cond`` holds, else ``y``; ``cond`` is a constant mask (copied: changing
    the caller's array afterwards does not change where the gradient goes)."""
    mask = np.array(cond.data if isinstance(cond, Value) else cond, dtype=bool)
    return apply(ops.WHERE, x, y, cond=mask)


# Imported last: autograd builds on this module (Value.backward calls it).
from . import autograd  # noqa: E402
