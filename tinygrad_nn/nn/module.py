"""Module and Parameter: the PyTorch-style way to organize a model.

A :class:`Module` registers what is assigned to its attributes: a
:class:`Parameter` becomes one of its parameters, a Module one of its
children, both in assignment order. Everything else (numbers, arrays, plain
Values, lists of numbers) is an ordinary attribute. Parameters are named by
their attribute path: ``"0.weight"`` in a Sequential, ``"encoder.1.bias"`` in
a Module holding one.

Parameters kept in lists go in a ``ParameterList`` (named ``"w.0"``,
``"w.1"``, ...), Modules kept in lists in a ``ModuleList`` (both in
:mod:`tinygrad_nn.nn.containers`, with ``Sequential``); both behave
like Python lists (``examples/scalar_mlp.py`` builds a micrograd-style MLP,
one scalar Parameter per connection, this way: ``layers.0.neurons.3.w.1``).
Assigning a plain list, tuple or dict that contains Parameters or Modules
raises a TypeError pointing at the containers, instead of silently leaving
those parameters out of ``parameters()`` and out of every checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..checkpoint import CheckpointError, load_npz, save_npz
from ..coerce import numeric_array
from ..value import Value

__all__ = ["LoadResult", "Module", "Parameter"]


class _ParameterType(type):
    """Makes ``Parameter(...)`` a marked :class:`Value` and ``isinstance`` recognize the mark.

    Why not instances of a subclass: CPython (3.11 and later) caches each
    attribute access for one exact type, so a graph mixing Values and
    Parameters misses those caches wherever both meet. On a scalar MLP, one
    Value per weight, that cost 13% of a training step (benchmarks/README.md).
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is not Parameter:  # a user's subclass of Parameter: an ordinary class
            return super().__call__(*args, **kwargs)
        p = Value.__new__(Value)
        _init_parameter(p, *args, **kwargs)
        return p

    def __instancecheck__(cls, obj: Any) -> bool:
        if cls is Parameter and type(obj) is Value:
            return bool(getattr(obj, "_parameter", False))
        return super().__instancecheck__(obj)


