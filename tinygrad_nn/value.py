"""The :class:`Value`: a number or numpy array that remembers how it was computed.

Every operation on Values goes through :func:`apply`, which runs the op's
forward on the raw data and, when any input requires grad (and recording is
on), stores what the op's VJP rules will need: the op, the input Values to
send gradients to, the raw inputs where some of them are constants, and the
op's parameters. Nothing else is kept: no closures, so a graph holds no
reference cycles and is freed as soon as its last Value is dropped.

A node keeps the inputs of a one- or two-input op in two slots, ``_a`` and
``_b``, rather than in a tuple: on scalar graphs every allocation the garbage
collector tracks costs time, and the Value itself is then the only one. For
the same reason a Value has as few slots as it can: the collector's passes
over a large graph are bound by memory traffic, so bytes per node count.

Scalars built from Python numbers keep a plain ``float`` in ``.data`` (and
``.grad``), as in micrograd: cheap, and friendly to print. Everything else is
an ``ndarray``. float64 is the default; float32 (and float16) arrays keep
their dtype; ints and bools become float64.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from . import grad_mode, ops
from .ops import Op, _ndarray

ArrayLike = Union[float, int, Sequence[Any], np.ndarray, np.generic, "Value"]

_F64 = np.dtype(np.float64)
# numpy < 2 promotes (0-d float32 array) * (Python float) to float64; numpy 2
# treats the Python float as "weak" and keeps float32 (NEP 50).
_LEGACY_PROMOTION = int(np.__version__.split(".")[0]) < 2


def _weak_float(a: Any, b: Any) -> tuple[Any, Any]:
    """Give a Python float the dtype of a low-precision 0-d operand, as numpy 2 would."""
    if type(a) is float and isinstance(b, np.ndarray) and b.ndim == 0 and b.dtype.itemsize < 8:
        return b.dtype.type(a), b
    if type(b) is float and isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.itemsize < 8:
        return a, a.dtype.type(b)
    return a, b


_alloc = object.__new__


def _as_data(out: Any) -> Any:
    """Normalize an op's raw result: float64 scalars become ``float``."""
    t = type(out)
    if t is float:
        return out
    if t is _ndarray:
        return float(out) if out.ndim == 0 and out.dtype == _F64 else out
    if t is np.float64 or t is int or t is bool:
        return float(out)
    return np.asarray(out)


def _to_data(data: Any, dtype: Any) -> Any:
    """Convert user data for ``Value(data, dtype=...)``, copying arrays."""
    if type(data) is float and dtype is None:
        return data
    if isinstance(data, Value):
        raise TypeError("Value: data is already a Value; use v.detach() to get a constant copy")
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
    return _as_data(arr)


