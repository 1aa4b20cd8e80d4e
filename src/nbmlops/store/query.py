"""The run filter and sort language (``--where``, ``--sort``, ``nbmlops.runs(where=…)``).

A filter is a Python-like boolean expression::

    metrics.accuracy > 0.8 and params.C <= 1 and status == "finished"
    tags.team in ("growth", "risk") or not name == "baseline"
    metrics["val-loss"] < 0.3          # keys that are not identifiers
    metrics.auc == None                # runs that did not log "auc"

Fields: ``metrics.<key>`` (the latest value), ``params.<key>``, ``tags.<key>``, and the run
attributes in :data:`ATTRIBUTES`. Operators: ``== != < <= > >=``, ``in`` / ``not in`` with
a list or tuple, ``and``, ``or``, ``not`` and parentheses. Values are literals.

A sort is a comma-separated list of fields, each optionally prefixed by ``-`` for
descending order: ``-metrics.accuracy,start``.

Parsing happens here, without touching the database; the store compiles the result.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from nbmlops.errors import QueryError

Namespace = Literal["metrics", "params", "tags", "attr"]
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]

ATTRIBUTES = (
    "run_id", "experiment", "name", "kind", "status", "start", "end", "duration_s",
    "user", "host", "notebook", "cell_id", "parent", "git_commit",
)
_NAMESPACES = ("metrics", "params", "tags")
_OPS: dict[type[ast.cmpop], Op] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}
_FLIP: dict[Op, Op] = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True, slots=True)
class Field:
    namespace: Namespace
    key: str

    def __str__(self) -> str:
        return self.key if self.namespace == "attr" else f"{self.namespace}.{self.key}"


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: Op
    value: Any  # a literal; a tuple of literals for in / not in


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


Filter = Compare | And | Or | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    field: Field
    descending: bool = False


def _field(node: ast.expr, expression: str) -> Field:
    if isinstance(node, ast.Name):
        if node.id in ATTRIBUTES:
            return Field("attr", node.id)
        if node.id in _NAMESPACES:
            raise QueryError(f"{node.id} needs a key, like {node.id}.accuracy",
                             expression=expression)
        raise QueryError(
            f"unknown field {node.id!r}; use metrics.<key>, params.<key>, tags.<key> or one of "
            f"{', '.join(ATTRIBUTES)}", expression=expression)
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in _NAMESPACES):
        return Field(node.value.id, node.attr)  # type: ignore[arg-type]
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and node.value.id in _NAMESPACES and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)):
        return Field(node.value.id, node.slice.value)  # type: ignore[arg-type]
    raise QueryError(f"{ast.unparse(node)!r} is not a field", expression=expression)


def _literal(node: ast.expr, expression: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise QueryError(
            f"{ast.unparse(node)!r} is not a literal value (quote strings: \"finished\")",
            expression=expression) from None
    if isinstance(value, list | tuple | set | frozenset):
        if not all(isinstance(v, str | int | float | bool) or v is None for v in value):
            raise QueryError("lists may hold only strings, numbers, booleans or None",
                             expression=expression)
        return tuple(value)
    if not (isinstance(value, str | int | float | bool) or value is None):
        raise QueryError(f"{ast.unparse(node)!r} is not a string, number, boolean or None",
                         expression=expression)
    return value


def _is_field(node: ast.expr) -> bool:
    return isinstance(node, ast.Name | ast.Attribute | ast.Subscript)


def _compare(left: ast.expr, op: ast.cmpop, right: ast.expr, expression: str) -> Compare:
    sym = _OPS.get(type(op))
    if sym is None:
        raise QueryError(f"operator {type(op).__name__} is not supported",
                         expression=expression)
    if _is_field(left):
        field, value = _field(left, expression), _literal(right, expression)
    elif _is_field(right) and sym in _FLIP:
        field, value, sym = _field(right, expression), _literal(left, expression), _FLIP[sym]
    else:
        raise QueryError(f"{ast.unparse(left)!r} is not a field", expression=expression)
    if sym in ("in", "not in") and not isinstance(value, tuple):
        raise QueryError(f"'{sym}' needs a list, like status in ('failed', 'crashed')",
                         expression=expression)
    if sym not in ("in", "not in") and isinstance(value, tuple):
        raise QueryError(f"a list needs 'in' or 'not in', not {sym!r}", expression=expression)
    if value is None and sym not in ("==", "!="):  # None means "not logged": it has no order
        raise QueryError(f"None can only be compared with == or != (not {sym})",
                         expression=expression)
    if field.namespace == "attr" and field.key in ("start", "end"):
        value = _timestamp(value, expression)
    return Compare(field, sym, value)


def _timestamp(value: Any, expression: str) -> Any:
    if isinstance(value, tuple):
        return tuple(_timestamp(v, expression) for v in value)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.astimezone()  # a naive time is the user's local time
            return parsed.timestamp()
    raise QueryError(f"{value!r} is not a time; use an ISO date like '2026-01-31T12:00'",
                     expression=expression)


def _convert(node: ast.expr, expression: str) -> Filter:
    if isinstance(node, ast.BoolOp):
        items = tuple(_convert(v, expression) for v in node.values)
        return And(items) if isinstance(node.op, ast.And) else Or(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Not(_convert(node.operand, expression))
    if isinstance(node, ast.Compare):
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(_compare(left, op, right, expression))
            left = right
        return parts[0] if len(parts) == 1 else And(tuple(parts))
    raise QueryError(
        f"{ast.unparse(node)!r} is not a comparison; write e.g. metrics.accuracy > 0.8",
        expression=expression)


def parse_filter(expression: str | None) -> Filter | None:
    """Parse a filter expression; ``None`` or blank means no filter."""
    if expression is None or not expression.strip():
        return None
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"cannot parse the filter ({exc.msg})", expression=expression) from None
    return _convert(tree.body, expression)


def parse_sort(spec: str | tuple[str, ...] | list[str] | None) -> tuple[SortKey, ...]:
    """Parse ``"-metrics.accuracy,start"`` (or a list of such items)."""
    if spec is None:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    keys = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        descending = item.startswith("-")
        body = item.lstrip("+-").strip()
        try:
            node = ast.parse(body, mode="eval").body
        except SyntaxError:
            raise QueryError(f"cannot parse sort key {item!r}", expression=str(spec)) from None
        keys.append(SortKey(_field(node, str(spec)), descending))
    return tuple(keys)
