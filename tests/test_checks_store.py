"""Drift checks and job runs as records of their own, on every store backend, and carried
over from the tagged runs a store at revision 0005 holds."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nbmlops._types import (
    DriftColumnResult,
    JobRunEnd,
    Metric,
    NewDriftCheck,
    NewJobRun,
    NewRun,
    RunEnd,
)
from nbmlops.errors import QueryError, RunNotFoundError
from nbmlops.store import Store, liveness, open_store
from nbmlops.store.sql import schema

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1_767_225_600.0


def started(store: Store, kind: str, at: float, *, parent: str | None = None,
            pid: int | None = None, token: str | None = None) -> str:
    run_id = uuid.uuid4().hex
    store.start_run(NewRun(id=run_id, experiment="checks", name=f"{kind} run", kind=kind,  # type: ignore[arg-type]
                           start_time=at, parent_run_id=parent, notebook_path="/jobs/nb.ipynb",
                           pid=pid if pid is not None else os.getpid(),
                           process_token=token if token is not None
                           else liveness.process_token(os.getpid())))
    return run_id


def check(run_id: str, at: float, *, model: str | None = None,
          deployment: str | None = None) -> NewDriftCheck:
    return NewDriftCheck(
        run_id=run_id, time=at, reference="churn/2 training sample (400 rows)",
        current="DataFrame (300 × 3)", dataset_drift=True, drift_share=2 / 3,
        drifted_columns=2, columns_checked=3, share_threshold=0.5, model=model,
        deployment=deployment, prediction_drift=False,
        columns=(DriftColumnResult("tenure", "ks", 0.41, 1e-9, 0.05, True),
                 DriftColumnResult("plan", "chi2", 12.5, 0.002, 0.05, True),
                 DriftColumnResult("empty", "wasserstein", math.nan, None, 0.1, False)),
        prediction=DriftColumnResult("prediction", "chi2", 0.3, 0.58, 0.05, False))


def test_a_drift_check_reads_back_whole_and_is_written_once(store: Store) -> None:
    run_id = started(store, "drift", T0)
    recorded = store.record_drift_check(check(run_id, T0 + 1, model="churn/2",
                                              deployment="churn-prod"))
    got = store.get_drift_check(run_id)
    assert got == recorded
    assert (got.run_id, got.time.timestamp(), got.model, got.deployment) == (
        run_id, T0 + 1, "churn/2", "churn-prod")
    assert (got.reference, got.current) == ("churn/2 training sample (400 rows)",
                                            "DataFrame (300 × 3)")
    assert (got.dataset_drift, got.prediction_drift, got.drift_share, got.drifted_columns,
            got.columns_checked, got.share_threshold) == (True, False, 2 / 3, 2, 3, 0.5)
    assert [(c.column, c.test, c.statistic, c.p_value, c.threshold, c.drifted)
            for c in got.columns] == [
        ("tenure", "ks", 0.41, 1e-9, 0.05, True), ("plan", "chi2", 12.5, 0.002, 0.05, True),
        ("empty", "wasserstein", None, None, 0.1, False)]  # NaN: no statistic
    assert got.prediction == DriftColumnResult("prediction", "chi2", 0.3, 0.58, 0.05, False)
    assert got.drifted == ["tenure", "plan"]
    assert got.column("prediction").p_value == 0.58

    with pytest.raises(RunNotFoundError, match="has its drift check already"):
        store.record_drift_check(check(run_id, T0 + 2))
    assert store.get_drift_check(run_id) == recorded  # the refused write changed nothing
    with pytest.raises(RunNotFoundError, match="it is a cell run, not a drift run"):
        store.record_drift_check(check(started(store, "cell", T0), T0))
    with pytest.raises(RunNotFoundError, match="no drift check was recorded"):
        store.get_drift_check(started(store, "drift", T0))
    with pytest.raises(QueryError, match=r"give a registered version as name/number"):
        store.record_drift_check(check(started(store, "drift", T0), T0, model="churn@prod"))
    with pytest.raises(RunNotFoundError):
        store.record_drift_check(check(uuid.uuid4().hex, T0))


def test_drift_checks_list_newest_first_by_model_version_or_deployment(store: Store) -> None:
    made = []
    for i, (model, deployment) in enumerate([
            ("churn/1", None), ("churn/2", "churn-prod"), (None, None),
            ("churn/2", None), ("fraud/1", "fraud-prod"), ("churn/10", "churn-prod")]):
        run_id = started(store, "drift", T0 + i)
        store.record_drift_check(check(run_id, T0 + i, model=model, deployment=deployment))
        made.append(run_id)
    everything = store.list_drift_checks()
    assert [c.run_id for c in everything.items] == made[::-1]
    assert (everything.total, everything.limit, everything.offset) == (6, 50, 0)
    churn = store.list_drift_checks(model="churn")  # any of its versions
    assert [c.run_id for c in churn.items] == [made[5], made[3], made[1], made[0]]
    assert [c.run_id for c in store.list_drift_checks(model="churn/2").items] == [
        made[3], made[1]]
    assert store.list_drift_checks(model="churn/3").total == 0
    assert store.list_drift_checks(model="chur").total == 0  # a name, not a prefix
    prod = store.list_drift_checks(deployment="churn-prod")
    assert [c.run_id for c in prod.items] == [made[5], made[1]]
    both = store.list_drift_checks(model="churn/2", deployment="churn-prod")
    assert [c.run_id for c in both.items] == [made[1]]
    page = store.list_drift_checks(limit=2, offset=3)
    assert ([c.run_id for c in page.items], page.total) == ([made[2], made[1]], 6)
    assert len(store.list_drift_checks(limit=None).items) == 6
    with pytest.raises(QueryError, match=r"an alias moves"):
        store.list_drift_checks(model="churn@production")
    with pytest.raises(QueryError, match="give 0 or more"):
        store.list_drift_checks(offset=-1)


def test_a_job_run_starts_ends_and_lists_newest_first_per_job(store: Store) -> None:
    first = started(store, "job", T0)
    job = store.start_job_run(NewJobRun(first, "train", "/jobs/train",
                                        {"C": 0.5, "label": "a b", "deep": [1, 2]}))
    assert (job.job, job.job_dir, job.status, job.end_time, job.child_runs) == (
        "train", "/jobs/train", "running", None, 0)
    assert job.start_time.timestamp() == T0
    assert job.parameters == {"C": 0.5, "label": "a b", "deep": [1, 2]}
    assert job.notebook_path == "/jobs/nb.ipynb"
    child = started(store, "cell", T0 + 1, parent=first)
    assert store.get_job_run(first).child_runs == 1  # counted while it runs
    store.end_run(child, RunEnd(status="finished", end_time=T0 + 2,
                                metrics=(Metric("accuracy", 0.7, 0, T0 + 2),)))
    store.end_run(first, RunEnd(status="failed", end_time=T0 + 3,
                                error="gate failed: metrics.accuracy >= 0.8 (found 0.7)"))
    ended = store.end_job_run(first, JobRunEnd(
        child_runs=1, gate_failed="metrics.accuracy >= 0.8", failure="gate",
        executed="/jobs/train/runs/20260101-000000-abcd.ipynb"))
    assert (ended.status, ended.ok, ended.duration_s, ended.gate_failed, ended.failure) == (
        "failed", False, 3.0, "metrics.accuracy >= 0.8", "gate")
    assert ended.error == "gate failed: metrics.accuracy >= 0.8 (found 0.7)"
    assert ended.executed == "/jobs/train/runs/20260101-000000-abcd.ipynb"
    assert store.get_job_run(first) == ended

    second = started(store, "job", T0 + 10)
    store.start_job_run(NewJobRun(second, "train", "/jobs/train", {"C": 1.0}))
    store.end_run(second, RunEnd(status="finished", end_time=T0 + 12))
    store.end_job_run(second, JobRunEnd(child_runs=0))
    other = started(store, "job", T0 + 5)
    store.start_job_run(NewJobRun(other, "score", "/jobs/score"))

    assert [j.run_id for j in store.list_job_runs().items] == [second, other, first]
    train = store.list_job_runs(job="train", limit=1)
    assert ([j.run_id for j in train.items], train.total) == ([second], 2)
    assert [j.run_id for j in store.list_job_runs(job="train", offset=1).items] == [first]
    assert store.list_job_runs(job="nope").total == 0
    last = store.last_job_runs()
    assert {name: (j.run_id, j.status) for name, j in last.items()} == {
        "score": (other, "running"), "train": (second, "finished")}
    assert list(store.last_job_runs(["train", "nope"])) == ["train"]

    with pytest.raises(RunNotFoundError, match="has its job run already"):
        store.start_job_run(NewJobRun(first, "train", "/jobs/train"))
    with pytest.raises(RunNotFoundError, match="it is a cell run, not a job run"):
        store.start_job_run(NewJobRun(child, "train", "/jobs/train"))
    with pytest.raises(RunNotFoundError, match="no job run was started"):
        store.end_job_run(child, JobRunEnd(child_runs=0))
    with pytest.raises(RunNotFoundError, match="no job run was started"):
        store.get_job_run(uuid.uuid4().hex)
    assert store.get_job_run(first) == ended  # refused writes changed nothing


def test_a_job_whose_runner_died_reads_crashed_once_its_run_is_reaped(store: Store) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    token = liveness.process_token(proc.pid)
    run_id = started(store, "job", time.time(), pid=proc.pid, token=token)
    store.start_job_run(NewJobRun(run_id, "train", "/jobs/train"))
    assert store.reap_orphans(time.time()) == [run_id]
    crashed = store.get_job_run(run_id)
    assert (crashed.status, crashed.failure) == ("crashed", None)
    assert crashed.end_time is not None
    assert "stopped without ending it" in (crashed.error or "")


# -- a store written at revision 0005 -------------------------------------------------

def test_drift_and_job_runs_of_a_0005_store_become_records(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    shutil.copyfile(FIXTURES / "lineage-0005.db", path)
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.revision == schema.HEAD
        assert list(tmp_path.glob("lineage.db.pre-0005.bak"))
        checks = store.list_drift_checks()
        assert checks.total == 4
        served, half, shifted, steady = checks.items  # newest first
        for c in checks.items:  # every field is what the run itself holds
            run = store.get_run(c.run_id)
            assert (run.kind, c.time) == ("drift", run.start_time)
            assert (c.reference, c.current) == (run.params["reference"], run.params["current"])
            assert (c.columns_checked, c.share_threshold) == (2, 0.5)
            assert (c.model, c.deployment) == (run.tags.get("model"), run.tags.get("deployment"))
            assert (c.drift_share, c.drifted_columns) == (run.metrics["drift_share"],
                                                          run.metrics["drifted_columns"])
            assert [(r.column, r.statistic) for r in c.columns] == [
                ("a", run.metrics["drift.a"]), ("b", run.metrics["drift.b"])]
            assert {(r.test, r.p_value, r.threshold) for r in c.columns} == {(None,) * 3}
            assert c.prediction is None  # its statistic stays the run's metric
            assert store.get_drift_check(c.run_id) == c
        assert store.get_run(steady.run_id).name == "steady"
        assert (steady.dataset_drift, steady.prediction_drift, steady.model) == (
            False, None, None)
        assert [r.drifted for r in steady.columns] == [False, False]  # none drifted
        assert (shifted.dataset_drift, shifted.prediction_drift, shifted.model) == (
            True, True, "churn/1")
        assert shifted.reference == ("churn/1 training sample (400 of 400 rows) with its "
                                     "predictions")
        assert [r.drifted for r in shifted.columns] == [True, True]  # all drifted
        assert (half.dataset_drift, half.drifted_columns, half.drift_share) == (True, 1, 0.5)
        assert [r.drifted for r in half.columns] == [None, None]  # which one was not kept
        assert (served.model, served.deployment, served.dataset_drift) == (
            "churn/1", "churn-prod", False)
        assert served.current == "churn-prod predictions (400 rows)"
        assert [c.run_id for c in store.list_drift_checks(model="churn").items] == [
            served.run_id, shifted.run_id]
        assert [c.run_id for c in store.list_drift_checks(deployment="churn-prod").items] \
            == [served.run_id]

        jobs = store.list_job_runs(job="tiny")
        assert jobs.total == 3
        broken, gated, done = jobs.items  # newest first
        for j in jobs.items:
            run = store.get_run(j.run_id)
            assert (run.kind, j.status, j.start_time, j.end_time, j.error) == (
                "job", run.status, run.start_time, run.end_time, run.error)
            assert j.parameters == run.params
            assert j.job_dir == run.tags["job_dir"]
            assert j.job_dir.endswith("/jobs/tiny")
            assert j.notebook_path == f"{j.job_dir}/notebook.ipynb"
            assert j.child_runs == 1
            assert j.executed is None  # not kept before revision 0006
        assert (done.status, done.failure, done.gate_failed, done.error) == (
            "finished", None, None, None)
        assert done.parameters == {"boom": False, "scale": 1.0}
        assert (gated.status, gated.failure, gated.gate_failed) == (
            "failed", "gate", "metrics.score >= 1")
        assert gated.parameters == {"boom": False, "scale": 0.5}
        assert (broken.status, broken.failure, broken.gate_failed) == ("failed", "cell", None)
        assert "boom was asked for" in (broken.error or "")
        assert broken.parameters == {"boom": True, "scale": 1.0}
        assert store.last_job_runs() == {"tiny": broken}
    finally:
        store.close()
