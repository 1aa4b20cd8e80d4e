"""``nbmlops.lineage()``, ``nbmlops.drift_checks()`` and ``nbmlops.job_runs()`` (and the
typed pages the server reads), driven as a script would: real runs recorded with
``nbmlops.track``, ``register``, ``drift`` and ``run_job`` in a temporary project."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import nbmlops
from nbmlops.types import (
    DatasetFingerprint,
    Deployment,
    DriftCheck,
    JobRun,
    Lineage,
    ModelVersion,
    RunRecord,
)


@pytest.fixture
def project(store_env: Path) -> dict[str, Any]:
    """A run that read ``train`` and fitted churn/1 (``production`` moved on to churn/2,
    registered from no run), a deployment record of churn/1, and a run that used nothing."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from nbmlops import api
    from nbmlops._types import Actor, NewDeployment

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] > 0).astype(int)
    with nbmlops.track("churn", "fit", params={"C": 0.1}) as fit:
        nbmlops.log_input(X, "train")
        model = LogisticRegression(C=0.1).fit(X, y)
        fit.log_model(model)
    v1 = nbmlops.register(model, name="churn", data=X)
    v2 = nbmlops.register(LogisticRegression().fit(X, y), name="churn", data=X)
    nbmlops.promote("churn", 2, "production")
    with nbmlops.track("churn", "alone"):
        nbmlops.log_metric("m", 1.0)
    # no server is started for it: a deployment as the model server records itself
    dep = api.workspace().store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="churn-api", model="churn", alias=None, version=1,
        url="http://127.0.0.1:1", workers=1, pid=os.getpid(), process_token="t", user="me",
        host="here", started_at=time.time()), actor=Actor(user="me", host="here"))
    return {"X": X, "fit": fit.id, "v1": v1, "v2": v2, "deployment": dep}


# -- lineage -------------------------------------------------------------------------------------

def _edges(graph: Lineage) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.relation) for e in graph.edges}


def test_lineage_from_a_run_a_version_or_a_deployment_is_one_graph(
        project: dict[str, Any]) -> None:
    fit, dep = project["fit"], project["deployment"]
    chain = {(f"run:{fit}", "model_version:churn/1", "registered"),
             ("model_version:churn/1", f"deployment:{dep.id}", "deployed")}
    graphs = {"run": nbmlops.lineage(run=fit[:8]),  # a prefix will do
              "model": nbmlops.lineage(model="churn/1"),
              "deployment": nbmlops.lineage(deployment="churn-api")}
    for given, graph in graphs.items():
        assert isinstance(graph, Lineage)
        assert chain <= _edges(graph), given
        assert {n.type for n in graph.nodes} == {"dataset", "run", "model_version",
                                                 "deployment"}
        assert graph.nodes[0].id == graph.root  # the root comes first
        ids = {n.id for n in graph.nodes}
        assert all(e.source in ids and e.target in ids for e in graph.edges)
        assert len(set(graph.edges)) == len(graph.edges)  # each edge once
        assert "run:" + fit in ids
        assert all(not i.endswith("churn/2") for i in ids)
    assert graphs["run"].root == f"run:{fit}"
    assert graphs["model"].root == "model_version:churn/1"
    assert graphs["deployment"].root == f"deployment:{dep.id}"

    graph = graphs["model"]
    (data,) = graph.of_type("dataset")
    assert isinstance(data.record, DatasetFingerprint)
    assert data.label == "train"  # the name the run gave it (no source file)
    assert data.record.shape == (200, 2)
    assert [(e.relation, e.target) for e in graph.edges_of(data.id)] == [
        ("input", f"run:{fit}")]
    run = graph.node(f"run:{fit}")
    assert isinstance(run.record, RunRecord)
    assert (run.label, run.record.params["C"]) == ("fit", 0.1)
    version = graph.node(graph.root).record
    assert isinstance(version, ModelVersion)
    assert (version.reference, version.run_id) == ("churn/1", fit)
    served = graph.of_type("deployment")[0].record
    assert isinstance(served, Deployment)
    assert (served.name, served.version) == ("churn-api", 1)
    with pytest.raises(KeyError, match="no node"):
        graph.node("run:nope")


