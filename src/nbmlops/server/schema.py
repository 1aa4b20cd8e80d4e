"""The payload TypedDicts read two ways: as JSON Schema (for the OpenAPI document) and as
a check of a request body (so a bad body is a 400 naming the field, never a 500).

Only the types :mod:`nbmlops.server.payloads` uses are understood; anything else is a
``TypeError`` at import of the route table, not a surprise at request time.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

JsonSchema = dict[str, Any]


def is_typeddict(tp: Any) -> bool:
    return typing.is_typeddict(get_origin(tp) or tp)


def _fields(tp: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """A TypedDict's (possibly generic, parametrised) field types and required keys."""
    origin = get_origin(tp) or tp
    hints = typing.get_type_hints(origin)
    params = getattr(origin, "__parameters__", ())
    if params and get_origin(tp) is not None:
        binding = dict(zip(params, get_args(tp), strict=True))
        hints = {k: _substitute(v, binding) for k, v in hints.items()}
    hints = {k: _unwrap(v) for k, v in hints.items()}
    return hints, frozenset(origin.__required_keys__)


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) in (Required, NotRequired):
        tp = get_args(tp)[0]
    return tp


def _substitute(tp: Any, binding: dict[Any, Any]) -> Any:
    if isinstance(tp, typing.TypeVar):
        return binding[tp]
    args = get_args(tp)
    if not args:
        return tp
    new = tuple(_substitute(a, binding) for a in args)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return Union[new]  # noqa: UP007 (a runtime union of computed members)
    return origin[new] if origin is not None else tp


def component_name(tp: Any) -> str:
    """``RunSummary``; a parametrised generic: ``Page_RunSummary``."""
    origin = get_origin(tp) or tp
    args = get_args(tp)
    return "_".join([origin.__name__, *(component_name(a) for a in args)])


def json_schema(tp: Any, components: dict[str, JsonSchema]) -> JsonSchema:
    """The JSON Schema of ``tp``; TypedDicts go to ``components`` and are referenced."""
    if tp is Any:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [json_schema(a, components) for a in args]}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0], components)}
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"JSON object keys are strings, not {args[0]!r}")
        return {"type": "object", "additionalProperties": json_schema(args[1], components)}
    if is_typeddict(tp):
        name = component_name(tp)
        if name not in components:
            components[name] = {}  # a placeholder while its fields are converted
            hints, required = _fields(tp)
            schema: JsonSchema = {
                "type": "object",
                "properties": {k: json_schema(v, components) for k, v in hints.items()},
                "required": [k for k in hints if k in required],
                "additionalProperties": False,
            }
            doc = (get_origin(tp) or tp).__doc__
            if doc:
                schema["description"] = " ".join(doc.split())
            components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def check(tp: Any, value: Any, where: str = "body") -> None:
    """Raise ValueError naming the first place where ``value`` is not a ``tp``."""
    if tp is Any:
        return
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for a in args:
            try:
                check(a, value, where)
                return
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if len(errors) == 1 else
                         f"{where} is {_describe(value)}, not {_name(tp)}")
    if is_typeddict(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a JSON object, not {_describe(value)}")
        hints, required = _fields(tp)
        missing = [k for k in hints if k in required and k not in value]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(repr(k) for k in missing)} "
                             f"(fields: {', '.join(hints)})")
        unknown = [k for k in value if k not in hints]
        if unknown:
            raise ValueError(f"{where} has unknown field(s) "
                             f"{', '.join(repr(k) for k in unknown)} "
                             f"(fields: {', '.join(hints)})")
        for key, item in value.items():
            check(hints[key], item, f"{where}.{key}")
        return
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, not {_describe(value)}")
        for i, item in enumerate(value):
            check(args[0], item, f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object, not {_describe(value)}")
        for key, item in value.items():
            check(args[1], item, f"{where}.{key}")
        return
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where} must be one of {', '.join(map(repr, args))}")
        return
    ok = {
        type(None): value is None,
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if ok is None:
        raise TypeError(f"cannot check {tp!r}")
    if not ok:
        raise ValueError(f"{where} must be {_name(tp)}, not {_describe(value)}")


def _name(tp: Any) -> str:
    names = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
             str: "a string"}
    if tp in names:
        return names[tp]
    args = get_args(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_name(a) for a in args)
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
            str: "a string", list: "a list", dict: "an object"}.get(type(value),
                                                                    type(value).__name__)
