"""The ``nbmlops`` command, run as a subprocess the way a shell or CI runs it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbmlops

NBMLOPS = shutil.which("nbmlops", path=str(Path(sys.executable).parent)) or "nbmlops"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NBMLOPS, *args], capture_output=True, text=True, env=os.environ,
                          timeout=120)


@pytest.fixture
def recorded(store_env: Path) -> list[str]:
    ids = []
    for name, acc in (("low", 0.6), ("high", 0.9), ("mid", 0.75)):
        with nbmlops.track("churn", name, params={"C": acc * 10}, tags={"team": "growth"}) as r:
            nbmlops.log_metric("accuracy", acc)
            nbmlops.log_metric("loss", float("nan"))
        ids.append(r.id)
    with pytest.raises(RuntimeError), nbmlops.track("other", "broken"):
        raise RuntimeError("disk full")
    from nbmlops import api

    api.close()
    return ids


def test_runs_list_table(recorded: list[str]) -> None:
    out = cli("runs", "list", "--experiment", "churn", "--sort", "-metrics.accuracy")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:5] == ["run_id", "experiment", "name", "status", "start"]
    assert [line.split()[2] for line in lines[1:]] == ["high", "mid", "low"]
    assert lines[1].split()[0] == recorded[1][:8]
    assert "params.C" not in lines[0]  # params only with --wide
    assert "params.C" in cli("runs", "list", "--wide").stdout


def test_runs_list_json_and_csv(recorded: list[str]) -> None:
    data = json.loads(cli("runs", "list", "--format", "json", "-w",
                          "metrics.accuracy >= 0.75").stdout)
    assert {d["name"] for d in data} == {"high", "mid"}
    assert all(d["metrics.loss"] is None for d in data)  # NaN becomes null, valid JSON
    assert data[0]["run_id"] in recorded
    assert data[0]["tags.team"] == "growth"
    rows = list(csv.DictReader(io.StringIO(cli("runs", "list", "--format", "csv").stdout)))
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"finished", "failed"}


def test_runs_show(recorded: list[str]) -> None:
    out = cli("runs", "show", recorded[1][:8])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"run {recorded[1]}")
    assert "  name         high" in out.stdout
    assert "accuracy = 0.9" in out.stdout
    assert "C = 9.0" in out.stdout
    detail = json.loads(cli("runs", "show", recorded[1], "--format", "json").stdout)
    assert detail["id"] == recorded[1]
    assert detail["metrics"]["loss"] is None
    assert detail["environment"]["python"].startswith("3.")


def test_runs_show_failed_run_has_its_error(recorded: list[str]) -> None:
    failed = nbmlops.runs("other").run_id.iloc[0]
    out = cli("runs", "show", failed)
    assert "status       failed" in out.stdout
    assert "RuntimeError: disk full" in out.stdout


def test_db_info_and_upgrade(recorded: list[str], store_env: Path) -> None:
    out = cli("db", "info")
    assert out.returncode == 0, out.stderr
    assert f"store        sqlite:///{store_env / 'store' / 'lineage.db'}  (from env)" in out.stdout
    assert "runs         4 (3 finished, 1 failed)" in out.stdout
    info = json.loads(cli("db", "info", "--format", "json").stdout)
    assert info["schema_revision"] == info["head_revision"]
    assert info["runs"]["finished"] == 3
    up = cli("db", "upgrade")
    assert up.returncode == 0
    assert "already at schema revision" in up.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("runs", "show", "ffffffff"), "no run has that id"),
    (("runs", "show", "not-hex"), "made of hex digits"),
    (("runs", "list", "--where", "metrics.accuracy >"), "cannot parse the filter"),
    (("runs", "list", "--where", "colour == 'red'"), "unknown field 'colour'"),
])
def test_errors_exit_1_with_one_line(recorded: list[str], args: tuple[str, ...],
                                     message: str) -> None:
    out = cli(*args)
    assert out.returncode == 1
    assert message in out.stderr
    assert out.stderr.startswith("nbmlops: error: ")
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_usage_errors_exit_2(store_env: Path) -> None:
    out = cli("runs", "frobnicate")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_broken_store_config_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBMLOPS_STORE", "notascheme+://x")
    out = cli("db", "info")
    assert out.returncode == 1
    assert "cannot use store URL 'notascheme+://x'" in out.stderr
    assert "postgresql+psycopg://user@host/db" in out.stderr


def test_python_dash_m(store_env: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "nbmlops", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"nbmlops {nbmlops.__version__}"


def test_missing_driver_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.setenv("NBMLOPS_STORE", "postgresql+pg8000://u@127.0.0.1:1/db")
    out = cli("db", "info")
    assert out.returncode == 1
    assert "needs the database driver 'pg8000'" in out.stderr
    assert "pip install pg8000" in out.stderr


def test_missing_postgres_extra_is_named(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "import nbmlops.store as s\n"
            "try:\n    s.open_store('postgresql+psycopg://u@127.0.0.1:1/db')\n"
            "except ImportError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("MissingExtraError")
    assert 'pip install "nbmlops[postgres]"' in out


def test_reading_a_store_that_is_not_there_creates_nothing(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    target = tmp_path / "typo" / "lineage.db"
    monkeypatch.setenv("NBMLOPS_STORE", str(target))
    for args in (("runs", "list"), ("runs", "show", "abcd"), ("db", "info")):
        out = cli(*args)
        assert out.returncode == 1, args
        assert "there is no lineage store at" in out.stderr
    assert not target.exists()


def test_db_info_on_an_older_store_changes_nothing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from nbmlops.store.sql import schema

    db = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "lineage-0001.db", db)
    monkeypatch.setenv("NBMLOPS_STORE", str(db))
    out = cli("db", "info")
    assert out.returncode == 1
    assert f"has schema revision 0001; this nbmlops needs {schema.HEAD}" in out.stderr
    assert "nbmlops db upgrade" in out.stderr
    assert not list(tmp_path.glob("*.bak"))
    up = cli("db", "upgrade")
    assert up.returncode == 0
    assert f"upgraded the store from schema revision 0001 to {schema.HEAD}" in up.stdout
    assert cli("db", "info").returncode == 0


def test_tune_and_compare_from_the_command_line(store_env: Path) -> None:
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(150, 4, random_state=0)
    data = store_env / "train.csv"
    pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(label=y).to_csv(data, index=False)
    out = cli("tune", "--data", str(data), "--target", "label",
              "--model", "logreg=sklearn.linear_model.LogisticRegression",
              "--model", "tree=sklearn.tree.DecisionTreeClassifier",
              "--init", 'tree={"random_state": 0}',
              "--space", '{"logreg": {"C": [0.1, 1]}, "tree": {"max_depth": [2, 5]}}',
              "--cv", "3", "--scoring", "accuracy", "-e", "cli", "--format", "json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "finished"
    assert result["metric"] == "accuracy"
    assert len(result["candidates"]) == 4
    assert {c["params.model"] for c in result["candidates"]} == {"logreg", "tree"}
    text = cli("tune", "--data", str(data), "--target", "label", "--model",
               "sklearn.tree.DecisionTreeClassifier", "--space", '{"max_depth": [1, 3]}',
               "--cv", "3", "-e", "cli")
    assert text.returncode == 0, text.stderr
    assert "grid search: 2/2 candidates" in text.stderr  # progress goes to stderr
    assert text.stdout.startswith("nbmlops tune ")
    ids = [c["run_id"] for c in result["candidates"]][:2]
    cmp = cli("runs", "compare", *ids, "--format", "json")
    assert cmp.returncode == 0, cmp.stderr
    assert [r["run_id"] for r in json.loads(cmp.stdout)["runs"]] == ids


@pytest.mark.parametrize(("args", "message"), [
    (("--target", "nope", "--model", "sklearn.tree.DecisionTreeClassifier"),
     "--target 'nope' is not a column"),
    (("--target", "label", "--model", "sklearn.tree.NoSuchTree"), "cannot import it"),
    (("--target", "label", "--model", "Tree"), "give the class's full path"),
    (("--target", "label", "--model", "sklearn.tree.DecisionTreeClassifier", "--space",
      "{bad json"), "--space: not valid JSON"),
])
def test_tune_command_errors(store_env: Path, args: tuple[str, ...], message: str) -> None:
    data = store_env / "d.csv"
    data.write_text("a,label\n1,0\n2,1\n3,0\n4,1\n")
    out = cli("tune", "--data", str(data), *args)
    assert out.returncode == 1
    assert message in out.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("runs", "list", "--where", "not " * 5000 + "metrics.accuracy > 0.5"),
     "the filter is 20,022 characters long; at most 20,000 are allowed"),
    (("runs", "list", "--where", "not " * 100 + "metrics.accuracy > 0.5"),
     "the filter is nested too deeply"),
    (("runs", "list", "--where", "metrics.accuracy > 99999999999999999999999"),
     "does not fit a 64-bit integer"),
    (("runs", "list", "--sort", ",".join(f"metrics.m{i}" for i in range(150))),
     "sort by at most 16 keys, not 150"),
    (("runs", "list", "-n", "99999999999999999999999"),
     "--limit 99999999999999999999999 is out of range: give a whole number at most "
     "9223372036854775807"),
    (("runs", "list", "-n", str(2**53 + 1), "--sort", "-metrics.accuracy"),
     "--limit must be 0 (all runs) or a positive number up to 9007199254740992"),
    (("models", "promote", "churn", "99999999999999999999999", "production"),
     "VERSION 99999999999999999999999 is out of range: give a whole number at most "
     "9223372036854775807"),
])
def test_oversized_input_is_one_line_exit_1(recorded: list[str], args: tuple[str, ...],
                                            message: str) -> None:
    out = cli(*args)
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith("nbmlops: error: ")
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert len(out.stderr) < 600  # a long expression is quoted cut short
    assert "Traceback" not in out.stderr


def test_an_empty_listing_says_when_hidden_candidates_match(store_env: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from nbmlops import api

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    nbmlops.tune(LogisticRegression(), {"C": [0.1, 1.0], "max_iter": [100, 200]}, X,
                 (X[:, 0] > 0).astype(int), cv=2, experiment="search")
    api.close()

    out = cli("runs", "list", "--where", "params.C == 0.1")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("no runs recorded that match; 2 hidden candidate runs of searches "
                          "match: add --all (or --kind candidate) to list them\n")
    one = cli("runs", "list", "--where", "params.C == 0.1 and params.max_iter == 200")
    assert "; 1 hidden candidate run of searches matches: add --all" in one.stdout
    # both ways of showing them work, and a filter nothing matches says only that
    for flag in (("--all",), ("--kind", "candidate")):
        shown = cli("runs", "list", "--where", "params.C == 0.1", *flag)
        assert len(shown.stdout.splitlines()) == 3, shown.stdout  # header + 2 candidates
    assert cli("runs", "list", "--where", "params.C == 5").stdout == \
        "no runs recorded that match\n"
    assert cli("runs", "list", "--experiment", "nope").stdout == "no runs recorded that match\n"
