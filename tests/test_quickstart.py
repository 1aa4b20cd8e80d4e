"""The main job: the quickstart notebook, executed headless by papermill in a real kernel."""

from __future__ import annotations

import json
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
    try:
        done = subprocess.run([papermill, str(source), str(work / "out.ipynb"), "-k",
                               "python3", "-p", "n_customers", "1500", "-p", "n_estimators",
                               "30"], capture_output=True, text=True, timeout=400,
                              env=os.environ)
    finally:  # a notebook that failed half-way must not leave its server running
        for name in nbmlops.deployments(running=True).name:
            nbmlops.stop_deployment(name)
    assert done.returncode == 0, done.stderr

    frame = nbmlops.runs("churn", sort="start", kind="cell")  # the two tracked cells
    assert list(frame["name"]) == ["baseline", "forest"]
    assert set(frame["status"]) == {"finished"}
    assert frame["metrics.auc"].between(0.6, 1.0).all()
    baseline, forest = (nbmlops.get_run(r) for r in frame.run_id)
    assert (baseline.notebook_path, baseline.cell_id) == (str(source), "baseline")
    assert (forest.notebook_path, forest.cell_id) == (str(source), "forest")
    assert baseline.params["C"] == 1.0
    assert forest.params["n_estimators"] == 30  # the injected parameter
    assert {ln.name for ln in baseline.inputs} == {"X_train", "y_train", "X_test", "y_test"}
    assert [a.name for a in forest.artifacts if a.kind == "model"] == ["forest"]
    assert forest.tags == {"family": "trees"}
    assert len(nbmlops.metric_history(forest.id, "oob_like_accuracy")) == 3

    # the %tune section: one search run, and one child run per candidate of the grids
    searches = nbmlops.runs("churn", kind="tune")
    assert list(searches["name"]) == ["tuned"]
    search = nbmlops.get_run(searches.run_id[0])
    assert search.status == "finished"
    assert search.params["models"] == ["logreg", "forest"]
    assert (search.params["scoring"], search.params["cv"]) == ("roc_auc", 5)
    assert search.params["space.logreg"] == {"C": [0.1, 1.0, 10.0]}
    assert {ln.name for ln in search.inputs} == {"X_train", "y_train"}
    candidates = nbmlops.runs("churn", kind="candidate", where=f"parent == '{search.id}'")
    assert candidates["params.model"].value_counts().to_dict() == {"logreg": 3, "forest": 4}
    assert search.metrics["candidates"] == len(candidates) == 7
    assert set(candidates["status"]) == {"finished"}
    assert candidates["metrics.roc_auc"].between(0.6, 1.0).all()
    assert candidates["metrics.rank"].min() == 1
    winner = nbmlops.get_run(search.tags["best_run"])
    assert (winner.parent_run_id, winner.metrics["rank"]) == (search.id, 1)
    assert winner.params["model"] == search.params["best.model"]
    assert search.metrics["roc_auc"] == pytest.approx(candidates["metrics.roc_auc"].max())
    assert [a.name for a in search.artifacts] == ["model"]

    # the %register section: the tuned model is churn/1 with a card, the baseline churn/2,
    # production went 1 -> 2 and was rolled back to 1
    versions = nbmlops.models("churn")
    assert list(versions["version"]) == [1, 2]
    assert list(versions["run_id"]) == [search.id, baseline.id]
    assert list(versions["aliases"]) == ["production, staging", ""]
    champion = nbmlops.load_model("churn@production")
    assert champion.version.version == 1
    assert champion.version.format == "skops"
    assert {"card.html", "card.md", "profile.json", "sample.parquet"} <= set(
        champion.version.files)
    assert champion.version.metrics["roc_auc"] >= 0.7  # the gate it passed
    assert 0 <= champion.version.metrics["demographic_parity_difference"] <= 1
    assert [c[0] for c in champion.version.signature["inputs"]] == [  # type: ignore[index]
        "tenure_months", "monthly_spend", "support_calls", "on_contract", "late_payments"]
    history = nbmlops.model_history("churn@production")
    assert list(zip(history.action, history.to_version, strict=True)) == [
        ("promote", 1), ("promote", 2), ("rollback", 1), ("promote", 2), ("rollback", 1)]
    assert history.reason.iloc[2] == "the baseline scored lower"

    # the %deploy section: a server that followed production 1 -> 2 -> 1, then stopped;
    # a batch run with its fingerprints; a bundle
    (deployment,) = nbmlops.deployments().itertuples()
    assert (deployment.name, deployment.status, deployment.alias) == ("churn", "stopped",
                                                                       "production")
    events = nbmlops.model_history("churn")
    served = events[events.action.isin(["deploy", "switch", "undeploy"])]
    assert list(zip(served.action, served.version, strict=True)) == [
        ("deploy", 1), ("switch", 2), ("switch", 1), ("undeploy", 1)]
    log = nbmlops.predictions("churn")
    assert set(log["_version"]) == {1, 2}
    assert len(log) >= 15
    assert log["prediction"].isin([0, 1, False, True]).all()
    (batch,) = nbmlops.runs("batch").itertuples()
    scored = nbmlops.get_run(batch.run_id)
    assert (scored.kind, scored.status, scored.metrics["rows"]) == ("deploy", "finished", 1500)
    assert [d.name for d in scored.inputs] == ["customers.parquet"]
    assert [d.name for d in scored.outputs] == ["scores.parquet"]

    # the %drift section: next month's spend drifted from churn/1's training sample; what the
    # deployment served is checked against the version it serves, predictions included
    # the %monitor section: one check of a day of traffic, nothing wrong
    (watched,) = nbmlops.monitor_checks("churn")
    assert (watched.status, watched.incident, watched.model) == ("ok", None, "churn/1"), \
        watched.reasons
    assert watched.rows >= 100  # the test set, answered by churn/1 (min_rows 100)
    checks = nbmlops.runs("drift", sort="start")
    assert list(checks["status"]) == ["finished", "finished"]
    monthly, served_check = (nbmlops.get_run(r) for r in checks.run_id)
    assert monthly.tags["model"] == "churn/1"
    assert monthly.metrics["drift.monthly_spend"] > 0
    report = json.loads(nbmlops.download_artifact(monthly.id, "drift.json").read_text())
    assert "monthly_spend" in report["drifted"]
    assert (served_check.tags["deployment"], served_check.tags["model"]) == ("churn", "churn/1")
    assert "prediction_drift" in served_check.tags

    # the %export section: a generated notebook exported as a job, run once with C=0.5,
    # its tracked cell a child of the job run, its model registered by the on-success action
    (job_id,) = nbmlops.runs(kind="job").run_id
    job = nbmlops.get_run(job_id)
    assert (job.status, job.params["C"], job.tags["job"]) == ("finished", 0.5, "nightly-churn")
    (nightly,) = nbmlops.runs(kind="cell", where=f"parent == '{job_id}'").run_id
    assert nbmlops.load_model("churn-nightly@candidate").version.run_id == nightly

    executed = nbformat.read(work / "out.ipynb", as_version=4)
    assert f"nbmlops run {baseline.id[:8]} churn/baseline finished" in outputs(executed,
                                                                                 "baseline")
    assert f"nbmlops tune {search.id[:8]} finished" in outputs(executed, "tune")
    assert f"best: {search.params['best.model']} " in outputs(executed, "tuned")
    assert outputs(executed, "register").startswith(
        f"registered churn/1 @staging from run {search.id[:8]} (skops, signature, card, "
        "profile)")
    assert "model card: accuracy=" in outputs(executed, "register")
    assert "churn@production: version 2 -> 1 (rolled back)" in outputs(executed, "promote")
    used = outputs(executed, "use")
    assert "<LoadedModel churn/1" in used
    assert "refused: " in used
    assert "support_calls" in used
    deployed = outputs(executed, "deploy")
    assert deployed.startswith("deployed churn: churn/1 (follows the alias) at http://127.0.0.1:")
    assert "answered with churn/1: [" in outputs(executed, "request")
    switched = outputs(executed, "switch")
    assert "now serving churn/2" in switched
    assert switched.rstrip().endswith("now serving churn/1")
    assert "scored 1,500 rows of customers.parquet with churn/1" in outputs(executed, "batch")
    assert "exported churn@production to " in outputs(executed, "export")
    assert "predictions logged, by version: {1: " in outputs(executed, "stop")
    assert "monthly_spend" in outputs(executed, "drift")
    assert "reference: churn/1 training sample (1,000 of 1,125 rows)" in outputs(executed,
                                                                               "drift")
    assert "current:   deployment churn: rows served by churn/1" in outputs(executed,
                                                                 "drift-served")
    assert "exported job nightly-churn to " in outputs(executed, "job-export")
    assert "nbmlops_nightly_churn.py" in outputs(executed, "job-export")
    assert "job nightly-churn finished in " in outputs(executed, "job-run")
    assert "gate metrics.accuracy >= 0.6: passed" in outputs(executed, "job-run")
    panel = outputs(executed, "panel-api")
    assert "runs of churn: 3; the best by auc:" in panel
    assert f"  {baseline.id[:8]} baseline " in panel or f"  {forest.id[:8]} forest " in panel
    assert "lineage of churn/1: " in panel
    assert "(dataset, deployment, model_version, run)" in panel  # it was served too
    assert "3 runs" in outputs(executed, "runs")  # 2 tracked cells and the search
    assert f"lineage store : sqlite:///{store_env / 'store' / 'lineage.db'}" in outputs(
        executed, "where")
