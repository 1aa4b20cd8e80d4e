"""The model-selection example: five model families in one ``%tune`` search, then the
winner evaluated in a tracked cell, executed headless by papermill in a real kernel."""

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
NOTEBOOK = ROOT / "example_notebooks" / "model_selection.ipynb"

pytestmark = pytest.mark.kernel

# the notebook's grids: candidates per model family
FAMILIES = {"logreg": 3, "tree": 4, "forest": 4, "knn": 3, "boosting": 2}


def cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def outputs(nb: nbformat.NotebookNode, cell_id: str) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell(nb, cell_id).get("outputs", []))


def test_model_selection_notebook_records_the_search_and_the_winner(store_env: Path) -> None:
    source = store_env / "project" / "model_selection.ipynb"
    shutil.copy(NOTEBOOK, source)
    out = store_env / "out.ipynb"
    papermill = str(Path(sys.executable).parent / "papermill")
    done = subprocess.run([papermill, str(source), str(out), "-k", "python3",
                           "-p", "n_projects", "1200", "-p", "n_jobs", "2"],
                          capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr

    # one search, recorded as a parent run...
    searches = nbmlops.runs(kind="tune")
    assert len(searches) == 1
    parent = nbmlops.get_run(searches.run_id[0])
    assert (parent.kind, parent.status) == ("tune", "finished")
    assert (parent.experiment, parent.name) == ("schedule_adherence", "model-selection")
    # where it ran: the notebook papermill executed, its %tune cell and that cell's code
    assert parent.notebook_path == str(source)
    assert parent.cell_id is not None
    assert parent.code is not None
    assert parent.code.lstrip().startswith("%tune models grids")
    assert parent.params["strategy"] == "grid"
    assert parent.params["scoring"] == "accuracy"
    assert parent.params["models"] == list(FAMILIES)
    assert parent.params["space.logreg"] == {"clf__C": [0.1, 1.0, 10.0]}
    assert parent.params["cv"].startswith("KFold(n_splits=5")
    assert {ln.name for ln in parent.inputs} == {"X_train", "y_train"}
    assert [a.name for a in parent.artifacts] == ["model"]  # the refitted winner
    assert parent.metrics["candidates"] == sum(FAMILIES.values())
    assert parent.metrics["failed"] == 0

    # ...with one child run per candidate of the grids
    candidates = nbmlops.runs(kind="candidate", where=f"parent == '{parent.id}'")
    assert len(candidates) == sum(FAMILIES.values())
    assert len(nbmlops.runs(kind="candidate")) == len(candidates)
    assert set(candidates["status"]) == {"finished"}
    assert candidates["params.model"].value_counts().to_dict() == FAMILIES
    assert candidates["metrics.accuracy"].between(0.6, 1.0).all()
    assert candidates["metrics.accuracy_std"].notna().all()
    assert candidates["metrics.rank"].between(1, len(candidates)).all()
    assert candidates["metrics.rank"].min() == 1
    logreg = candidates[candidates["params.model"] == "logreg"]
    assert sorted(logreg["params.clf__C"]) == [0.1, 1.0, 10.0]

    # the winner: named on the parent, and the best (rank 1) of its children
    winner = parent.params["best.model"]
    assert winner in FAMILIES
    best = nbmlops.get_run(parent.tags["best_run"])
    assert (best.kind, best.parent_run_id) == ("candidate", parent.id)
    assert best.params["model"] == winner
    assert best.metrics["rank"] == 1
    assert {f"best.{k}": v for k, v in best.params.items() if k != "model"} == {
        k: v for k, v in parent.params.items() if k.startswith("best.") and k != "best.model"}
    assert parent.metrics["accuracy"] == pytest.approx(best.metrics["accuracy"])
    assert parent.metrics["accuracy"] == pytest.approx(candidates["metrics.accuracy"].max())
    assert 0.75 <= parent.metrics["accuracy"] <= 0.95
    assert len(nbmlops.metric_history(best.id, "accuracy_fold")) == 5

    # the test-set evaluation: a tracked cell, tied to the search it evaluated
    evaluations = nbmlops.runs("schedule_adherence", kind="cell")
    assert list(evaluations["name"]) == ["test-evaluation"]
    evaluation = nbmlops.get_run(evaluations.run_id[0])
    assert evaluation.status == "finished"
    assert (evaluation.notebook_path, evaluation.cell_id) == (str(source), "evaluate")
    assert evaluation.params["winner"] == winner
    assert evaluation.params["tune_run_id"] == parent.id
    assert evaluation.params["cv_accuracy"] == pytest.approx(parent.metrics["accuracy"])
    assert {ln.name for ln in evaluation.inputs} == {"X_test", "y_test"}
    assert {ln.name for ln in evaluation.outputs} >= {"y_pred", "confusion"}
    assert evaluation.metrics["accuracy"] == pytest.approx(parent.metrics["accuracy"],
                                                           abs=0.07)
    assert 0.5 < evaluation.metrics["f1_delayed"] <= 1.0

    # what the user sees in the executed notebook
    executed = nbformat.read(out, as_version=4)
    assert f"nbmlops tune {parent.id[:8]} finished" in outputs(executed, "tune")
    assert f"grid search, {len(candidates)} candidates" in outputs(executed, "tune")
    assert f"winner {winner}" in outputs(executed, "winner")
    report = outputs(executed, "evaluate")
    assert "precision    recall  f1-score   support" in report
    assert "on_schedule" in report
    assert "delayed" in report
    assert "predicted on_schedule" in report  # the confusion matrix
    assert (f"nbmlops run {evaluation.id[:8]} schedule_adherence/test-evaluation finished"
            in report)
    assert any("image/png" in o.get("data", {})
               for o in cell(executed, "importances").get("outputs", []))
    shown = outputs(executed, "runs")
    assert parent.id[:8] in shown
    assert "1 run" in shown
