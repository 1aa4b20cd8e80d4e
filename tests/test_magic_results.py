"""What ``%tune`` and ``%register`` give back, and show, typed alone or assigned, and what
``%%track?`` shows: through a real IPython shell, as a user sees it."""

from __future__ import annotations

import textwrap

import nbmlops
from nbmlops._types import ModelVersion
from tests.shell import run

SETUP = textwrap.dedent("""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    X_train, y_train = make_classification(200, 5, random_state=1)
    models = {"logreg": LogisticRegression(max_iter=500),
              "tree": DecisionTreeClassifier(random_state=0)}
    grids = {"logreg": {"C": [0.1, 1.0]}, "tree": {"max_depth": [2, None]}}
    m = LogisticRegression().fit(X_train, y_train)
""")


def test_register_gives_the_new_version_shown_once(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, SETUP).success
    capsys.readouterr()
    alone = run(shell, "%register m --name churn")
    out = capsys.readouterr().out
    assert alone.success
    # the version is the cell's Out[] (so `_` holds it), its one line shown once
    assert out == f"Out[{alone.execution_count}]: registered churn/1 (skops, signature)\n"
    assert isinstance(alone.result, ModelVersion)
    assert alone.result.version == 1
    assert shell.user_ns["_"] is alone.result

    assigned = run(shell, "v = %register m --name churn --alias staging")
    out = capsys.readouterr().out
    assert assigned.success
    assert assigned.result is None
    assert out == "registered churn/2 @staging (skops, signature)\n"  # ... but the line, once
    v = shell.user_ns["v"]
    assert v.version == 2
    assert v.aliases == ("staging",)
    assert v == nbmlops.load_model("churn@staging").version  # the record nbmlops.register gives

    # the number is what a notebook needs to promote it
    assert run(shell, "import nbmlops\nnbmlops.promote('churn', v.version, 'production')").success
    assert nbmlops.load_model("churn@production").version.version == 2

    # in the middle of a cell it is shown too (IPython shows only the last expression)
    capsys.readouterr()
    middle = run(shell, "%register m --name churn\nafter = 1")
    assert middle.success
    assert capsys.readouterr().out == "registered churn/3 (skops, signature)\n"


def test_tune_assigned_still_shows_the_comparison(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    capsys.readouterr()
    assigned = run(shell, "result = %tune models grids X_train y_train --cv 3")
    out = capsys.readouterr().out
    assert assigned.success
    assert assigned.result is None
    tuned = shell.user_ns["result"]
    assert tuned.best_params["model"] == tuned.best_model
    headline = f"nbmlops tune {tuned.run_id[:8]} finished in"
    assert out.count(headline) == 1  # shown although assigned
    assert "grid search, 4 candidates" in out  # ... with the comparison

    alone = run(shell, "%tune models grids X_train y_train --cv 3")
    out = capsys.readouterr().out
    assert alone.success
    assert out.count("nbmlops tune ") == 1  # as the cell's Out[], not twice
    prompt = out.index(f"Out[{alone.execution_count}]:")
    assert out.index(f"nbmlops tune {alone.result.run_id[:8]}") > prompt

    quiet = run(shell, "q = %tune models grids X_train y_train --cv 3 -q")
    assert quiet.success
    assert capsys.readouterr().out == ""
    assert shell.user_ns["q"].run_id != alone.result.run_id  # bound, nothing shown


def test_track_help_names_the_cell_magic(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert run(shell, "%%track?").success
    shown = capsys.readouterr().out
    assert "\n  %%track [-e EXPERIMENT] [-n NAME]" in shown
    assert "\n  %track " not in shown
