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

Parsing happens here, without touching the database; the store compiles the result. Every
front end (the API, the CLI, the magics, the server) parses here, so the bounds that keep
a query from exhausting the parser or the database are here too: a filter is at most
:data:`MAX_FILTER_LENGTH` characters, nested at most :data:`MAX_FILTER_DEPTH` levels, holds
at most :data:`MAX_COMPARISONS` comparisons and :data:`MAX_VALUES` list values; integers
fit a 64-bit signed integer; a sort has at most :data:`MAX_SORT_KEYS` keys.
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

MAX_FILTER_LENGTH = 20_000  # characters
MAX_FILTER_DEPTH = 32  # levels of the parsed expression (and/or/not, brackets, lists, ...)
MAX_COMPARISONS = 100
MAX_VALUES = 1_000  # list items, over the whole filter
MAX_SORT_KEYS = 16
MAX_ROWS = 2**53  # limits and offsets: the store adds to them and multiplies them in 64 bits
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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
        for v in value:
            _check_int(v, expression)
        return tuple(value)
    if not (isinstance(value, str | int | float | bool) or value is None):
        raise QueryError(f"{ast.unparse(node)!r} is not a string, number, boolean or None",
                         expression=expression)
    _check_int(value, expression)
    return value


def _check_int(value: Any, expression: str) -> None:
    """An integer the store can hold (a 64-bit signed integer); a larger one is refused,
    never silently rounded."""
    if isinstance(value, int) and not isinstance(value, bool) and not (
            INT64_MIN <= value <= INT64_MAX):
        shown = f"{value:.3e}" if abs(value) < 10**300 else "an integer that large"
        raise QueryError(f"{shown} does not fit a 64-bit integer (at most "
                         f"{INT64_MAX:,}); write it as a float, like 1e30",
                         expression=_shown(expression))


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


def _shown(expression: str) -> str:
    """The expression as an error message quotes it: a long one is cut short."""
    if len(expression) <= 200:
        return expression
    return f"{expression[:100]}… ({len(expression):,} characters)"


def _too_deep(what: str, expression: str) -> QueryError:
    return QueryError(f"the {what} is nested too deeply (at most {MAX_FILTER_DEPTH} levels of "
                      "and/or/not, brackets, lists and fields); write it flatter",
                      expression=_shown(expression))


def _check_size(tree: ast.AST, expression: str, what: str = "filter") -> None:
    """Refuse a parsed filter nested too deeply, or with too many comparisons or values,
    before anything walks it recursively (here or in the store's compiler)."""
    comparisons = values = 0
    todo: list[tuple[ast.AST, int]] = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_FILTER_DEPTH:
            raise _too_deep(what, expression)
        if isinstance(node, ast.Compare):
            comparisons += len(node.ops)
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            values += len(node.elts)
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    if comparisons > MAX_COMPARISONS:
        raise QueryError(f"the filter has {comparisons:,} comparisons; at most "
                         f"{MAX_COMPARISONS} are allowed", expression=_shown(expression))
    if values > MAX_VALUES:
        raise QueryError(f"the filter's lists hold {values:,} values; at most {MAX_VALUES:,} "
                         "are allowed", expression=_shown(expression))


def parse_filter(expression: str | None) -> Filter | None:
    """Parse a filter expression; ``None`` or blank means no filter."""
    if expression is None or not expression.strip():
        return None
    if len(expression) > MAX_FILTER_LENGTH:
        raise QueryError(f"the filter is {len(expression):,} characters long; at most "
                         f"{MAX_FILTER_LENGTH:,} are allowed", expression=_shown(expression))
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"cannot parse the filter ({exc.msg})",
                         expression=_shown(expression)) from None
    except (RecursionError, MemoryError):  # Python's own parser gives up on deep nesting
        raise _too_deep("filter", expression) from None
    _check_size(tree, expression)
    return _convert(tree.body, expression)


def parse_sort(spec: str | tuple[str, ...] | list[str] | None) -> tuple[SortKey, ...]:
    """Parse ``"-metrics.accuracy,start"`` (or a list of such items)."""
    if spec is None:
        return ()
    if sum(map(len, [spec] if isinstance(spec, str) else spec)) > MAX_FILTER_LENGTH:
        raise QueryError(f"the sort is longer than {MAX_FILTER_LENGTH:,} characters",
                         expression=_shown(str(spec)))
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    items = [item for item in items if item.strip()]
    if len(items) > MAX_SORT_KEYS:
        raise QueryError(f"sort by at most {MAX_SORT_KEYS} keys, not {len(items):,}",
                         expression=_shown(str(spec)))
    keys = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        descending = item.startswith("-")
        body = item.lstrip("+-").strip()
        try:
            tree = ast.parse(body, mode="eval")
        except (SyntaxError, RecursionError, MemoryError):
            raise QueryError(f"cannot parse sort key {_shown(item)!r}",
                             expression=_shown(str(spec))) from None
        _check_size(tree, str(spec), "sort key")
        node = tree.body
        keys.append(SortKey(_field(node, _shown(str(spec))), descending))
    return tuple(keys)
