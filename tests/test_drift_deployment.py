"""``%drift --deployment NAME`` judges the rows one version served: a deployment name
that served two versions (two real server processes, one after the other) keeps them
apart. And ``nbmlops predictions NAME --limit 0`` shows every row."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbmlops
from tests.shell import one_line_error, run
from tests.test_cli import NBMLOPS
from tests.test_serving import FEATURES, V1, V2, Client, X


@pytest.fixture
def two_versions(store_env: Path) -> dict[str, Any]:
    """``churn`` served version 1 on moved data (60 rows), then version 2 on data like its
    training sample (90 rows), under one deployment name and one prediction log."""
    nbmlops.register(V1, name="churn", data=X[FEATURES])
    nbmlops.register(V2, name="churn", data=X[FEATURES])
    moved = X[FEATURES].head(60).assign(tenure=lambda f: f.tenure + 500,
                                        spend=lambda f: f.spend * 40)
    like = X[FEATURES].sample(90, random_state=3)
    for reference, rows in (("churn/1", moved), ("churn/2", like)):
        deployment = nbmlops.deploy(reference, name="churn", port=0)
        try:
            answer = Client(deployment.url).predict(rows.to_dict(orient="records"))
            assert answer["version"] == int(reference[-1])
        finally:
            nbmlops.stop_deployment("churn")  # the log is written when it stops
    log = nbmlops.predictions("churn")
    assert log["_version"].value_counts().to_dict() == {1: 60, 2: 90}
    return {"moved": moved, "like": like}


def test_drift_judges_only_the_rows_the_version_served(two_versions: dict[str, Any],
                                                       shell: Any, capsys: Any) -> None:
    capsys.readouterr()
    result = run(shell, "%drift --deployment churn")
    out = capsys.readouterr().out
    assert result.success, out
    assert "current:   deployment churn: rows served by churn/2, all its predictions (90 " \
           "rows; 60 served by other versions left out)" in out
    assert "reference: churn/2 training sample" in out
    assert out.startswith("no dataset drift: 0 of 3 columns drifted")
    check = nbmlops.get_run(nbmlops.runs("drift").run_id[0])
    assert check.params["current"].startswith("deployment churn: rows served by churn/2")
    assert check.tags["model"] == "churn/2"

    # the version asked for: its rows, against its own training sample
    report = nbmlops.drift("churn/1", deployment="churn", record=False)
    assert (report.current_rows, report.model) == (60, "churn/1")
    assert report.current.startswith("deployment churn: rows served by churn/1, all its "
                                     "predictions (60 rows; 90 served by other versions")
    assert report.dataset_drift
    assert set(report.drifted) >= {"tenure", "spend"}
    assert report.prediction is not None  # version 1 predicted its own sample
    # a version that served nothing in the window says so, in one line
    nbmlops.register(V1, name="churn", data=X[FEATURES])
    assert "none served by churn/3 (the versions logged: 1, 2)" in one_line_error(
        shell, capsys, "%drift churn/3 --deployment churn")


def test_predictions_limit_zero_shows_every_row(two_versions: dict[str, Any]) -> None:
    def predictions(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([NBMLOPS, "predictions", "churn", *args], capture_output=True,
                              text=True, timeout=120, env=os.environ)

    every = predictions("--limit", "0", "--format", "json")
    assert every.returncode == 0, every.stderr
    assert len(json.loads(every.stdout)) == 150
    assert len(json.loads(predictions("--format", "json").stdout)) == 150
    last = predictions("--limit", "5", "--format", "csv")
    assert len(pd.read_csv(io.StringIO(last.stdout))) == 5
    negative = predictions("--limit", "-1")
    assert negative.returncode == 1
    assert negative.stderr.strip() == ("nbmlops: error: --limit must be 0 (all rows) or a "
                                       "positive number")
    shown = subprocess.run([NBMLOPS, "predictions", "--help"], capture_output=True, text=True,
                           timeout=60)
    assert "(0 = all, the default)" in " ".join(shown.stdout.split())