def test_lineage_follows_an_alias_and_a_version_without_a_run(
        project: dict[str, Any]) -> None:
    graph = nbmlops.lineage(model="churn@production")
    assert graph.root == "model_version:churn/2"
    assert [n.id for n in graph.nodes] == [graph.root]  # registered from no run, not served
    assert graph.edges == ()
    assert nbmlops.lineage(model="churn").root == "model_version:churn/2"  # the latest
    alone = nbmlops.runs(where="name == 'alone'").run_id[0]
    assert [n.id for n in nbmlops.lineage(run=alone).nodes] == [f"run:{alone}"]


@pytest.mark.parametrize(("given", "error", "words"), [
    ({}, ValueError, "exactly one"),
    ({"run": "x", "model": "churn/1"}, ValueError, "exactly one"),
    ({"model": "churn/zero"}, ValueError, "a version is a number"),
    ({"model": "churn/99999999999999999999"}, ValueError, "from 1 to 9223372036854775807"),
    ({"model": "churn@"}, ValueError, "NAME@ALIAS"),
    ({"model": "churn/9"}, nbmlops.ModelNotFoundError, "churn"),
    ({"model": "nope"}, nbmlops.ModelNotFoundError, "nope"),
    ({"run": "ffffffff"}, nbmlops.RunNotFoundError, "ffffffff"),
    ({"deployment": "nope"}, nbmlops.DeploymentError, "nope"),
])
def test_lineage_refuses_what_it_cannot_find_or_read(
        project: dict[str, Any], given: dict[str, str], error: type[Exception],
        words: str) -> None:
    with pytest.raises(error, match=words):
        nbmlops.lineage(**given)


# -- drift checks ----------------------------------------------------------------------------------

def test_drift_checks_are_the_checks_recorded_with_their_column_results(
        project: dict[str, Any]) -> None:
    X = project["X"]
    plain = nbmlops.drift(X, X.assign(a=X["a"] + 3.0), tests="ks")
    nbmlops.drift(X, X, record=False)  # not recorded: no check
    of_model = [nbmlops.drift("churn@production", X.assign(b=X["b"] * (1 + i)))
                for i in range(3)]

    page = nbmlops.drift_checks()
    assert page.total == len(page) == 4
    checks = list(page)
    assert all(isinstance(c, DriftCheck) for c in checks)
    assert [c.run_id for c in checks] == [r.run_id for r in [*of_model[::-1], plain]]

    first = checks[-1]
    assert (first.dataset_drift, first.drifted, first.model, first.deployment) == (
        plain.dataset_drift, ["a"], None, None)
    assert (first.drifted_columns, first.columns_checked, first.drift_share) == (1, 2, 0.5)
    assert first.share_threshold == 0.5
    assert first.reference == plain.reference
    assert first.current == plain.current
    a = first.column("a")
    assert (a.test, a.drifted) == ("ks", True)
    assert a.p_value is not None
    assert a.p_value < a.threshold == 0.05
    assert a.statistic == pytest.approx(plain.columns[0].statistic)
    assert first.prediction is None
    assert first.prediction_drift is None
    assert first.time == nbmlops.get_run(plain.run_id).start_time

    assert [c.run_id for c in nbmlops.drift_checks(model="churn")] == [
        r.run_id for r in of_model[::-1]]
    assert {c.model for c in nbmlops.drift_checks(model="churn")} == {"churn/2"}
    assert nbmlops.drift_checks(model="churn/2").total == 3
    assert nbmlops.drift_checks(model="churn/1").total == 0
    assert nbmlops.drift_checks(model="nope").total == 0
    assert nbmlops.drift_checks(deployment="churn-api").total == 0
    second = nbmlops.drift_checks(model="churn", limit=1, offset=1)
    assert ([c.run_id for c in second], second.total) == ([of_model[1].run_id], 3)
    with pytest.raises(nbmlops.QueryError, match="an alias moves"):
        nbmlops.drift_checks(model="churn@production")
    with pytest.raises(nbmlops.QueryError, match="limit"):
        nbmlops.drift_checks(limit=-1)


