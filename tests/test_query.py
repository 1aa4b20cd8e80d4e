"""The filter and sort language, parsed without a database (``store/query.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nbmlops.commands.arguments import attach_sort_values
from nbmlops.errors import QueryError
from nbmlops.store.query import (
    ATTRIBUTES,
    And,
    Compare,
    Field,
    Not,
    Or,
    SortKey,
    parse_filter,
    parse_sort,
)


def M(key: str) -> Field:
    return Field("metrics", key)


def P(key: str) -> Field:
    return Field("params", key)


def T(key: str) -> Field:
    return Field("tags", key)


def A(key: str) -> Field:
    return Field("attr", key)


# -- valid filters ---------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "tree"), [
    ("metrics.accuracy > 0.8", Compare(M("accuracy"), ">", 0.8)),
    ("params.C <= 1", Compare(P("C"), "<=", 1)),
    ("tags.team == 'growth'", Compare(T("team"), "==", "growth")),
    ('status != "finished"', Compare(A("status"), "!=", "finished")),
    ("metrics.auc == None", Compare(M("auc"), "==", None)),
    ("params.flag == True", Compare(P("flag"), "==", True)),
    ("metrics.loss >= -1.5", Compare(M("loss"), ">=", -1.5)),
    ("duration_s < 60", Compare(A("duration_s"), "<", 60)),
    # a literal on the left is flipped so the field always comes first
    ("0.8 < metrics.x", Compare(M("x"), ">", 0.8)),
    ("0.8 <= metrics.x", Compare(M("x"), ">=", 0.8)),
    ("3 > params.depth", Compare(P("depth"), "<", 3)),
    ("3 >= params.depth", Compare(P("depth"), "<=", 3)),
    ("'growth' == tags.team", Compare(T("team"), "==", "growth")),
    ("1 != params.n", Compare(P("n"), "!=", 1)),
    # keys that are not identifiers
    ('metrics["val-loss"] < 0.3', Compare(M("val-loss"), "<", 0.3)),
    ("params['model.C'] == 2", Compare(P("model.C"), "==", 2)),
    ("tags['a b'] == 'x'", Compare(T("a b"), "==", "x")),
    # lists: tuples, lists and sets all become tuples
    ("tags.team in ('growth', 'risk')", Compare(T("team"), "in", ("growth", "risk"))),
    ("status not in ['failed', 'crashed']",
     Compare(A("status"), "not in", ("failed", "crashed"))),
    ("params.n in (1, 2.5, None, True)", Compare(P("n"), "in", (1, 2.5, None, True))),
    ("tags.t in ('only',)", Compare(T("t"), "in", ("only",))),
    # chained comparisons are an `and` of their parts
    ("0.5 < metrics.x <= 0.9",
     And((Compare(M("x"), ">", 0.5), Compare(M("x"), "<=", 0.9)))),
    # boolean structure
    ("metrics.a > 1 and params.b == 'x'",
     And((Compare(M("a"), ">", 1), Compare(P("b"), "==", "x")))),
    ("metrics.a > 1 or metrics.b > 2 or metrics.c > 3",
     Or((Compare(M("a"), ">", 1), Compare(M("b"), ">", 2), Compare(M("c"), ">", 3)))),
    ("not name == 'baseline'", Not(Compare(A("name"), "==", "baseline"))),
    ("tags.team in ('growth', 'risk') or not name == 'baseline'",
     Or((Compare(T("team"), "in", ("growth", "risk")),
         Not(Compare(A("name"), "==", "baseline"))))),
    ("(metrics.a > 1 or metrics.b > 2) and not (status == 'failed')",
     And((Or((Compare(M("a"), ">", 1), Compare(M("b"), ">", 2))),
          Not(Compare(A("status"), "==", "failed"))))),
    ("  metrics.a > 1  ", Compare(M("a"), ">", 1)),
])
def test_valid_filters_parse_to_trees(expression: str, tree: object) -> None:
    assert parse_filter(expression) == tree


@pytest.mark.parametrize("expression", [None, "", "   ", "\n\t"])
def test_blank_filter_is_no_filter(expression: str | None) -> None:
    assert parse_filter(expression) is None


def test_every_attribute_is_a_field() -> None:
    for attr in ATTRIBUTES:
        if attr in ("start", "end"):
            continue
        assert parse_filter(f"{attr} == 'x'") == Compare(A(attr), "==", "x")


def test_times_accept_iso_strings_and_epoch_numbers() -> None:
    aware = parse_filter("start >= '2026-01-31T12:00:00+00:00'")
    assert aware == Compare(A("start"), ">=",
                            datetime(2026, 1, 31, 12, tzinfo=UTC).timestamp())
    offset = parse_filter("end < '2026-01-31T12:00:00+02:00'")
    assert offset == Compare(A("end"), "<", datetime(2026, 1, 31, 10, tzinfo=UTC).timestamp())
    # a naive time is the user's local time
    naive = parse_filter("start > '2026-01-31'")
    assert naive == Compare(A("start"), ">", datetime(2026, 1, 31).astimezone().timestamp())
    assert parse_filter("start > 1700000000") == Compare(A("start"), ">", 1700000000)
    assert parse_filter("end == None") == Compare(A("end"), "==", None)
    assert parse_filter("start in ('2026-01-01T00:00:00+00:00', 5)") == Compare(
        A("start"), "in", (datetime(2026, 1, 1, tzinfo=UTC).timestamp(), 5))
    flipped = parse_filter("'2026-01-31T00:00:00+00:00' < start")
    assert flipped == Compare(A("start"), ">", datetime(2026, 1, 31, tzinfo=UTC).timestamp())


def test_other_fields_keep_strings_that_look_like_times() -> None:
    assert parse_filter("tags.day == '2026-01-31'") == Compare(T("day"), "==", "2026-01-31")


# -- invalid filters -------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "message"), [
    # unknown fields and missing keys
    ("accuracy > 0.8", "unknown field 'accuracy'"),
    ("metric.accuracy > 0.8", "'metric.accuracy' is not a field"),
    ("metrics > 0.8", "metrics needs a key, like metrics.accuracy"),
    ("params == 1", "params needs a key"),
    ("tags in ('a',)", "tags needs a key"),
    ("metrics.a.b > 1", "'metrics.a.b' is not a field"),
    ("metrics[0] > 1", "'metrics[0]' is not a field"),
    ("start.x > 1", "'start.x' is not a field"),
    ("finished == status", "unknown field 'finished'"),
    # values must be literals
    ("status == finished", "'finished' is not a literal value (quote strings"),
    ("metrics.a > metrics.b", "'metrics.b' is not a literal value"),
    ("metrics.a > abs(-1)", "'abs(-1)' is not a literal value"),
    ("metrics.a > 1 + x", "is not a literal value"),
    ("1 <= params.a < params.b", "'params.b' is not a literal value"),
    ("params.a == {'k': 1}", "is not a string, number, boolean or None"),
    ("params.a == b'x'", "is not a string, number, boolean or None"),
    ("params.a == 1j", "is not a string, number, boolean or None"),
    ("params.a in ([1],)", "lists may hold only strings, numbers, booleans or None"),
    ("params.a in ({'k': 1},)", "lists may hold only"),
    # lists and `in` go together
    ("params.a == (1, 2)", "a list needs 'in' or 'not in', not '=='"),
    ("params.a < [1, 2]", "a list needs 'in' or 'not in', not '<'"),
    ("params.a in 1", "'in' needs a list, like status in ('failed', 'crashed')"),
    ("params.a not in 'abc'", "'not in' needs a list"),
    ("1 in params.a", "'1' is not a field"),
    # None means "not logged": it has no order
    ("metrics.a < None", "None can only be compared with == or != (not <)"),
    ("params.a >= None", "None can only be compared with == or != (not >=)"),
    ("None > tags.t", "None can only be compared with == or != (not <)"),
    # unsupported operators
    ("metrics.a is None", "operator Is is not supported"),
    ("metrics.a is not None", "operator IsNot is not supported"),
    # function calls and other expressions that are not comparisons
    ("abs(metrics.a) > 1", "'abs(metrics.a)' is not a field"),
    ("len(tags)", "'len(tags)' is not a comparison"),
    ("metrics.a", "'metrics.a' is not a comparison; write e.g. metrics.accuracy > 0.8"),
    ("not metrics.a", "'metrics.a' is not a comparison"),
    ("metrics.a > 1 and 2", "'2' is not a comparison"),
    ("1 == 1", "'1' is not a field"),
    ("__import__('os').system('true')", "is not a comparison"),
    # syntax errors
    ("metrics.a > ", "cannot parse the filter"),
    ("metrics.a > 1 and", "cannot parse the filter"),
    ("metrics.a = 1", "cannot parse the filter"),
    ("metrics.a > 1; import os", "cannot parse the filter"),
    # times
    ("start > 'yesterday'", "'yesterday' is not a time; use an ISO date"),
    ("end < True", "True is not a time"),
    ("start in ('2026-01-01', 'soon')", "'soon' is not a time"),
])
def test_bad_filters_raise_query_error_naming_the_problem(expression: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_filter(expression)
    assert message in str(info.value)
    assert info.value.expression == expression
    assert repr(expression) in str(info.value)  # the message quotes what was typed


def test_query_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        parse_filter("nope == 1")


# -- sorts -----------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "keys"), [
    (None, ()),
    ("", ()),
    (" , ,", ()),
    ("start", (SortKey(A("start")),)),
    ("-metrics.accuracy", (SortKey(M("accuracy"), descending=True),)),
    ("+params.C", (SortKey(P("C")),)),
    ("-metrics.accuracy,start", (SortKey(M("accuracy"), True), SortKey(A("start")))),
    (" -metrics.accuracy , tags.team ,  -duration_s ",
     (SortKey(M("accuracy"), True), SortKey(T("team")), SortKey(A("duration_s"), True))),
    ('-metrics["val-loss"]', (SortKey(M("val-loss"), True),)),
    (["-metrics.a", "name"], (SortKey(M("a"), True), SortKey(A("name")))),
    (("params.lr",), (SortKey(P("lr")),)),
    (["metrics['a,b']"], (SortKey(M("a,b")),)),  # a list item may hold a comma
])
def test_parse_sort(spec: object, keys: tuple[SortKey, ...]) -> None:
    assert parse_sort(spec) == keys  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "message"), [
    ("accuracy", "unknown field 'accuracy'"),
    ("-metrics", "metrics needs a key"),
    ("metrics.x > 1", "'metrics.x > 1' is not a field"),
    ("metrics.", "cannot parse sort key 'metrics.'"),
    ("start,-", "cannot parse sort key '-'"),
    ("len(x)", "'len(x)' is not a field"),
    ("1", "'1' is not a field"),
])
def test_bad_sorts_raise_query_error(spec: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_sort(spec)
    assert message in str(info.value)
    assert info.value.expression == spec


# -- command lines ---------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["--sort", "-metrics.x"], ["--sort=-metrics.x"]),
    (["-s", "-metrics.x"], ["-s-metrics.x"]),
    (["--sort", "metrics.x"], ["--sort", "metrics.x"]),
    (["--sort=-metrics.x"], ["--sort=-metrics.x"]),
    (["--sort"], ["--sort"]),
    (["list", "--sort", "-a", "--limit", "5", "-s", "-b"],
     ["list", "--sort=-a", "--limit", "5", "-s-b"]),
    (["--other", "-x"], ["--other", "-x"]),
    ([], []),
])
def test_attach_sort_values(argv: list[str], expected: list[str]) -> None:
    assert attach_sort_values(argv, ["--sort", "-s"]) == expected
    assert attach_sort_values(list(argv), iter(["--sort", "-s"])) == expected


# -- bounds: every front end parses here, so every front end gets them ----------------------

def test_bounds_are_exact() -> None:
    from nbmlops.store.query import (
        MAX_COMPARISONS,
        MAX_FILTER_LENGTH,
        MAX_SORT_KEYS,
        MAX_VALUES,
    )

    def refused(expression: str) -> str:
        with pytest.raises(QueryError) as info:
            parse_filter(expression)
        return str(info.value)

    at_most = " and ".join(["metrics.a > 1"] * MAX_COMPARISONS)
    assert isinstance(parse_filter(at_most), And)
    assert f"at most {MAX_COMPARISONS} are allowed" in refused(at_most + " and metrics.a > 1")
    values = ", ".join(["1"] * MAX_VALUES)
    assert parse_filter(f"params.x in ({values})") is not None
    assert "at most 1,000 are allowed" in refused(f"params.x in ({values}, 1)")
    assert parse_filter("metrics.a > 1 " + " " * (MAX_FILTER_LENGTH - 14)) is not None
    assert "at most 20,000 are allowed" in refused("metrics.a > 1" + " " * MAX_FILTER_LENGTH)
    assert parse_filter("not " * 20 + "metrics.a > 1") is not None
    # past what Python's own parser can build (it gives up with a RecursionError), too
    for deep in ("not " * 50 + "metrics.a > 1", "not " * 3000 + "metrics.a > 1",
                 "params.x in " + "[" * 40 + "1" + "]" * 40):
        assert "nested" in refused(deep)
    assert parse_filter(f"params.n == {2**63 - 1} or params.n == {-(2**63)}") is not None
    for number in (2**63, -(2**63) - 1, 10**400):
        assert "does not fit a 64-bit integer" in refused(f"params.n == {number}")
        assert "does not fit a 64-bit integer" in refused(f"params.n in (1, {number})")
    assert len(parse_sort(",".join(f"metrics.m{i}" for i in range(MAX_SORT_KEYS)))) == 16
    with pytest.raises(QueryError, match="sort by at most 16 keys, not 17"):
        parse_sort(",".join(f"metrics.m{i}" for i in range(MAX_SORT_KEYS + 1)))
    with pytest.raises(QueryError, match="nested"):
        parse_sort("metrics.a" + ".b" * 100)
