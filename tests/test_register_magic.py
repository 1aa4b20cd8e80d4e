"""``%register`` driven through a real IPython shell, and ``nbmlops models`` from a shell."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import nbmlops
from tests.shell import one_line_error, run
from tests.test_cli import NBMLOPS

SETUP = textwrap.dedent("""
    import numpy as np, pandas as pd
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tenure": rng.normal(size=400), "spend": rng.normal(size=400),
                      "group": rng.choice(["a", "b"], size=400)})
    y = ((X.tenure + 0.5 * X.spend + rng.normal(scale=0.5, size=400)) > 0).astype(int)
    X["is_a"] = (X.group == "a").astype(int)
    features = ["tenure", "spend", "is_a"]
    X_train, X_test = X.iloc[:300], X.iloc[300:]
    y_train, y_test = y.iloc[:300], y.iloc[300:]
""")


def test_register_a_tracked_model_with_its_card(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, SETUP).success
    assert run(shell, "%%track -q -n fit\nmodel = LogisticRegression().fit(X_train[features], "
                      "y_train)\nTRAIN = X_train[features]").success
    capsys.readouterr()
    result = run(shell, "%register model --name churn --alias staging --evaluate "
                        "X_test[features] y_test")
    assert not result.success  # X_test[features] is an expression, not a variable
    assert "X_TEST 'X_test[features]' is not defined" in "".join(capsys.readouterr())
    run(shell, "X_eval = X_test[features].assign(group=X_test.group)")
    capsys.readouterr()
    result = run(shell, '%register model --name churn --alias staging --evaluate X_eval y_test '
                        '--sensitive group --require "accuracy>=0.6" --reason first')
    out = capsys.readouterr().out
    assert result.success, out
    version = nbmlops.load_model("churn@staging").version
    run_id = nbmlops.runs(kind="cell").run_id.iloc[0]
    # the new version is the cell's Out[]: its line, then the card's scores
    assert out.startswith(f"Out[{result.execution_count}]: \nregistered churn/1 @staging from "
                          f"run {run_id[:8]} (skops, signature, card, profile)\nmodel card: ")
    assert result.result == version
    assert "demographic_parity_difference" in out or "demographic" in out
    assert version.run_id == run_id
    assert "demographic_parity_difference" in version.metrics
    assert {"card.html", "card.md", "profile.json"} <= set(version.files)


def test_promote_rollback_list_history(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, "m = LogisticRegression().fit(X_train[features], y_train)")
    for _ in range(2):
        assert run(shell, "%register m --name churn").success
    capsys.readouterr()
    assert run(shell, "%register --promote churn 1 production --reason ok").success
    assert run(shell, "%register --promote churn 2 production").success
    assert run(shell, "%register --promote churn 2 production").success
    assert run(shell, "%register --rollback churn@production --reason bad").success
    out = capsys.readouterr().out.splitlines()
    assert out == ["churn@production: nothing -> version 1",
                   "churn@production: version 1 -> version 2",
                   "churn@production already points at version 2",
                   "churn@production: version 2 -> 1 (rolled back)"]
    listed = run(shell, "%register --list").result.frame
    assert listed.to_dict(orient="records")[0]["aliases"] == "production=1"
    assert list(run(shell, "%register --list churn").result.frame["version"]) == [1, 2]
    history = run(shell, "%register --history churn@production").result.frame
    assert list(history["action"]) == ["promote", "promote", "rollback"]


@pytest.mark.parametrize(("line", "message"), [
    ("%register m", "give the model a --name"),
    ("%register --name churn", "give a model variable, or --run RUN_ID"),
    ("%register m --name churn --run abcd", "give a model variable, or --run RUN_ID"),
    ("%register nope --name churn", "model 'nope' is not defined"),
    ("%register m --name churn --sensitive group", "--sensitive goes with --evaluate"),
    ('%register m --name churn --require "accuracy is high"', "write METRIC OP NUMBER"),
    ("%register m --name churn --evaluate X_test y_test --require 'accuracy>=0.999'",
     "gate accuracy>=0.999 failed"),
    ("%register --promote churn one production", "VERSION must be a number"),
    ("%register --promote churn 1 production --rollback churn@x", "use one of"),
    ("%register --rollback churn", "rollback needs an alias"),
    ("%register --history nope", "no registered model has that name"),
    ("%register m --name 'bad name'", "use letters, digits"),
])
def test_bad_input_is_one_line(shell, capsys, line, message) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, "m = LogisticRegression().fit(X_train[features], y_train)")
    assert message in one_line_error(shell, capsys, line)
    assert nbmlops.models().empty


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NBMLOPS, *args], capture_output=True, text=True, env=os.environ,
                          timeout=120)


def test_models_command(store_env: Path) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(100, 3, n_informative=2, n_redundant=0, random_state=0)
    model = LogisticRegression().fit(X, y)
    for _ in range(2):
        nbmlops.register(model, name="churn")
    from nbmlops import api

    api.close()
    listed = cli("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:4] == ["name", "latest_version", "versions", "aliases"]
    assert cli("models", "promote", "churn", "1", "production", "--reason", "go").stdout == \
        "churn@production: nothing -> version 1\n"
    assert cli("models", "promote", "churn", "2", "production").returncode == 0
    assert cli("models", "rollback", "churn@production").stdout == \
        "churn@production: version 2 -> 1 (rolled back)\n"
    shown = cli("models", "show", "churn@production")
    assert shown.stdout.startswith("churn version 1 (@production)")
    assert "format       skops" in shown.stdout
    history = json.loads(cli("models", "history", "churn@production", "--format",
                             "json").stdout)
    assert [(h["action"], h["to_version"]) for h in history] == [
        ("promote", 1), ("promote", 2), ("rollback", 1)]
    versions = json.loads(cli("models", "list", "churn", "--format", "json").stdout)
    assert [v["version"] for v in versions] == [1, 2]
    bad = cli("models", "show", "nope")
    assert bad.returncode == 1
    assert "no registered model has that name" in bad.stderr
    gated = cli("models", "promote", "churn", "2", "production", "--require", "f1>=2")
    assert gated.returncode == 1
    assert "gate f1>=2 cannot be checked" in gated.stderr


def test_models_list_describes_the_version_in_use(store_env: Path) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(100, 3, n_informative=2, n_redundant=0, random_state=0)
    model = LogisticRegression().fit(X, y)
    for text in ("first try", "more data", "tuned"):
        nbmlops.register(model, name="churn", description=text)
    from nbmlops import api

    api.close()

    def described() -> str:
        listed = cli("models", "list", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        return str(row["description"])

    assert described() == "tuned"  # no production yet: the latest version's
    assert cli("models", "promote", "churn", "2", "production").returncode == 0
    assert described() == "more data"  # the version production points at
    assert nbmlops.models().description.tolist() == ["more data"]
