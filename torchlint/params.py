"""Typed rule parameters. A check kind declares its parameters as a frozen dataclass derived
from `Params`; the catalog builds it from a rule's YAML (and config overrides), converting YAML
lists to the declared collection types and naming the field of any value that does not fit."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping


class ParamError(ValueError):
    """A parameter value does not fit its declared type: `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class Params:
    """No parameters. Subclasses add typed fields (frozenset[str], tuple[str, ...], str, bool,
    int, str | None, dict[str, ...] of those)."""

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> "Params":
        """The typed parameters from plain YAML/TOML values; ParamError for an unknown, missing
        or ill-typed one."""
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
        for name in values:
            if name not in known:
                raise ParamError(name, f"unknown parameter; known: {', '.join(sorted(known)) or 'none'}")
        kwargs = {}
        for name, f in known.items():
            if name not in values:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ParamError(name, "missing")
                continue
            kwargs[name] = convert(values[name], hints[name], name)
        return cls(**kwargs)


def convert(value: Any, hint: Any, where: str) -> Any:
    """`value` as `hint` says, or ParamError naming `where`."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if option is type(None) and value is None:
                return None
        for option in args:
            if option is not type(None):
                try:
                    return convert(value, option, where)
                except ParamError:
                    pass
        raise ParamError(where, f"expected {_spell(hint)}, got {_spell_value(value)}")
    if origin in (frozenset, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParamError(where, f"expected a list, got {_spell_value(value)}")
        item = args[0] if args else Any
        return origin(convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamError(where, f"expected a table, got {_spell_value(value)}")
        key, item = args if args else (Any, Any)
        return {convert(k, key, where): convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint in (bool, int, float, str):
        if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
            return value
        raise ParamError(where, f"expected {hint.__name__}, got {_spell_value(value)}")
    raise TypeError(f"{where}: unsupported parameter type {hint!r}")


def _spell(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _spell_value(value: Any) -> str:
    kind = {list: "a list", dict: "a table", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if not isinstance(value, (list, dict)) else kind


def plain(value: Any) -> Any:
    """A typed value back as plain JSON-able data (cache keys, `torchlint rules --format json`)."""
    if isinstance(value, (frozenset, set)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