def numeric_array(x: Any, where: str, what: str = "input", error: type[Exception] = TypeError) -> np.ndarray:
    """``x`` (a Value's data, or array-like data) as a numeric ndarray, without copying.

    Anything else raises ``error`` naming the operation ``where`` and the argument ``what``.
    """
    data = x.data if isinstance(x, Value) else x
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise error(f"{where}: {what} is not an array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise error(f"{where}: {what} must be numeric, got dtype {arr.dtype}")
    return arr


def _constant(x: Any, name: str) -> Any:
    """Check a non-Value operand of op ``name``; constants are never differentiated."""
    t = type(x)
    if t is float or t is int:
        return x
    if t is _ndarray:
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


def _new(data: Any) -> Value:
    """A fresh leaf Value around already-normalized data (no checks, no copy)."""
    v = _alloc(Value)
    v.data = data
    v.grad = None
    v._g = None
    v.requires_grad = False
    v._op = None
    v._a = v._b = v._args = None
    return v


def _fail(op: Op, exc: Exception, raws: Sequence[Any], params: dict[str, Any]) -> Exception:
    """The error to raise when numpy refused an op's inputs: it names the op and shapes."""
    describe = op.describe_error or ops._generic_error
    return type(exc)(describe(op.name, exc, *raws, **params))


def _forward_ieee(op: Op, raws: Sequence[Any], params: dict[str, Any]) -> Any:
    # Python floats raise where IEEE arithmetic returns inf or nan: redo the op
    # on numpy scalars, which give those results with the same warnings as arrays.
    return op.forward(*(np.float64(r) if type(r) is float else r for r in raws), **params)


# apply, apply_layer, apply1 and binary_operator share one job: unwrap the
# operands, run the forward, wrap the result, and record the op when some
# operand requires grad. The last three are the same code unrolled for a
# Dense layer's node, for the hot parameter-free unary ops and for Value's
# binary operators.


def apply(op: Op, *args: Any, **params: Any) -> Value:
    """Run ``op`` on Values and constants and record it if anything needs a gradient."""
    raws: list[Any] = []
    parents: list[Value | None] = []
    needs_grad = False
    constants = False
    for a in args:
        if type(a) is Value or isinstance(a, Value):
            raws.append(a.data)
            if a.requires_grad:
                needs_grad = True
                parents.append(a)
                continue
        elif type(a) is _ndarray and a.dtype.kind in "fiub":  # _constant's first case, without the call
            raws.append(a)
        else:
            raws.append(_constant(a, op.name))
        parents.append(None)
        constants = True
    try:
        out = op.forward(*raws, **params)
    except (ValueError, IndexError) as exc:
        raise _fail(op, exc, raws, params) from None
    except (ZeroDivisionError, OverflowError):
        out = _forward_ieee(op, raws, params)
    v = _new(out if type(out) is _ndarray and out.ndim else _as_data(out))  # a constant, unless:
    if needs_grad and grad_mode._enabled:
        v.requires_grad = True
        v._op = op
        # Ops with parameters and fused ops always go the n-ary way: backward
        # then needs one test to tell them from the plain one- and two-input ops.
        if len(parents) <= 2 and not params and op.pre is None:
            v._a = parents[0]
            v._b = parents[1] if len(parents) == 2 else None
            if constants:
                v._args = tuple(raws)
        else:
            v._args = (tuple(parents), tuple(raws), params or None)
    return v


def apply_layer(op: Op, x: Any, w: Value, b: Value) -> Value:
    """:func:`apply` unrolled for a layer's ``op(x, w, b)``: ``w`` and ``b`` are
    Values holding arrays (a Dense layer's parameters), ``x`` a Value or an
    ndarray (checked by the layer). The same node, without apply's loop over
    arbitrary operands."""
    if type(x) is Value or isinstance(x, Value):
        xd = x.data
        px = x if x.requires_grad else None
    else:
        xd, px = x, None
    wd, bd = w.data, b.data
    try:
        out = op.forward(xd, wd, bd)
    except (ValueError, IndexError) as exc:
        raise _fail(op, exc, (xd, wd, bd), {}) from None
    v = _new(out if type(out) is _ndarray and out.ndim else _as_data(out))  # a constant, unless:
    pw = w if w.requires_grad else None
    pb = b if b.requires_grad else None
    if (px is not None or pw is not None or pb is not None) and grad_mode._enabled:
        v.requires_grad = True
        v._op = op
        v._args = ((px, pw, pb), (xd, wd, bd), None)
    return v


def apply1(op: Op, a: Value) -> Value:
    """:func:`apply` for a parameter-free unary op on a Value."""
    ad = a.data
    try:
        out = op.forward(ad)
    except (ZeroDivisionError, OverflowError):
        out = _forward_ieee(op, (ad,), {})
    t = type(out)
    if t is not float and (t is not _ndarray or out.ndim == 0):
        out = _as_data(out)
    v = _alloc(Value)
    v.data = out
    v.grad = None
    v._g = None
    if a.requires_grad and grad_mode._enabled:
        v.requires_grad = True
        v._op = op
        v._a = a
        v._b = v._args = None  # _args: read a.data (Value._raw_inputs)
    else:
        v.requires_grad = False
        v._op = None
    return v


def binary_operator(op: Op, reflected: bool = False) -> Callable[[Value, Any], Value]:
    """Value's operator method for the parameter-free binary ``op``: ``self op other``,
    or ``other op self`` when ``reflected`` (``__radd__`` and friends).

    :func:`apply` unrolled for two operands, one of which may be a constant;
    built once per operator, so ``a * b`` runs one Python function, with the
    op and its forward at hand, rather than a method calling ``apply``.
    """
    forward = op.forward

    def method(self: Value, other: Any) -> Value:
        ad = self.data  # self is a Value: only the other operand needs a look
        pa = self if self.requires_grad else None
        if type(other) is Value or isinstance(other, Value):
            bd = other.data
            pb = other if other.requires_grad else None
        else:
            bd = other if type(other) is float else _constant(other, op.name)
            pb = None
        if reflected:  # other op self
            ad, bd = bd, ad
            pa, pb = pb, pa
        if _LEGACY_PROMOTION and (type(ad) is float) is not (type(bd) is float):
            ad, bd = _weak_float(ad, bd)
        try:
            out = forward(ad, bd)
        except (ValueError, IndexError) as exc:
            raise _fail(op, exc, (ad, bd), {}) from None
        except (ZeroDivisionError, OverflowError):
            out = _forward_ieee(op, (ad, bd), {})
        t = type(out)
        if t is not float and (t is not _ndarray or out.ndim == 0):
            out = _as_data(out)
        v = _alloc(Value)
        v.data = out
        v.grad = None
        v._g = None
        if (pa is not None or pb is not None) and grad_mode._enabled:
            v.requires_grad = True
            v._op = op
            v._a = pa
            v._b = pb
            # When both inputs are recorded Values their data is reachable through
            # them: no tuple for the garbage collector to track.
            v._args = None if pa is not None and pb is not None else (ad, bd)
        else:
            v.requires_grad = False
            v._op = None
        return v

    stem = "truediv" if op.name == "div" else op.name
    method.__name__ = f"__r{stem}__" if reflected else f"__{stem}__"
    method.__qualname__ = f"Value.{method.__name__}"
    return method


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

    # What a recorded op keeps (unused on leaves and constants):
    #   _op      the Op;
    #   _a, _b   the inputs of an op of one or two inputs without parameters:
    #            a Value that receives a gradient, or None for a constant (and
    #            _b for a unary op). Both None: an n-ary node (see _args);
    #   _args    None when the raw inputs are the data of _a and _b; the raw
    #            inputs when one of them is a constant; on an n-ary node (an
    #            op of three or more inputs, with parameters, or fused: the
    #            engine's general path) the triple (inputs, raw inputs,
    #            parameters or None), inputs as _a and _b hold them.
    # _g and _count are scratch space for the backward walk (autograd._walk).
    # _parameter is True on an nn.Parameter, and unset on every other Value.
    # Ten slots: 112 bytes with the collector's header, a size class below the
    # 128 of twelve; a scalar training step (GC on) ran about 12% faster for it.
    __slots__ = (
        "data", "grad", "requires_grad", "_op", "_a", "_b", "_args", "_g", "_count", "_parameter",
    )  # fmt: skip
    __array_ufunc__ = None  # ndarray (op) Value defers to Value's reflected operator

    data: Any
    grad: Any
    requires_grad: bool
    _count: int  # set by the backward walk before it is read
    _parameter: bool

    def __init__(self, data: ArrayLike, requires_grad: bool = True, dtype: Any = None) -> None:
        self.data = _to_data(data, dtype)
        self.grad = None
        self._g: Any = None
        self.requires_grad = bool(requires_grad)
        self._op: Op | None = None
        self._a: Value | None = None
        self._b: Value | None = None
        self._args: tuple[Any, ...] | None = None

    # -- introspection -----------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return () if type(self.data) is float else self.data.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return 1 if type(self.data) is float else int(self.data.size)

    @property
    def dtype(self) -> np.dtype[Any]:
        return _F64 if type(self.data) is float else self.data.dtype

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
        return () if self._op is None else tuple(p for p in self._input_values() if p is not None)

    def _input_values(self) -> tuple[Value | None, ...]:
        """The recorded op's inputs in order: the Value for each input that
        receives a gradient, None for each constant. (Only for recorded nodes.)"""
        a, b, args = self._a, self._b, self._args
        if b is None:
            if a is None:  # n-ary
                return args[0]  # type: ignore[index]
            if args is None:  # all inputs recorded, no second one: unary
                return (a,)
        return (a, b)

    def _raw_inputs(self) -> tuple[Any, ...]:
        """The raw data the op that made this Value was applied to (its VJP rules' inputs).

        Stored at forward time where some input is a constant or the node is
        n-ary; otherwise read from the input Values (the same arrays; a float
        input's current value, so run backward before rebinding parameters' data).
        """
        args = self._args
        if args is None:
            return tuple([p.data for p in self._input_values()])  # type: ignore[union-attr]
        nary = self._nary()
        return args if nary is None else nary[1]

    def _op_params(self) -> dict[str, Any] | None:
        """The recorded op's keyword parameters as its VJP rules take them, or None."""
        nary = self._nary()
        return None if nary is None else nary[2]

    def _nary(self) -> tuple[Any, ...] | None:
        """An n-ary node's (inputs, raw inputs, parameters), else None (see the slots)."""
        return self._args if self._a is None and self._b is None else None

    @property
    def params(self) -> dict[str, Any]:
        """The recorded op's parameters (axis, shape, ...), empty for leaves."""
        return {} if self._op is None else dict(self._op_params() or {})

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
        if type(self.data) is not float and self.dtype != _F64:
            extra.append(f"dtype={self.dtype}")
        if self._op is not None:
            extra.append(f"op={self._op.name!r}")
        if not self.requires_grad:
            extra.append("requires_grad=False")
        if self.grad is not None:
            extra.append(f"grad={_brief(self.grad)}")
        body = _brief(self.data)
        kind = type(self).__name__
        if type(self) is Value and getattr(self, "_parameter", False):
            kind = "Parameter"
        return f"{kind}({', '.join([body, *extra])})"

    # -- arithmetic ---------------------------------------------------------
    __add__ = binary_operator(ops.ADD)
    __radd__ = binary_operator(ops.ADD, reflected=True)

    __sub__ = binary_operator(ops.SUB)
    __rsub__ = binary_operator(ops.SUB, reflected=True)

    __mul__ = binary_operator(ops.MUL)
    __rmul__ = binary_operator(ops.MUL, reflected=True)

    __truediv__ = binary_operator(ops.DIV)
    __rtruediv__ = binary_operator(ops.DIV, reflected=True)

    __pow__ = binary_operator(ops.POW)
    __rpow__ = binary_operator(ops.POW, reflected=True)

    __matmul__ = binary_operator(ops.MATMUL)
    __rmatmul__ = binary_operator(ops.MATMUL, reflected=True)

    def __neg__(self) -> Value:
        return apply1(ops.NEG, self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return apply1(ops.ABS, self)

    # -- elementwise functions ----------------------------------------------
    def exp(self) -> Value:
        return apply1(ops.EXP, self)

    def log(self) -> Value:
        """Natural log; log(0) = -inf (no warning); a negative gives nan and a RuntimeWarning."""
        return apply1(ops.LOG, self)

    def sqrt(self) -> Value:
        return apply1(ops.SQRT, self)

    def abs(self) -> Value:
        """|x|, with the derivative at 0 taken as 0 (PyTorch's convention)."""
        return apply1(ops.ABS, self)

    def tanh(self) -> Value:
        """tanh(x); derivative 1 - tanh(x)² from the saved output."""
        return apply1(ops.TANH, self)

    def sigmoid(self) -> Value:
        """σ(x) = 1 / (1 + e^-x), overflow-free for any x; σ' = σ(1 - σ)."""
        return apply1(ops.SIGMOID, self)

    def relu(self) -> Value:
        """max(x, 0), with relu'(0) = 0 (PyTorch's convention)."""
        return apply1(ops.RELU, self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Value:
        """x for x > 0, ``negative_slope * x`` otherwise."""
        return apply(ops.LEAKY_RELU, self, slope=float(negative_slope))

    # -- reductions and normalizations -------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
        return apply(ops.SUM, self, axis=_axis(axis), keepdims=bool(keepdims))

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
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
        return self.transpose()

    def broadcast_to(self, shape: Sequence[int]) -> Value:
        return apply(ops.BROADCAST_TO, self, shape=tuple(shape))

    def sum_to(self, shape: Sequence[int]) -> Value:
        """Sum down to ``shape`` (the adjoint of ``broadcast_to``)."""
        return apply(ops.SUM_TO, self, shape=tuple(shape))

    def __getitem__(self, index: Any) -> Value:
        return apply(ops.GETITEM, self, index=_index(index))

    def astype(self, dtype: Any) -> Value:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"astype: a Value holds floats, cannot cast to {dt}")
        return apply(ops.ASTYPE, self, dtype=dt)

    # -- graph ----------------------------------------------------------------
    def detach(self) -> Value:
        """A constant sharing this Value's data, cut off from the graph."""
        return _new(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every Value this one depends on.

        ``grad`` is ∂E/∂self, seeded with 1 when self has a single element.
        Gradients accumulate (+=) into ``.grad`` across calls. With
        ``create_graph=True`` the gradients are Values with a graph of their
        own, so they can be differentiated again.
        """
        _autograd.backward(self, grad, create_graph=create_graph)


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
    """Replace Values used as indices by their data."""
    if isinstance(index, Value):
        return np.asarray(index.data)
    if type(index) is tuple:
        return tuple(np.asarray(i.data) if isinstance(i, Value) else i for i in index)
    return index


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
    """``x`` where ``cond`` holds, else ``y``; ``cond`` is a constant mask."""
    mask = np.asarray(cond.data if isinstance(cond, Value) else cond, dtype=bool)
    return apply(ops.WHERE, x, y, cond=mask)


# Imported last: autograd builds on this module (Value.backward calls it).
from . import autograd as _autograd  # noqa: E402