# -- job runs ----------------------------------------------------------------------------------------

@pytest.mark.kernel
def test_job_runs_are_each_execution_of_a_job(store_env: Path) -> None:
    from tests.test_jobs import TRAIN, notebook

    nb = notebook(store_env / "project" / "train.ipynb", *TRAIN)
    folder = nbmlops.export_job(nb, job="train-churn", gates=["metrics.accuracy>=0.6"]).folder
    ok = nbmlops.run_job(folder, params={"C": 0.5})
    assert ok.ok, ok.message
    (done,) = nbmlops.job_runs()
    assert isinstance(done, JobRun)
    assert (done.run_id, done.job, done.job_dir, done.status) == (
        ok.run_id, "train-churn", str(folder), "finished")
    assert dict(done.parameters) == {"C": 0.5, "max_iter": 200}
    assert (done.child_runs, done.gate_failed, done.failure) == (1, None, None)
    assert done.executed is not None
    assert Path(done.executed) == ok.output
    assert done.duration_s is not None
    assert done.duration_s > 0

    import yaml

    spec = yaml.safe_load((folder / "job.yaml").read_text())
    spec["gates"] = ["metrics.accuracy >= 1.01"]
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))
    gated = nbmlops.run_job(folder)
    assert not gated.ok
    newest, oldest = nbmlops.job_runs("train-churn")
    assert oldest == done
    assert (newest.run_id, newest.status, newest.ok) == (gated.run_id, "failed", False)
    assert (newest.gate_failed, newest.failure) == ("metrics.accuracy >= 1.01", "gate")
    assert newest.error is not None
    assert "gate failed" in newest.error
    assert [r.run_id for r in nbmlops.job_runs(folder, limit=1)] == [gated.run_id]
    page = nbmlops.job_runs(limit=1, offset=1)
    assert ([r.run_id for r in page], page.total) == ([ok.run_id], 2)
    assert nbmlops.job_runs("other").total == 0


# -- reading looks only --------------------------------------------------------------------------------

def test_the_typed_reads_create_nothing_where_nothing_was_recorded(store_env: Path) -> None:
    from nbmlops import api

    before = sorted(store_env.rglob("*"))
    assert (nbmlops.drift_checks().total, len(nbmlops.job_runs())) == (0, 0)
    assert api.run_page().rows == []
    assert api.list_models() == []
    with pytest.raises(nbmlops.RunNotFoundError):
        nbmlops.lineage(run="abcd1234")
    with pytest.raises(nbmlops.ModelNotFoundError):
        nbmlops.lineage(model="churn@production")
    assert sorted(store_env.rglob("*")) == before
    assert not (store_env / "store").exists()


# -- the pages front ends read -----------------------------------------------------------------------

def test_run_page_and_runs_by_id(project: dict[str, Any]) -> None:
    from nbmlops import api

    fit = project["fit"]
    page = api.run_page(sort="start", limit=1)
    assert (len(page.rows), page.total, page.total_exact) == (1, 2, True)
    assert page.rows[0][0] == fit
    assert [r[2] for r in api.run_page(name="alone").rows] == ["alone"]
    assert api.run_page(status="failed").total == 0
    assert [r[2] for r in api.run_page(where="params.C == 0.1").rows] == ["fit"]
    with pytest.raises(ValueError, match="unknown status 'done'"):
        api.run_page(status="done")
    with pytest.raises(nbmlops.QueryError):
        api.run_page(where="metrics.m >>> 1")

    alone = api.run_page(name="alone").rows[0][0]
    table = api.runs_by_id([alone, fit[:8].upper(), alone])  # asked order, each once
    assert [r[0] for r in table.rows] == [alone, fit]
    assert table.total == 2
    assert list(table.metrics["m"][:1]) == [1.0]
    assert table.params["C"][1] == 0.1
    assert api.runs_by_id([]).rows == []
    with pytest.raises(nbmlops.RunNotFoundError):
        api.runs_by_id([fit, "ffffffff"])
