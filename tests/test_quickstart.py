"""The main job: the quickstart notebook, executed headless by papermill in a real kernel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import nbmlops

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.kernel


def outputs(nb: nbformat.NotebookNode, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.get("outputs", []))


def test_quickstart_runs_under_papermill_and_records_its_runs(store_env: Path) -> None:
    work = store_env / "project"
    shutil.copytree(ROOT / "example_notebooks", work / "example_notebooks")
    source = work / "example_notebooks" / "quickstart.ipynb"
    papermill = str(Path(sys.executable).parent / "papermill")
    done = subprocess.run([papermill, str(source), str(work / "out.ipynb"), "-k", "python3",
                           "-p", "n_customers", "1500", "-p", "n_estimators", "30"],
                          capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr

    frame = nbmlops.runs("churn", sort="start")
    assert list(frame["name"]) == ["baseline", "forest"]
    assert set(frame["status"]) == {"finished"}
    assert frame["metrics.auc"].between(0.6, 1.0).all()
    baseline, forest = (nbmlops.get_run(r) for r in frame.run_id)
    assert (baseline.notebook_path, baseline.cell_id) == (str(source), "baseline")
    assert (forest.notebook_path, forest.cell_id) == (str(source), "forest")
    assert baseline.params["C"] == 1.0
    assert forest.params["n_estimators"] == 30  # the injected parameter
    assert {ln.name for ln in baseline.inputs} == {"X_train", "y_train", "X_test", "y_test"}
    assert [a.name for a in forest.artifacts] == ["forest"]
    assert forest.tags == {"family": "trees"}
    assert len(nbmlops.metric_history(forest.id, "oob_like_accuracy")) == 3

    executed = nbformat.read(work / "out.ipynb", as_version=4)
    assert f"nbmlops run {baseline.id[:8]} churn/baseline finished" in outputs(executed,
                                                                                 "baseline")
    assert "2 runs" in outputs(executed, "runs")
    assert f"lineage store : sqlite:///{store_env / 'store' / 'lineage.db'}" in outputs(
        executed, "where")
