"""The containers: ParameterList, ModuleList and Sequential."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

from ..value import Value
from .module import Module, Parameter, _describe

__all__ = ["ModuleList", "ParameterList", "Sequential"]


def _position(container: str, index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"{container}: index {index} is out of range for length {length}")
    return index % length


class ParameterList(Module):
    """A list of Parameters, registered under the names ``"0"``, ``"1"``, ...

    Numbers and arrays given to it are wrapped into new Parameters;
    ``ParameterList(nn.Parameter(x) for x in ...)`` works too.
    """

    def __init__(self, parameters: Iterable[Any] = ()) -> None:
        super().__init__()
        for p in parameters:
            self.append(p)

    def _wrap(self, p: Any) -> Parameter:
        if isinstance(p, Parameter):
            return p
        if isinstance(p, Value):
            raise TypeError(
                "ParameterList: got a Value that is not a Parameter; wrap it as nn.Parameter(value) "
                "(which copies its data) or create it as a Parameter"
            )
        return Parameter(p)

    def append(self, p: Any) -> ParameterList:
        self._parameters[str(len(self._parameters))] = self._wrap(p)
        return self

    def extend(self, ps: Iterable[Any]) -> ParameterList:
        for p in ps:
            self.append(p)
        return self

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))

    @overload
    def __getitem__(self, index: int) -> Parameter: ...
    @overload
    def __getitem__(self, index: slice) -> list[Parameter]: ...
    def __getitem__(self, index: int | slice) -> Parameter | list[Parameter]:
        items = list(self._parameters.values())
        if isinstance(index, slice):
            return items[index]
        return items[_position("ParameterList", index, len(items))]

    def __setitem__(self, index: int, p: Any) -> None:
        i = _position("ParameterList", index, len(self._parameters))
        self._parameters[str(i)] = self._wrap(p)

    def extra_repr(self) -> str:
        return f"length={len(self)}"


class ModuleList(Module):
    """A list of Modules, registered as children ``"0"``, ``"1"``, ... (no forward of its own)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def _check(self, m: Any, where: str) -> Module:
        if not isinstance(m, Module):
            raise TypeError(f"{type(self).__name__}: {where} is {_describe(m)}, not a Module")
        return m

    def append(self, module: Module) -> ModuleList:
        n = len(self._modules)
        self._modules[str(n)] = self._check(module, f"item {n}")
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...
    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return self._from_items(items[index])
        return items[_position(type(self).__name__, index, len(items))][1]

    def _from_items(self, items: list[tuple[str, Module]]) -> ModuleList:
        return ModuleList(m for _, m in items)

    def __setitem__(self, index: int, module: Module) -> None:
        keys = list(self._modules)
        i = _position(type(self).__name__, index, len(keys))
        self._modules[keys[i]] = self._check(module, f"item {i}")


class Sequential(ModuleList):
    """Modules applied one after the other: ``Sequential(m0, m1, ...)(x) = ...m1(m0(x))``.

    Children are named ``"0"``, ``"1"``, ...; pass a single dict
    ``{"name": module, ...}`` to name them yourself. Indexable (a slice gives
    a Sequential sharing the same modules), iterable, with ``len``.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        first = modules[0] if len(modules) == 1 else None
        if isinstance(first, Mapping):
            for key, m in first.items():
                if not isinstance(key, str) or not key or "." in key:
                    raise ValueError(
                        f"Sequential: child names must be non-empty strings without '.', got {key!r}"
                    )
                self._modules[key] = self._check(m, f"entry {key!r}")
        else:
            for i, item in enumerate(modules):
                self._modules[str(i)] = self._check(item, f"argument {i}")

    def _from_items(self, items: list[tuple[str, Module]]) -> Sequential:
        return Sequential(dict(items))

    def append(self, module: Module) -> Sequential:
        key = str(len(self._modules))
        if key in self._modules:
            raise ValueError(f"Sequential: cannot append, a child is already named {key!r}")
        self._modules[key] = self._check(module, f"item {key}")
        return self

    def forward(self, x: Any) -> Any:
        """Each child applied to the output of the one before."""
        for module in self._modules.values():
            x = module(x)
        return x