def _init_parameter(p: Value, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
    """Initialize ``p`` as a Parameter: a Value of ``data`` (a Value's data is copied), marked."""
    if isinstance(data, Value):
        data = data.data
    Value.__init__(p, data, requires_grad=requires_grad, dtype=dtype)
    p._parameter = True  # a Module that registers it replaces this with its name


class Parameter(Value, metaclass=_ParameterType):
    """A Value that a :class:`Module` registers as one of its parameters.

    ``Parameter(data, requires_grad=True, dtype=None)`` takes the same
    arguments as :class:`~tinygrad_nn.Value` (a number or an array, copied);
    a Value's data is copied too. ``isinstance(p, Parameter)`` holds and
    ``repr`` says ``Parameter(...)``, but ``type(p)`` is ``Value``: a
    Parameter is a Value carrying a mark, so that graphs hold one type only.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        # Runs only for subclasses of Parameter (see _ParameterType.__call__).
        _init_parameter(self, data, requires_grad, dtype)


class LoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped: parameters absent from the
    state (left unchanged) and state entries that match no parameter (ignored)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _describe(x: Any) -> str:
    name = type(x).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


class Module:
    """Base class of layers and models.

    Subclass it, call ``super().__init__()`` first in ``__init__``, assign
    Parameters and sub-Modules as attributes and implement ``forward``; call
    the module (``model(x)``) to run it.
    """

    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})

    # -- registration ---------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        registry = self.__dict__.get("_parameters")
        if registry is None:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(
                    f"{type(self).__name__}: assigning {name!r} before Module.__init__() ran; "
                    "call super().__init__() first in __init__"
                )
        else:
            modules = self._modules
            if isinstance(value, Parameter):
                modules.pop(name, None)
                registry[name] = value
                if value._parameter is True:  # named by its first Module, for error messages
                    value._parameter = f"{type(self).__name__}.{name}"
            elif isinstance(value, Module):
                registry.pop(name, None)
                modules[name] = value
            else:
                _refuse_hidden(type(self).__name__, name, value)
                registry.pop(name, None)
                modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)

    # -- running ----------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """What the module computes; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module: ``module(x)`` is ``module.forward(x)``, as in PyTorch."""
        return self.forward(*args, **kwargs)

    # -- traversal --------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their attribute names, in assignment order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``) and all its descendants, each once, depth first."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Parameters with dotted names (``"0.weight"``, ``"encoder.1.bias"``).

        A parameter shared by several modules is listed once, under the first name found.
        """
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, m in mods:
            for pname, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def num_parameters(self) -> int:
        """Number of scalar weights (elements) over all distinct parameters."""
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        """Clear every parameter's ``.grad`` (set it to None, as PyTorch does by default)."""
        for p in self.parameters():
            p.grad = None

    # -- state --------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Name -> a copy of the parameter's data as an ndarray (0-d for scalar parameters)."""
        return {name: np.array(p.data, copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy ``state`` (name -> array) into the parameters.

        Every entry is checked (names; shape and dtype equal to the
        parameter's) before any parameter changes: on error nothing is
        modified. With ``strict=False``, missing and unexpected names are
        allowed and returned in a :class:`LoadResult`.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict: state must be a mapping of name -> array, got {_describe(state)}"
            )
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise CheckpointError(
                f"load_state_dict ({type(self).__name__}): {' and '.join(parts)} (strict=False allows them)"
            )
        staged: list[tuple[Parameter, np.ndarray]] = []
        for name, p in params.items():
            if name not in state:
                continue
            arr = numeric_array(state[name], "load_state_dict", repr(name), CheckpointError)
            if arr.shape != p.shape:
                raise CheckpointError(
                    f"load_state_dict: shape mismatch for {name!r}: the checkpoint has {arr.shape}, "
                    f"the model has {p.shape}"
                )
            if arr.dtype != p.dtype:
                raise CheckpointError(
                    f"load_state_dict: dtype mismatch for {name!r}: the checkpoint has {arr.dtype}, "
                    f"the model has {p.dtype} (shape {p.shape})"
                )
            staged.append((p, arr))
        for p, arr in staged:
            # Rebinding (not writing in place) cannot fail half-way and never aliases the caller's array.
            p.data = float(arr) if type(p.data) is float else arr.copy()
        return LoadResult(missing, unexpected)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``state_dict()`` to ``path`` as ``.npz``, atomically (see :mod:`tinygrad_nn.checkpoint`)."""
        save_npz(path, self.state_dict())

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> LoadResult:
        """Load a checkpoint written by :meth:`save`; never unpickles, changes nothing on error."""
        # The model's shapes bound what the loader reads (a crafted file cannot make it allocate more).
        state = load_npz(path, expected={name: p.shape for name, p in self.named_parameters()})
        try:
            return self.load_state_dict(state, strict=strict)
        except CheckpointError as exc:
            raise CheckpointError(f"{os.fspath(path)}: {exc}") from None

    # -- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        name = type(self).__name__
        extra = self.extra_repr()
        if not self._modules:
            return f"{name}({extra})"
        lines = [f"  {extra}"] if extra else []
        for key, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({key}): {body}")
        return name + "(\n" + "\n".join(lines) + "\n)"


def _refuse_hidden(owner: str, name: str, value: Any) -> None:
    """Refuse a plain container of Parameters/Modules: they would not be registered."""
    items: Iterable[Any]
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        return
    for item in items:
        if isinstance(item, Parameter):
            raise TypeError(
                f"{owner}.{name}: a plain {type(value).__name__} of Parameters would not be registered; "
                "use nn.ParameterList([...])"
            )
        if isinstance(item, Module):
            raise TypeError(
                f"{owner}.{name}: a plain {type(value).__name__} of Modules would not be registered; "
                "use nn.ModuleList([...]) (or nn.Sequential)"
            )
