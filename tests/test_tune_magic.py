"""``%tune`` and ``%runs --compare`` driven through a real IPython shell."""

from __future__ import annotations

import textwrap

import pytest

import nbmlops
from tests.shell import one_line_error, run

SETUP = textwrap.dedent("""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.model_selection import KFold
    X_train, y_train = make_classification(200, 5, random_state=1)
    models = {"logreg": LogisticRegression(max_iter=500),
              "tree": DecisionTreeClassifier(random_state=0)}
    grids = {"logreg": {"C": [0.1, 1.0]}, "tree": {"max_depth": [2, 4]}}
    kfold = KFold(4, shuffle=True, random_state=0)
""")


def test_tune_magic_records_binds_and_shows(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, SETUP).success
    capsys.readouterr()
    result = run(shell, "%tune models grids X_train y_train --cv kfold --scoring accuracy "
                        "-o best -n families")
    out = capsys.readouterr().out
    assert result.success
    tuned = result.result
    assert "grid search: 4/4 candidates" in out  # progress, as text in a terminal
    assert f"nbmlops tune {tuned.run_id[:8]} finished in" in out  # the result, shown
    best = shell.user_ns["best"]
    assert type(best).__name__ in ("LogisticRegression", "DecisionTreeClassifier")
    assert tuned.best_params["model"] == tuned.best_model == type(best).__name__.replace(
        "LogisticRegression", "logreg").replace("DecisionTreeClassifier", "tree")
    key, value = list(tuned.best_params.items())[1]
    assert best.get_params()[key] == value
    parent = nbmlops.get_run(tuned.run_id)
    assert parent.name == "families"
    assert {ln.name for ln in parent.inputs} == {"X_train", "y_train"}
    assert parent.params["cv"] == repr(shell.user_ns["kfold"])
    assert len(nbmlops.runs(kind="candidate")) == 4


def test_tune_magic_quiet_and_strategies(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, "from scipy.stats import loguniform\nspace = {'C': loguniform(0.01, 10)}")
    capsys.readouterr()
    run(shell, "lr = models['logreg']")
    result = run(shell, "%tune lr space X_train y_train --strategy random --n-iter 3 "
                        "--random-state 0 -q")
    assert result.success
    assert result.result is None
    assert capsys.readouterr().out == ""
    assert len(nbmlops.runs(kind="candidate")) == 3


@pytest.mark.parametrize(("line", "message"), [
    ("%tune models grids X_train", "the following arguments are required: y"),
    ("%tune models nope X_train y_train", "space 'nope' is not defined in the notebook"),
    ("%tune models grids X_train y_train --strategy annealing", "invalid choice: 'annealing'"),
    ("%tune models grids X_train y_train --cv splitter", "--cv splitter 'splitter' is not"),
    ("%tune models grids X_train y_train -o 1x", "-o expects a variable name"),
    ("%tune models grids X_train y_train --scoring acuracy", "unknown scoring 'acuracy'"),
    ("%tune X_train grids X_train y_train", "has no fit() and get_params()"),
])
def test_tune_magic_bad_input_is_one_line(shell, capsys, line, message) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    assert message in one_line_error(shell, capsys, line)
    assert nbmlops.runs().empty


def test_runs_compare_magic(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, "%tune models grids X_train y_train --cv 3 -q")
    ids = list(nbmlops.runs(kind="candidate").run_id)
    capsys.readouterr()
    result = run(shell, "%runs --compare " + " ".join(i[:8] for i in ids[:3]))
    shown = capsys.readouterr().out
    assert result.success
    assert "runs compared (3 runs)" in shown
    assert list(result.result.frame.run_id) == ids[:3]
    bad = run(shell, "%runs --compare deadbeef")
    assert not bad.success


def test_tune_records_where_it_ran(shell) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    line = "%tune models grids X_train y_train --cv 3 -q"
    result = run(shell, line)
    parent = nbmlops.get_run(nbmlops.runs(kind="tune").run_id.iloc[0])
    assert parent.code == line
    assert parent.execution_count == result.execution_count


def test_runs_lists_searches_without_their_candidates(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, "%%track -q\nscore = 0.5")
    run(shell, "%tune models grids X_train y_train --cv 3 -q")
    listed = run(shell, "%runs").result.frame
    assert sorted(listed["name"].fillna("-")) == ["-", "-"]  # the cell and the search
    assert set(nbmlops.runs(kind=["cell", "tune"]).run_id) == set(listed.run_id)
    assert len(run(shell, "%runs --all").result.frame) == 6
    assert len(run(shell, "%runs --kind candidate").result.frame) == 4
