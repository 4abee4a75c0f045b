"""Custom ops: write a forward and its backward by hand, use them like any op.

The classic exercise: implement a layer's forward and backward in numpy,
then check the backward against finite differences. A :class:`Function`
subclass gives both, with PyTorch's conventions::

    class Swish(Function):
        @staticmethod
        def forward(ctx, x, beta=1.0):           # raw floats / numpy arrays in, raw out
            s = 1 / (1 + np.exp(-beta * x))
            ctx.save_for_backward(x, s)
            ctx.beta = beta
            return x * s

        @staticmethod
        def backward(ctx, g):                     # dE/dout in; one gradient per positional input
            x, s = ctx.saved_tensors
            return g * (s + ctx.beta * x * s * (1 - s))

    y = Swish.apply(v, beta=2.0)                  # a Value, recorded as a node named "Swish"

How it plugs into the engine: each call is an :class:`~tinygrad_nn.ops.Op`
of its own (named after the class), whose forward runs ``forward`` with the
call's context and whose one rule for all inputs (``split``, as
``concatenate`` has) runs ``backward`` and checks what it returns: one
gradient per positional input, ``None`` for none, each of the input's shape
or of a shape that sums down to it (broadcasting is undone as for built-in
ops). So a Function works with scalars and arrays, under ``no_grad``, on both
engines, in ``graph.trace`` and the pictures, with ``detect_anomaly`` and
with the version checks: an input saved with ``save_for_backward`` whose
data is assigned before ``backward`` is reported.

Higher order: ``backward`` written with numpy is first order, and
``backward(create_graph=True)`` through it raises. With
``differentiable_backward = True``, ``backward`` receives Values (the
gradient, and the saved inputs and output as the graph's own Values) and
must compute with Value operations; then its result is differentiable to
any order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .coerce import as_data
from .numerics import is_raw, shape_of, sum_to
from .ops import Op
from .value import Value, apply, new_value

__all__ = ["Context", "Function"]


class Context:
    """What a :class:`Function`'s ``forward`` leaves for its ``backward``.

    ``ctx.save_for_backward(*xs)`` keeps arrays (read back as
    ``ctx.saved_tensors``); any other attribute (``ctx.beta = beta``) is kept
    too. ``ctx.needs_input_grad`` says, per positional input, whether it
    receives a gradient.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...] = ()) -> None:
        self.needs_input_grad = needs_input_grad
        self._saved: tuple[Any, ...] = ()
        self._as_values: tuple[Any, ...] | None = None  # saved_tensors while a differentiable backward runs

    def save_for_backward(self, *xs: Any) -> None:
        """Keep ``xs`` (arrays, numbers, or None) for ``backward``."""
        self._saved = xs

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """What ``save_for_backward`` kept (as Values inside a differentiable backward)."""
        return self._saved if self._as_values is None else self._as_values


class Function:
    """Base class of custom ops; see the module docstring for an example.

    Subclasses define the static methods ``forward(ctx, *inputs, **params)``
    and ``backward(ctx, g)`` and are used through :meth:`apply`. Set
    ``differentiable_backward = True`` for a ``backward`` written with Value
    operations (differentiable to any order).
    """

    differentiable_backward: bool = False

    @staticmethod
    def forward(ctx: Context, *inputs: Any, **params: Any) -> Any:
        """The op on raw data (floats and numpy arrays): return its result."""
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs, **params)")

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        """dE/d input for each positional input (a tuple for several; None: no gradient)."""
        raise NotImplementedError("a Function subclass must define backward(ctx, g)")

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Value:
        """Run the op on Values, arrays or numbers; the result is a recorded Value."""
        if "forward" not in _defined(cls) or "backward" not in _defined(cls):
            raise TypeError(f"{cls.__name__}: a Function must define both forward and backward")
        if not inputs:
            raise TypeError(f"{cls.__name__}.apply: needs at least one positional input")
        from .grad_mode import is_grad_enabled

        recording = is_grad_enabled()
        needs = tuple(recording and isinstance(x, Value) and x.requires_grad for x in inputs)
        return apply(_function_op(cls, Context(needs)), *inputs, **params)


def _defined(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ if klass is not Function for name in vars(klass)}


