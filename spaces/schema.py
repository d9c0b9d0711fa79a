"""Typed checking and JSON decoding for the frozen dataclasses of `spaces.spec`.

Errors carry a path (`stages[2].blocks[0].temporal_kernel`), the value and the rule.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from enum import Enum
from typing import Any, ClassVar, Union


class SpecError(ValueError):
    """An invalid spec: names the field (as a path), the value and the rule."""

    def __init__(self, path: str, value: Any, rule: str) -> None:
        self.path, self.value, self.rule = path, value, rule
        super().__init__(f"invalid {path}={value!r}: {rule}")

    def at(self, prefix: str) -> SpecError:
        return SpecError(f"{prefix}.{self.path}" if self.path else prefix, self.value, self.rule)


class _RegistryMeta(type):
    """Iterating a `Registered` class yields its registered names, as iterating an Enum does."""

    def __iter__(cls):  # noqa: ANN204
        return iter(list(cls._names().values()))

    def __len__(cls) -> int:
        return len(cls._names())


class Registered(str, metaclass=_RegistryMeta):
    """A closed choice whose members a registry holds: `TemporalOp("3d")` is that registered name
    (one interned instance, so `is` compares as with an Enum), an unregistered name is a ValueError
    that lists the registered ones. Unlike an Enum, a module can register a member (a new temporal
    form, a new family) without editing the class. Subclasses give `_names()`: name -> instance."""

    _members: ClassVar[dict[str, Registered]]

    def __new__(cls, value: Any) -> Registered:
        if isinstance(value, cls):
            return value
        member = cls._names().get(value) if isinstance(value, str) else None
        if member is None:
            raise ValueError(f"{value!r} is not a valid {cls.__name__}; valid: {', '.join(cls._names())}")
        return member

    @classmethod
    def _names(cls) -> dict[str, Registered]:
        return cls._members

    @classmethod
    def _make(cls, name: str) -> Registered:
        """A new member (for the registry that owns the names)."""
        return str.__new__(cls, name)

    @property
    def value(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self),)


def check_fields(obj: Any) -> None:
    """Coerce str -> Enum and list -> tuple, and check every field's type against its hint."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = coerce(getattr(obj, f.name), hints[f.name], f.name)
        object.__setattr__(obj, f.name, value)


def coerce(value: Any, hint: Any, path: str) -> Any:
    """`value` checked against the type hint `hint` (and converted: str -> Enum or registered
    name, list -> tuple, int -> float); a SpecError names the path, the value and the rule."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):  # X | None, X | Y: the first that takes it
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(value, option, path)
            except SpecError as e:
                errors.append(e.rule.removeprefix("must be "))
        raise SpecError(path, value, "must be " + " or ".join(errors + (["null"] if type(None) in options else [])))
    if hint is object or hint is Any:  # a block of the spec's family: the family check comes later
        return value
    if hint is str or origin in (dict, list) or hint in (dict, list):
        kind = {str: "a string", dict: "a mapping", list: "a list"}[origin or hint]
        if not isinstance(value, origin or hint):
            raise SpecError(path, value, f"must be {kind}")
        return value
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise SpecError(path, value, "must be a list")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, (Enum, Registered)):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise SpecError(path, value, f"must be one of {allowed}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise SpecError(path, value, "must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, value, "must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(path, value, "must be a finite number")
        return float(value)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            raise SpecError(path, value, f"must be a {hint.__name__}")
        return value
    raise TypeError(f"unsupported field type {hint!r} at {path}")  # a bug in this module


def at_least(path: str, value: int, low: int) -> None:
    if value < low:
        raise SpecError(path, value, f"must be >= {low}")


def one_of(path: str, value: int, allowed: tuple[int, ...]) -> None:
    if value not in allowed:
        raise SpecError(path, value, f"must be one of {', '.join(map(str, allowed))}")


def encode(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (Enum, Registered)):
        return obj.value
    if isinstance(obj, tuple):
        return [encode(v) for v in obj]
    return obj


def decode(cls: type, data: Any, path: str = "", block_type: type | None = None, *, root: str = "spec") -> Any:
    """The one converter from plain JSON/YAML values to a frozen dataclass tree, for specs and
    configs alike: unknown keys and missing required ones refused, nested dataclasses, lists into
    tuples, a field typed `object` (a spec's block) as `block_type`, and every other value checked
    against its hint (`coerce`). Errors are SpecErrors carrying the path (`root` at the top)."""
    where = path or root
    if not isinstance(data, dict):
        raise SpecError(where, data, f"must be a mapping ({cls.__name__})")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}" if path else str(unknown[0]), data[unknown[0]],
                        f"unknown key for {cls.__name__}; valid keys: {', '.join(names)}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [n for n in required if n not in data]
    if missing:
        raise SpecError(where, "{...}", f"missing required key(s) {', '.join(missing)} of {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        sub = f"{path}.{name}" if path else name
        kwargs[name] = _decode_value(hints[name], value, sub, block_type)
    try:
        return cls(**kwargs)
    except SpecError as e:
        raise (e.at(path) if path else e) from None


def _decode_value(hint: Any, value: Any, path: str, block_type: type | None) -> Any:
    if hint is object and block_type is not None:  # a block: of the family's block type
        return decode(block_type, value, path, block_type)
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else decode(hint, value, path, block_type)
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else ()
    nested = [o for o in options if dataclasses.is_dataclass(o)]
    if nested and len(options) == 2 and type(None) in options:  # an optional section (X | None)
        return None if value is None else _decode_value(nested[0], value, path, block_type)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise SpecError(path, value, "must be a list")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if item is object or dataclasses.is_dataclass(item):
            return [_decode_value(item, v, f"{path}[{i}]", block_type) for i, v in enumerate(value)]
        return tuple(value)  # its items are the dataclass's to check (a spec coerces them itself)
    return coerce(value, hint, path)
