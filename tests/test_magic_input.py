"""What every magic does with a line it cannot use, in a real IPython shell: an unclosed
quote, a megabyte of arguments, ``$name`` and ``{expression}`` (taken as typed, never
expanded or evaluated)."""

from __future__ import annotations

import time

import pytest

import nbmlops
from tests.shell import one_line_error, run

# each magic as typed, with a cell body for %%track
MAGICS = [("%%track", "\nx = 1"), ("%runs", ""), ("%tune", ""), ("%register", ""),
          ("%deploy", ""), ("%drift", ""), ("%export", "")]
IDS = [m for m, _ in MAGICS]


def typed(magic: str, arguments: str, body: str) -> str:
    return f"{magic} {arguments}{body}"


@pytest.mark.parametrize(("magic", "body"), MAGICS, ids=IDS)
@pytest.mark.parametrize("arguments", ['--name "churn', "--name 'churn", "--name churn\\"])
def test_a_quoting_error_is_one_line(shell, capsys, magic: str, body: str,  # type: ignore[no-untyped-def]
                                     arguments: str) -> None:
    shown = one_line_error(shell, capsys, typed(magic, arguments, body))
    name = magic
    if arguments.endswith("\\"):
        assert f"UsageError: {name}: the line ends in a backslash that escapes nothing: " \
               "remove it" in shown
    else:
        assert f"UsageError: {name}: a quote is left open: close it, or escape a quote " \
               "meant literally" in shown


@pytest.mark.parametrize(("magic", "body"), MAGICS, ids=IDS)
def test_a_megabyte_line_is_refused_at_once(shell, capsys, magic: str,  # type: ignore[no-untyped-def]
                                            body: str) -> None:
    started = time.monotonic()
    shown = one_line_error(shell, capsys, typed(magic, "--name " + "a" * 1_000_000, body))
    assert time.monotonic() - started < 10  # IPython's $-expansion took minutes
    assert "the line is 1,000,007 characters long; at most 100,000 are accepted" in shown
    assert len(shown) < 300


@pytest.mark.parametrize(("magic", "body"), MAGICS, ids=IDS)
def test_braces_and_dollars_are_not_expanded(shell, capsys, magic: str,  # type: ignore[no-untyped-def]
                                             body: str) -> None:
    run(shell, "hits = []\nname = 'expanded'")
    shown = one_line_error(shell, capsys,
                           typed(magic, "--no-such-flag {hits.append(1)} $name", body))
    assert shown.startswith("UsageError: ")
    assert shell.user_ns["hits"] == []  # the expression in braces was never evaluated
    assert "expanded" not in shown


def test_arguments_reach_the_run_as_typed(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, "hits = []\nname = 'expanded'")
    assert run(shell, "%%track -q --name $name --tag note={1+1} --tag who={hits.append(1)}\n"
                      "x = 1").success
    (row,) = nbmlops.runs().to_dict(orient="records")
    assert row["name"] == "$name"
    assert (row["tags.note"], row["tags.who"]) == ("{1+1}", "{hits.append(1)}")
    assert shell.user_ns["hits"] == []
    found = run(shell, """%runs --where "tags.note == '{1+1}'" """).result
    assert list(found.frame["run_id"]) == [row["run_id"]]


def test_runs_says_when_hidden_candidates_match(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    nbmlops.tune(LogisticRegression(), {"C": [0.1, 1.0]}, X, (X[:, 0] > 0).astype(int), cv=2)
    capsys.readouterr()
    assert run(shell, '%runs --where "params.C == 0.1"').success
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("%runs: no runs match; 1 hidden candidate run of searches "
                                   "matches: add --all (or --kind candidate) to list them")
    shown = run(shell, '%runs --where "params.C == 0.1" --all').result
    assert len(shown.frame) == 1
    capsys.readouterr()
    assert run(shell, '%runs --where "params.C == 5"').success
    assert "hidden" not in capsys.readouterr().out