def _function_op(cls: type[Function], ctx: Context) -> Op:
    """The op of one call of ``cls``: its forward fills ``ctx``, its split rule runs backward."""
    name = cls.__name__
    ran = False

    def forward(*raws: Any, **params: Any) -> Any:
        nonlocal ran
        # The first run is the call's own; later runs (a checker re-evaluating the
        # node's forward, as gradcheck_nodes does) get a context of their own.
        this = ctx if not ran else Context(ctx.needs_input_grad)
        ran = True
        out = cls.forward(this, *raws, **params)
        if isinstance(out, Value):
            raise TypeError(
                f"{name}.forward: returned a Value; forward works on raw data (floats and numpy "
                f"arrays) and returns raw data"
            )
        try:
            out = as_data(out)
        except (TypeError, ValueError):
            raise TypeError(f"{name}.forward: returned {type(out).__name__}, not a number or array") from None
        if this is ctx:
            split.reads = _saved_positions(ctx, raws, out)  # type: ignore[attr-defined]
        return out

    def split(g: Any, out: Any, xs: Sequence[Any], **params: Any) -> list[Any]:
        differentiable = not is_raw(g)  # backward(create_graph=True) passes Values
        if differentiable and not cls.differentiable_backward:
            raise RuntimeError(
                f"{name}: its backward is written with raw arrays, so it is first order: "
                f"backward(create_graph=True) cannot differentiate through it. Write backward with "
                f"Value operations and set differentiable_backward = True for higher order"
            )
        if cls.differentiable_backward:
            grads = _differentiable_backward(cls, ctx, g, out, xs)
        else:
            grads = cls.backward(ctx, g)
        return _fitted(name, grads, xs, ctx.needs_input_grad)

    # What backward reads, for the version check (versions.py): set by the call's forward.
    split.reads = ()  # type: ignore[attr-defined]
    return Op(name, forward, (), split=split)


def _saved_positions(ctx: Context, raws: Sequence[Any], out: Any) -> tuple[int, ...]:
    """Which of (out, input 0, input 1, ...) ``ctx`` saved, by identity (0 is out)."""
    saved = {id(x) for x in ctx._saved}
    return tuple(k for k, x in enumerate((out, *raws)) if id(x) in saved and not isinstance(x, float))


def _differentiable_backward(cls: type[Function], ctx: Context, g: Any, out: Any, xs: Sequence[Any]) -> Any:
    """Run a backward written with Value operations: everything it reads is a Value.

    Under ``create_graph`` ``out`` and ``xs`` are the graph's own Values (so
    the result is recorded against them); otherwise constants around the data.
    """

    def as_value(x: Any) -> Any:
        return x if isinstance(x, Value) else new_value(as_data(x))

    out_v, xs_v = as_value(out), [as_value(x) for x in xs]
    by_id = {id(raw_of(x)): v for x, v in zip((out, *xs), (out_v, *xs_v), strict=True)}
    ctx._as_values = tuple(by_id.get(id(s), as_value(s) if s is not None else None) for s in ctx._saved)
    try:
        grads = cls.backward(ctx, as_value(g))
    finally:
        ctx._as_values = None
    if is_raw(g):  # an ordinary backward pass: the engine wants raw contributions
        if isinstance(grads, tuple):
            return tuple(gi.data if isinstance(gi, Value) else gi for gi in grads)
        return grads.data if isinstance(grads, Value) else grads
    return grads


def raw_of(x: Any) -> Any:
    """The data behind ``x`` (a Value's data; raw data itself)."""
    return x.data if isinstance(x, Value) else x


def _fitted(name: str, grads: Any, xs: Sequence[Any], needs: tuple[bool, ...]) -> list[Any]:
    """``backward``'s result as one gradient per input, each summed down to its input's shape."""
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(xs):
        raise ValueError(
            f"{name}.backward: returned {len(grads)} gradient(s) for {len(xs)} positional input(s); "
            f"return one per input, in order (None for an input without a gradient)"
        )
    result = []
    for i, (gi, x) in enumerate(zip(grads, xs, strict=True)):
        shape = shape_of(x)
        if gi is None:
            if i < len(needs) and needs[i]:
                gi = 0.0 if isinstance(raw_of(x), float) else np.zeros(shape, np.result_type(raw_of(x)))
            result.append(gi)
            continue
        got = shape_of(gi)
        try:
            fits = np.broadcast_shapes(got, shape) == got
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name}.backward: the gradient for input {i} has shape {got}, which does not fit "
                f"the input's shape {shape} (it must be that shape, or one it broadcasts to)"
            )
        result.append(sum_to(gi, shape))
    return result
