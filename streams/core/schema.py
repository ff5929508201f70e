"""The JSON Schemas of the contracts, and a fast validator compiled from them.

The schemas in ``streams/core/schemas/`` are the documentation *and* the rules: the validator
below is built from them (not hand-written beside them), so they cannot drift apart. It
supports the subset the schemas use: ``type``, ``required``, ``properties``, ``minLength``,
``maxLength``, ``minimum``, ``maximum``, ``maxItems``, ``items``, ``enum``, ``const``,
``format: date-time`` (marks the field as a time), ``$ref`` to a sibling file and an object-level
``if``/``then``/``else``; anything else raises :class:`~streams.core.errors.SchemaError` at load.
Extensions: ``x-limit`` (a ``limits`` field replacing ``maxLength``/``maxItems``),
``x-enum-from`` (a configured set replacing ``enum``), ``x-reasons`` (keyword → reason code).

Numbers must be finite (JSON has no NaN/inf, though ``json.loads`` accepts them): a non-finite
number fails with reason ``not_finite``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from streams.core.errors import SchemaError

__all__ = ["Invalid", "ObjectValidator", "compile_schema", "load_schema"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int, float),
    "number": (int, float),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
}
_KNOWN = {
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "required",
    "properties",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "maxItems",
    "items",
    "enum",
    "const",
    "format",
    "$ref",
    "if",
    "then",
    "else",
    "additionalProperties",
    "x-limit",
    "x-enum-from",
    "x-reasons",
}


class Invalid(Exception):  # noqa: N818 - a signal inside the validator, not an error type
    """A value broke the schema: ``reason`` is the rejection code, ``detail`` says where."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The bundled schema ``name`` (e.g. ``"event.schema.json"``), parsed once."""
    text = resources.files("streams.core").joinpath("schemas", name).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise SchemaError(f"{name}: the top level must be an object")
    return data


Check = Callable[[object, str], None]


def _type_ok(value: object, names: tuple[str, ...]) -> bool:
    for n in names:
        if n == "integer":
            if type(value) is int or (type(value) is float and value.is_integer()):
                return True
        elif n == "number":
            if type(value) is int or type(value) is float:
                return True
        elif type(value) in _TYPES[n]:
            return True
    return False


def _compile_value(
    spec: Mapping[str, Any], limits: object, enums: Mapping[str, frozenset[str]]
) -> Check:
    unknown = set(spec) - _KNOWN
    if unknown:
        raise SchemaError(f"unsupported schema keyword(s) {sorted(unknown)}")
    if "$ref" in spec:
        return compile_schema(str(spec["$ref"]), limits, enums)
    types = spec.get("type")
    names: tuple[str, ...] = (
        () if types is None else (types,) if isinstance(types, str) else tuple(types)
    )
    reasons: Mapping[str, str] = spec.get("x-reasons", {})
    limit_name = spec.get("x-limit")
    limit = getattr(limits, limit_name) if limit_name else None
    min_len = spec.get("minLength")
    max_len = limit if limit is not None and "maxLength" in spec else spec.get("maxLength")
    max_items = limit if limit is not None and "maxItems" in spec else spec.get("maxItems")
    minimum, maximum = spec.get("minimum"), spec.get("maximum")
    enum_from = spec.get("x-enum-from")
    enum = enums[enum_from] if enum_from else spec.get("enum")
    const = spec.get("const", _MISSING)
    item_check = _compile_value(spec["items"], limits, enums) if "items" in spec else None
    nested = compile_schema(spec, limits, enums) if "properties" in spec else None

    def fail(keyword: str, where: str, what: str) -> Invalid:
        return Invalid(reasons.get(keyword, "invalid_field"), f"{where}: {what}")

    def check(value: object, where: str) -> None:  # noqa: PLR0912 - one branch per keyword
        if names and not _type_ok(value, names):
            raise Invalid("wrong_type", f"{where}: expected {'|'.join(names)}")
        if type(value) is float and not math.isfinite(value):
            raise Invalid("not_finite", f"{where}: {value!r}")
        if type(value) is str:
            if min_len is not None and len(value) < min_len:
                raise fail("minLength", where, f"shorter than {min_len}")
            if max_len is not None and len(value) > max_len:
                raise fail("maxLength", where, f"longer than {max_len}")
        elif type(value) is int or type(value) is float:
            if minimum is not None and value < minimum:
                raise fail("minimum", where, f"below {minimum}")
            if maximum is not None and value > maximum:
                raise fail("maximum", where, f"above {maximum}")
        elif type(value) is list:
            if max_items is not None and len(value) > max_items:
                raise fail("maxItems", where, f"more than {max_items} items")
            if item_check is not None:
                for i, v in enumerate(value):
                    item_check(v, f"{where}[{i}]")
        elif nested is not None and type(value) is dict:
            nested(value, where)
        if enum is not None and value not in enum:
            raise fail("enum", where, f"{value!r} is not allowed")
        if const is not _MISSING and value != const:
            raise fail("const", where, f"must be {const!r}")

    return check


_MISSING = object()


class ObjectValidator:
    """Checks one JSON object against a compiled schema; raises :class:`Invalid`."""

    __slots__ = ("_branch", "_props", "_required")

    def __init__(
        self,
        props: tuple[tuple[str, Check], ...],
        required: tuple[str, ...],
        branch: tuple[Callable[[dict[str, object]], bool], ObjectValidator, ObjectValidator] | None,
    ) -> None:
        self._props = props
        self._required = required
        self._branch = branch

    def __call__(self, obj: object, where: str = "") -> None:
        """Validate ``obj`` (a decoded JSON value); ``where`` prefixes the detail paths."""
        if type(obj) is not dict:
            raise Invalid("not_an_object", f"{where or 'value'}: expected an object")
        prefix = f"{where}." if where else ""
        for name in self._required:
            if name not in obj:
                raise Invalid("missing_field", f"{prefix}{name}")
        for name, check in self._props:
            value = obj.get(name, _MISSING)
            if value is not _MISSING:
                check(value, f"{prefix}{name}")
        if self._branch is not None:
            cond, then, other = self._branch
            (then if cond(obj) else other)(obj, where)


def compile_schema(
    schema: str | Mapping[str, Any],
    limits: object,
    enums: Mapping[str, frozenset[str]] | None = None,
) -> ObjectValidator:
    """Compile an object schema (or a bundled schema's file name) into a validator."""
    spec = load_schema(schema) if isinstance(schema, str) else schema
    enums = enums or {}
    unknown = set(spec) - _KNOWN
    if unknown:
        raise SchemaError(f"unsupported schema keyword(s) {sorted(unknown)}")
    props = tuple(
        (name, _compile_value(sub, limits, enums))
        for name, sub in spec.get("properties", {}).items()
    )
    required = tuple(spec.get("required", ()))
    branch = None
    if "if" in spec:
        cond_spec = spec["if"]
        consts = {k: v["const"] for k, v in cond_spec.get("properties", {}).items()}
        need = tuple(cond_spec.get("required", ()))

        def cond(obj: dict[str, object]) -> bool:
            return all(k in obj for k in need) and all(
                obj.get(k, _MISSING) == v for k, v in consts.items()
            )

        then = compile_schema(spec.get("then", {}), limits, enums)
        other = compile_schema(spec.get("else", {}), limits, enums)
        branch = (cond, then, other)
    return ObjectValidator(props, required, branch)
