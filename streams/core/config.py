"""Load :class:`~streams.core.params.EngineParams` from a JSON or TOML file (or a mapping).

The file has the nesting of the dataclasses; omitted keys keep their defaults, unknown keys
and wrong types raise :class:`~streams.core.errors.ConfigError` naming the dotted path::

    [decay]
    short_half_life_ms = 3600000
    [event_types.rating]
    weight = 1.0
    value = "linear"
    scale = 5.0
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from streams.core.errors import ConfigError
from streams.core.params import EngineParams, TypeWeight

__all__ = ["load_params", "params_from_mapping", "params_to_mapping"]

T = TypeVar("T")


def _coerce(value: object, hint: Any, path: str) -> object:  # noqa: PLR0911, PLR0912 - one per type
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {type(value).__name__}")
        return _build(hint, value, path)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{path}: {value!r} is not one of {typing.get_args(hint)}")
        return value
    if origin in (tuple,):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected an array")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected a boolean")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number")
        if not math.isfinite(value):  # TOML and JSON readers take nan and inf
            raise ConfigError(f"{path}: expected a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string")
        return value
    raise ConfigError(f"{path}: unsupported parameter type {hint!r}")  # pragma: no cover


def _build(cls: type[T], data: Mapping[str, object], path: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{path or 'params'}: unknown key(s) {unknown}")
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        hint = hints[key]
        if key == "event_types":
            kwargs[key] = _event_types(value, where)
        else:
            kwargs[key] = _coerce(value, hint, where)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        said = str(exc)  # the checks name their section already, most of them
        named = path and said.startswith(path)
        raise ConfigError(said if named else f"{path or 'params'}: {said}") from exc


def _event_types(value: object, path: str) -> dict[str, TypeWeight]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a table of event types")
    out = dict(EngineParams().event_types)
    for name, spec in value.items():
        if spec is None or spec is False:
            out.pop(str(name), None)
            continue
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{path}.{name}: expected a table")
        out[str(name)] = _build(TypeWeight, spec, f"{path}.{name}")
    return out


def params_from_mapping(data: Mapping[str, object]) -> EngineParams:
    """Parameters from a nested mapping (defaults for what it omits).

    ``event_types`` *extends* the default types; a type mapped to ``false`` removes it.

    >>> params_from_mapping({"recommend": {"k": 20}}).recommend.k
    20
    """
    return _build(EngineParams, data, "")


def params_to_mapping(params: EngineParams) -> dict[str, object]:
    """The parameters as plain JSON-able data (the inverse of :func:`params_from_mapping`:
    a default event type the parameters do not have is mapped to ``false``, as a file
    removes it; the parse-ahead child rebuilds the parent's parameters from this, and the
    types' order is their index in the parsed columns).
    """

    def plain(obj: object) -> object:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, Mapping | types.MappingProxyType):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, tuple):
            return [plain(v) for v in obj]
        return obj

    out = plain(params)
    assert isinstance(out, dict)
    kinds = out["event_types"]
    assert isinstance(kinds, dict)
    for name in EngineParams().event_types:
        kinds.setdefault(name, False)
    return out


def load_params(path: Path | str | None) -> EngineParams:
    """Read a ``.json`` or ``.toml`` parameter file; ``None`` gives the defaults."""
    if path is None:
        return EngineParams()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data: object = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read engine parameters from {p}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: the top level must be a table/object")
    return params_from_mapping(data)
