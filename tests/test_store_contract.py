"""The Store contract: the same tests against every backend (SQLite file, PostgreSQL).

Every test writes through the public ``Store`` methods and asserts on what reads back.
A few look at a table directly (through an engine of their own) where the contract is
about storage itself, such as one environment row per digest.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from nbmlops._types import (
    RUN_STATUSES,
    ArtifactRef,
    DatasetFingerprint,
    DatasetLink,
    Environment,
    Metric,
    NewRun,
    RunArtifact,
    RunEnd,
    RunRecord,
    RunTable,
    utc,
)
from nbmlops.errors import ParamConflictError, QueryError, RunNotFoundError, StoreError
from nbmlops.store import Store, liveness, open_store
from nbmlops.store.query import parse_filter, parse_sort
from nbmlops.store.sql.schema import HEAD

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NAN, INF = math.nan, math.inf
FOREIGN_TOKEN = "another-host|0f0e-boot|4026531836|4242|123456"


# -- helpers ---------------------------------------------------------------------------

def new_id() -> str:
    return uuid.uuid4().hex


def start(store: Store, *, experiment: str = "exp", name: str | None = None,
          start_time: float = T0, **fields: Any) -> str:
    run_id = fields.pop("id", None) or new_id()
    store.start_run(NewRun(id=run_id, experiment=experiment, name=name,
                           kind=fields.pop("kind", "cell"), start_time=start_time, **fields))
    return run_id


def finish(store: Store, run_id: str, *, end_time: float = T0 + 10, **fields: Any) -> None:
    store.end_run(run_id, RunEnd(status=fields.pop("status", "finished"), end_time=end_time,
                                 **fields))


def dataset(label: str, **fields: Any) -> DatasetFingerprint:
    digest = hashlib.sha256(label.encode()).hexdigest()
    return DatasetFingerprint(
        digest=digest, kind=fields.pop("kind", "dataframe"), shape=fields.pop("shape", (10, 2)),
        schema=fields.pop("schema", (("a", "int64"), ("b", "float64"))),
        content_hash=digest[:32], **fields)


def artifact(label: str, *, size: int = 100, media_type: str = "text/plain") -> ArtifactRef:
    return ArtifactRef(sha256=hashlib.sha256(label.encode()).hexdigest(), size=size,
                       media_type=media_type)


def environment(label: str, python: str = "3.11.9") -> Environment:
    return Environment(digest=hashlib.sha256(label.encode()).hexdigest(), python=python,
                       implementation="CPython", platform="Linux-6.1-x86_64-with-glibc2.36",
                       packages=(("numpy", "1.26.4"), ("scikit-learn", "1.4.2")))


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def table_metrics(table: RunTable, run_id: str) -> dict[str, float]:
    """A run's row of the metric columns (NaN where a metric is NaN or not logged)."""
    row = [r[0] for r in table.rows].index(run_id)
    return {k: float(col[row]) for k, col in table.metrics.items()}


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def heartbeat_at(url: str, run_id: str) -> float:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return float(conn.execute(sa.text("SELECT heartbeat_at FROM runs WHERE id = :i"),
                                      {"i": run_id}).scalar_one())
    finally:
        engine.dispose()


# -- writing and reading one run -------------------------------------------------------

PARAMS: dict[str, Any] = {
    "C": 0.5, "tol": 2.0, "max_iter": 200, "neg": -3, "big": 2**53 + 1,
    "solver": "lbfgs", "empty": "", "unicode": "ü ✓ 日本",
    "fit_intercept": True, "warm_start": False, "class_weight": None,
    "layers": [64, 32], "grid": {"alpha": [0.1, 1.0], "name": "ridge", "on": True},
}


def test_start_and_end_round_trip_every_field(store: Store) -> None:
    parent = start(store, experiment="churn", name="search", kind="tune", start_time=T0)
    run_id = new_id()
    train = dataset("train", shape=(120, 3), size_bytes=2880,
                    schema=(("tenure", "float64"), ("spend", "float64"), ("churn", "int64")))
    raw = dataset("raw.csv", kind="file", shape=(), schema=(), size_bytes=1234,
                  source="/data/raw.csv")
    preds = dataset("preds", kind="ndarray", shape=(40,), schema=(("", "int64"),))
    inputs = (DatasetLink("X_train", "input", train), DatasetLink("raw", "input", raw))
    store.start_run(NewRun(
        id=run_id, experiment="churn", name="baseline", kind="cell", start_time=T0 + 0.25,
        user="ada", host="box", pid=4242, process_token=FOREIGN_TOKEN, parent_run_id=parent,
        notebook_path="/home/ada/churn.ipynb", cell_id="cell-7", execution_count=12,
        code="model.fit(X, y)\n", code_hash="ab" * 32, git_commit="c0ffee" * 6 + "abcd",
        params=PARAMS, tags={"team": "growth", "note": "ünïcode ✓"}, inputs=inputs))

    running = store.get_run(run_id)
    assert (running.status, running.end_time, running.duration_s) == ("running", None, None)
    assert (running.error, running.git_dirty, running.environment) == (None, None, None)
    assert (running.metrics, running.outputs, running.artifacts) == ({}, (), ())
    assert running.params == PARAMS
    assert running.inputs == inputs

    env = environment("env-1")
    model = RunArtifact("model", "model", artifact("model", size=2048,
                                                    media_type="application/octet-stream"))
    report = RunArtifact("reports/summary.txt", "file", artifact("report", size=10))
    outputs = (DatasetLink("predictions", "output", preds),)
    late_input = DatasetLink("X_test", "input", train)  # same data under another name
    store.end_run(run_id, RunEnd(
        status="finished", end_time=T0 + 12.75, params={"threshold": 0.3},
        metrics=(Metric("accuracy", 0.91, 0, T0 + 12), Metric("loss", 0.4, 0, T0 + 11),
                 Metric("loss", 0.2, 1, T0 + 12)),
        tags={"stage": "eval"}, datasets=(*outputs, late_input), artifacts=(report, model),
        environment=env, git_dirty=True))

    rec = store.get_run(run_id)
    assert rec == RunRecord(
        id=run_id, experiment="churn", name="baseline", kind="cell", status="finished",
        start_time=utc(T0 + 0.25), end_time=utc(T0 + 12.75),  # type: ignore[arg-type]
        parent_run_id=parent, notebook_path="/home/ada/churn.ipynb", cell_id="cell-7",
        execution_count=12, code="model.fit(X, y)\n", code_hash="ab" * 32,
        user="ada", host="box", git_commit="c0ffee" * 6 + "abcd", git_dirty=True, error=None,
        params={**PARAMS, "threshold": 0.3}, metrics={"accuracy": 0.91, "loss": 0.2},
        tags={"team": "growth", "note": "ünïcode ✓", "stage": "eval"},
        inputs=(late_input, *inputs), outputs=outputs, artifacts=(model, report),
        environment=env)
    assert rec.duration_s == 12.5
    assert rec.start_time.tzinfo is not None
    # JSON types survive, not just values that compare equal (True == 1 == 1.0)
    assert {k: type(v) for k, v in rec.params.items()} == {k: type(v) for k, v in
                                                            {**PARAMS, "threshold": 0.3}.items()}
    assert type(rec.params["grid"]["on"]) is bool
    assert rec.environment is not None
    assert rec.environment.package_versions() == {
        "numpy": "1.26.4", "scikit-learn": "1.4.2"}
    assert rec.artifact("model").artifact.size == 2048

    # the same record by id prefix, and in a listing
    assert store.get_run(run_id[:8]) == rec
    table = store.search_runs(experiment="churn")
    assert table.total == 2
    assert table.rows[0] == (run_id, "churn", "baseline", "cell", "finished", T0 + 0.25,
                             T0 + 12.75, parent)
    # in a table a param logged as None reads as absent (get_run keeps it)
    assert table.params_of(run_id) == {k: v for k, v in {**PARAMS, "threshold": 0.3}.items()
                                       if v is not None}
    assert table.metrics_of(run_id) == {"accuracy": 0.91, "loss": 0.2}
    assert table.tags_of(run_id) == {"note": "ünïcode ✓", "stage": "eval", "team": "growth"}


def test_failed_run_keeps_its_error(store: Store) -> None:
    run_id = start(store)
    error = "Traceback (most recent call last):\n  ...\nValueError: bad input ü"
    finish(store, run_id, status="failed", end_time=T0 + 3, error=error, git_dirty=False)
    rec = store.get_run(run_id)
    assert (rec.status, rec.error, rec.git_dirty, rec.duration_s) == ("failed", error, False, 3.0)


UNKNOWN_RUN_WRITES = {
    "end_run": lambda s, i: finish(s, i, environment=environment("lost"),
                                   metrics=(Metric("x", 1.0),)),
    "log_params": lambda s, i: s.log_params(i, {"a": 1}),
    "log_metrics": lambda s, i: s.log_metrics(i, [Metric("m", 1.0)]),
    "set_tags": lambda s, i: s.set_tags(i, {"t": "v"}),
    "link_datasets": lambda s, i: s.link_datasets(i, [DatasetLink("d", "input", dataset("d"))]),
    "add_artifacts": lambda s, i: s.add_artifacts(i, [RunArtifact("f", "file", artifact("f"))]),
    "set_git_dirty": lambda s, i: s.set_git_dirty(i, True),
}


def test_writes_to_an_unknown_run_raise_run_not_found_and_write_nothing(
        store: Store, store_url: str) -> None:
    start(store)
    for what, write in UNKNOWN_RUN_WRITES.items():
        missing = new_id()
        with pytest.raises(RunNotFoundError) as info:
            write(store, missing)
        assert info.value.run_id == missing, what
    for table in ("environments", "params", "metrics", "latest_metrics", "tags",
                  "datasets", "run_datasets", "artifacts", "run_artifacts"):
        assert count_rows(store_url, table) == 0, table


def test_start_run_twice_with_one_id_is_a_store_error(store: Store) -> None:
    run_id = start(store, name="first")
    with pytest.raises(StoreError, match="nothing from this operation was written"):
        start(store, id=run_id, name="second", params={"p": 1})
    rec = store.get_run(run_id)
    assert (rec.name, rec.params) == ("first", {})


def test_set_git_dirty_and_list_experiments(store: Store) -> None:
    run_id = start(store, experiment="b-exp")
    start(store, experiment="a-exp")
    start(store, experiment="b-exp")
    store.set_git_dirty(run_id, True)
    assert store.get_run(run_id).git_dirty is True
    store.set_git_dirty(run_id, False)
    assert store.get_run(run_id).git_dirty is False
    experiments = store.list_experiments()
    assert [e.name for e in experiments] == ["a-exp", "b-exp"]
    assert len({e.id for e in experiments}) == 2
    assert all(abs(e.created_at - time.time()) < 60 for e in experiments)


# -- datasets, artifacts, environments -------------------------------------------------

def test_environment_is_stored_once_per_digest(store: Store, store_url: str) -> None:
    env = environment("shared")
    same_digest = Environment(digest=env.digest, python="3.12.0", implementation="PyPy",
                              platform="other", packages=())
    a, b, c = start(store), start(store), start(store)
    finish(store, a, environment=env)
    finish(store, b, environment=same_digest)
    finish(store, c, environment=environment("other"))
    assert store.get_run(a).environment == env
    assert store.get_run(b).environment == env  # the digest names it: the first one stays
    assert store.get_run(c).environment == environment("other")
    assert count_rows(store_url, "environments") == 2


def test_datasets_and_artifacts_are_shared_by_content(store: Store) -> None:
    train, model = dataset("train"), artifact("model-bytes", size=500)
    a, b = start(store, inputs=(DatasetLink("X", "input", train),)), start(store)
    store.link_datasets(b, [DatasetLink("features", "input", train),
                            DatasetLink("X", "output", dataset("out"))])
    store.add_artifacts(a, [RunArtifact("model", "model", model)])
    store.add_artifacts(b, [RunArtifact("best/model", "model", model),
                            RunArtifact("log.txt", "file", artifact("log", size=7))])
    info = store.info()
    assert (info.datasets, info.artifacts, info.artifact_bytes) == (2, 2, 507)
    rec = store.get_run(b)
    assert [(d.name, d.dataset) for d in rec.inputs] == [("features", train)]
    assert [(d.name, d.dataset) for d in rec.outputs] == [("X", dataset("out"))]
    assert [(x.name, x.artifact) for x in rec.artifacts] == [
        ("best/model", model), ("log.txt", artifact("log", size=7))]


def test_a_link_or_artifact_name_written_again_points_at_the_newest(store: Store) -> None:
    run_id = start(store, inputs=(DatasetLink("X", "input", dataset("v1")),))
    store.link_datasets(run_id, [DatasetLink("X", "input", dataset("v2"))])
    # the same name twice in one call: the later one wins, on every backend
    store.link_datasets(run_id, [DatasetLink("y", "output", dataset("y1")),
                                 DatasetLink("y", "output", dataset("y2"))])
    store.add_artifacts(run_id, [RunArtifact("model", "model", artifact("m1")),
                                 RunArtifact("model", "model", artifact("m2"))])
    finish(store, run_id, datasets=(DatasetLink("z", "output", dataset("z1")),
                                    DatasetLink("z", "output", dataset("z2"))),
           artifacts=(RunArtifact("plot.png", "file", artifact("p1")),
                      RunArtifact("plot.png", "file", artifact("p2"))))
    rec = store.get_run(run_id)
    assert rec.status == "finished"
    assert [(d.name, d.dataset) for d in rec.inputs] == [("X", dataset("v2"))]
    assert [(d.name, d.dataset) for d in rec.outputs] == [("y", dataset("y2")),
                                                          ("z", dataset("z2"))]
    assert [(a.name, a.artifact) for a in rec.artifacts] == [("model", artifact("m2")),
                                                             ("plot.png", artifact("p2"))]


# -- params ----------------------------------------------------------------------------

SAME = [  # (first value, value logged again) that are the same param
    (1, 1), (1, 1.0), (1.0, 1), (0.5, 0.5), (NAN, NAN), ("a", "a"), (True, True),
    (False, False), (None, None), ([1, 2], [1.0, 2]), ([1, "a"], (1, "a")),
    ({"k": [1, True]}, {"k": (1.0, True)}), ([], ()), (2**60, 2**60),
]
DIFFERENT = [  # (first value, value logged again) that conflict
    (1, 2), (1, True), (True, 1), (0, False), (False, 0), (1.0, True), (1, "1"),
    ("a", "b"), (None, 0), (None, "null"), (0.5, NAN), (NAN, 0.5), ([1], [True]),
    ({"k": True}, {"k": 1}), ([1, 2], [2, 1]), ([1], 1), ({"a": 1}, {"b": 1}),
    ([1, 2], [1, 2, 3]),
]


def test_relogging_a_param_with_the_same_value_is_a_no_op(store: Store) -> None:
    run_id = start(store, params={f"p{i}": old for i, (old, _) in enumerate(SAME)})
    for i, (_, new) in enumerate(SAME):
        store.log_params(run_id, {f"p{i}": new})
    finish(store, run_id, params={f"p{i}": new for i, (_, new) in enumerate(SAME)})
    params = store.get_run(run_id).params
    for i, (old, _) in enumerate(SAME):  # the first value stays, with its own type
        stored = params[f"p{i}"]
        if isinstance(old, float) and math.isnan(old):
            assert math.isnan(stored)
        else:
            assert stored == (list(old) if isinstance(old, tuple) else old)
            assert type(stored) is type(old)


def test_a_different_param_value_raises_and_writes_nothing_of_that_call(store: Store) -> None:
    run_id = start(store, params={f"p{i}": old for i, (old, _) in enumerate(DIFFERENT)})
    for i, (old, new) in enumerate(DIFFERENT):
        with pytest.raises(ParamConflictError) as info:
            store.log_params(run_id, {"fresh": 1, f"p{i}": new, "also_fresh": "x"})
        err = info.value
        assert (err.run_id, err.key) == (run_id, f"p{i}"), (old, new)
        assert err.new is new
        assert repr(new)[:10] in str(err)
    params = store.get_run(run_id).params
    assert "fresh" not in params
    assert "also_fresh" not in params
    assert params["p1"] == 1
    assert type(params["p1"]) is int


def test_a_param_conflict_at_the_end_rolls_back_the_whole_end(store: Store) -> None:
    run_id = start(store, params={"C": 1})
    with pytest.raises(ParamConflictError):
        finish(store, run_id, params={"C": 2}, metrics=(Metric("acc", 0.9),), tags={"t": "v"},
               environment=environment("e"), artifacts=(RunArtifact("f", "file", artifact("f")),))
    rec = store.get_run(run_id)
    assert (rec.status, rec.end_time, rec.metrics, rec.tags) == ("running", None, {}, {})
    assert (rec.environment, rec.artifacts, rec.params) == (None, (), {"C": 1})


def test_params_log_in_one_call_with_new_and_existing_keys(store: Store) -> None:
    run_id = start(store, params={"a": 1})
    store.log_params(run_id, {"a": 1.0, "b": [1, 2], "c": None})
    store.log_params(run_id, {})
    assert store.get_run(run_id).params == {"a": 1, "b": [1, 2], "c": None}


def test_huge_integers_are_params_too(store: Store) -> None:
    run_id = start(store, params={"huge": 10**400, "neg": -(10**30)})
    store.log_params(run_id, {"huge": 10**400})
    assert store.get_run(run_id).params == {"huge": 10**400, "neg": -(10**30)}
    ids = {r[0] for r in store.search_runs(where=parse_filter("params.neg < -1e29")).rows}
    assert ids == {run_id}


# -- metrics ---------------------------------------------------------------------------

def test_nan_and_infinities_round_trip(store: Store) -> None:
    run_id = start(store)
    store.log_metrics(run_id, [
        Metric("nan", NAN, 0, T0), Metric("pinf", INF, 0, T0), Metric("ninf", -INF, 0, T0),
        Metric("zero", 0.0, 0, T0), Metric("tiny", 5e-324, 0, T0),
        Metric("swing", 1.0, 0, T0), Metric("swing", NAN, 1, T0 + 1),
        Metric("swing", INF, 2, T0 + 2), Metric("swing", -INF, 3, T0 + 3),
    ])
    expected = {"nan": NAN, "pinf": INF, "ninf": -INF, "zero": 0.0, "tiny": 5e-324,
                "swing": -INF}
    for got in (store.get_run(run_id).metrics, table_metrics(store.search_runs(), run_id)):
        assert set(got) == set(expected)
        assert all(same_float(got[k], v) for k, v in expected.items()), got
    history = store.metric_history(run_id, "swing")
    assert [m.step for m in history] == [0, 1, 2, 3]
    assert all(a.same_as(b) for a, b in zip(history, [
        Metric("swing", 1.0, 0, T0), Metric("swing", NAN, 1, T0 + 1),
        Metric("swing", INF, 2, T0 + 2), Metric("swing", -INF, 3, T0 + 3)], strict=True))
    for key in ("nan", "pinf", "ninf"):
        (only,) = store.metric_history(run_id, key)
        assert same_float(only.value, expected[key])

    store.log_metrics(run_id, [Metric("swing", NAN, 4, T0 + 4)])  # NaN can be the latest
    assert math.isnan(store.get_run(run_id).metrics["swing"])


def test_metric_history_is_ordered_by_step_then_timestamp(store: Store) -> None:
    run_id = start(store)
    store.log_metrics(run_id, [Metric("loss", 0.2, 2, T0 + 5), Metric("loss", 0.9, 0, T0 + 9)])
    store.log_metrics(run_id, [Metric("loss", 0.5, 1, T0 + 1), Metric("other", 7.0, 0, T0)])
    store.log_metrics(run_id, [Metric("loss", 0.8, 0, T0 + 3), Metric("loss", 0.1, 10, T0)])
    history = store.metric_history(run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (0, T0 + 3, 0.8), (0, T0 + 9, 0.9), (1, T0 + 1, 0.5), (2, T0 + 5, 0.2), (10, T0, 0.1)]
    assert {m.key for m in history} == {"loss"}
    assert store.metric_history(run_id[:6], "other") == [Metric("other", 7.0, 0, T0)]
    assert store.metric_history(run_id, "never") == []
    with pytest.raises(RunNotFoundError):
        store.metric_history(new_id(), "loss")


def test_latest_metric_is_the_highest_step_and_timestamp_whatever_the_order(
        store: Store) -> None:
    run_id = start(store)

    def latest() -> float:
        value = store.get_run(run_id).metrics["x"]
        assert table_metrics(store.search_runs(), run_id)["x"] == value
        return value

    store.log_metrics(run_id, [Metric("x", 0.5, 5, T0 + 100)])
    store.log_metrics(run_id, [Metric("x", 0.3, 3, T0 + 200)])  # newer clock, older step
    assert latest() == 0.5
    store.log_metrics(run_id, [Metric("x", 0.1, 5, T0 + 50)])  # same step, older time
    assert latest() == 0.5
    store.log_metrics(run_id, [Metric("x", 0.7, 5, T0 + 150)])  # same step, newer time
    assert latest() == 0.7
    store.log_metrics(run_id, [Metric("x", 0.9, 9, T0), Metric("x", 0.8, 7, T0 + 500),
                               Metric("x", 0.6, 8, T0)])  # out of order inside one batch
    assert latest() == 0.9
    ids = {r[0] for r in store.search_runs(where=parse_filter("metrics.x == 0.9")).rows}
    assert ids == {run_id}
    assert len(store.metric_history(run_id, "x")) == 7


def test_metrics_written_at_the_end_merge_with_earlier_ones(store: Store) -> None:
    run_id = start(store)
    store.log_metrics(run_id, [Metric("x", 1.0, 4, T0)])
    finish(store, run_id, metrics=(Metric("x", 2.0, 1, T0 + 9), Metric("y", 3.0, 0, T0)))
    assert store.get_run(run_id).metrics == {"x": 1.0, "y": 3.0}
    assert [m.value for m in store.metric_history(run_id, "x")] == [2.0, 1.0]


def test_a_metrics_history_is_read_from_its_covering_index(store: Store, store_url: str) -> None:
    """A chart's read (every point of one metric, by step then time) walks the index alone
    (migration 0013), and answers in that order."""
    run_id = start(store)
    for step in (3, 1, 2):
        store.log_metrics(run_id, [Metric("loss", step / 10, step, T0 + step)])
    store.log_metrics(run_id, [Metric("acc", 0.5, 1, T0)])
    total, steps, values, times = store.metric_series(run_id, "loss")
    assert (total, steps, values, times) == (3, [1, 2, 3], [0.1, 0.2, 0.3],
                                             [T0 + 1, T0 + 2, T0 + 3])
    if not store_url.startswith("sqlite"):
        return
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT step, value, is_nan, timestamp FROM metrics "
                "WHERE run_id = ? AND key = ? ORDER BY step, timestamp, id", (run_id, "loss")))
    finally:
        engine.dispose()
    assert "COVERING INDEX ix_metrics_series" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


# -- tags ------------------------------------------------------------------------------

def test_tags_are_upserted(store: Store) -> None:
    run_id = start(store, tags={"team": "growth", "stage": "dev"})
    store.set_tags(run_id, {"team": "risk", "owner": "ada"})
    store.set_tags(run_id, {})
    assert store.get_run(run_id).tags == {"team": "risk", "stage": "dev", "owner": "ada"}
    finish(store, run_id, tags={"stage": "prod"})
    assert store.get_run(run_id).tags == {"team": "risk", "stage": "prod", "owner": "ada"}


# -- run ids ---------------------------------------------------------------------------

def test_resolve_run_id(store: Store) -> None:
    one = start(store, id="abcd1111" + "0" * 24)
    two = start(store, id="abcd2222" + "0" * 24)
    assert store.resolve_run_id(one) == one
    assert store.resolve_run_id(one.upper()) == one
    assert store.resolve_run_id("abcd1") == one
    assert store.resolve_run_id("  ABCD2 ") == two
    assert store.get_run("abcd2222").id == two

    def refused(text: str) -> str:
        with pytest.raises(RunNotFoundError) as info:
            store.resolve_run_id(text)
        assert info.value.run_id == text
        return str(info.value)

    assert "several runs start with that" in refused("abcd")
    assert "at least 4 characters" in refused("abc")
    assert "hex digits" in refused("abcz")
    assert "hex digits" in refused("abcd-111")
    assert "hex digits" in refused("")
    assert "no run has that id" in refused("ffff")
    assert "no run has that id" in refused("f" * 32)
    assert "no run has that id" in refused(one + "0")
    assert "%runs" in refused("ffff")  # says where to look
    with pytest.raises(LookupError):
        store.get_run("ffff")


# -- searching -------------------------------------------------------------------------

def test_search_by_experiment_kind_parent_and_pages(store: Store) -> None:
    parent = start(store, experiment="a", kind="tune", start_time=T0)
    kids = [start(store, experiment="a", kind="cell", parent_run_id=parent,
                  start_time=T0 + 1 + i) for i in range(5)]
    job = start(store, experiment="b", kind="job", start_time=T0 + 100)

    def ids(**kw: Any) -> list[str]:
        return [r[0] for r in store.search_runs(**kw).rows]

    assert ids() == [job, *reversed(kids), parent]  # newest first
    assert ids(experiment="a") == [*reversed(kids), parent]
    assert ids(experiment="b") == [job]
    assert ids(experiment="missing") == []
    assert ids(kinds=["tune", "job"]) == [job, parent]
    assert ids(kinds=["deploy"]) == []
    assert ids(parent_run_id=parent) == list(reversed(kids))
    assert ids(parent_run_id=parent, kinds=["tune"]) == []

    page = store.search_runs(experiment="a", limit=2, offset=1)
    assert [r[0] for r in page.rows] == [kids[3], kids[2]]
    assert page.total == 6
    assert all(len(col) == 2 for col in (*page.params.values(), *page.metrics.values()))
    last = store.search_runs(experiment="a", limit=4, offset=4)
    assert ([r[0] for r in last.rows], last.total) == ([kids[0], parent], 6)
    rest = store.search_runs(offset=5)
    assert ([r[0] for r in rest.rows], rest.total) == ([kids[0], parent], 7)
    none = store.search_runs(limit=0)
    assert (none.rows, none.total) == ([], 7)
    full = store.search_runs()
    assert full.total == 7


def populate(store: Store) -> dict[str, str]:
    """Five runs covering every kind of value; returns {label: run id}."""
    me, token = os.getpid(), liveness.process_token()
    ids = {}
    ids["baseline"] = start(
        store, experiment="churn", name="baseline", start_time=T0, user="ada", host="box",
        notebook_path="/nb/churn.ipynb", cell_id="c1", git_commit="aaaa",
        params={"C": 1, "solver": "lbfgs", "flag": True, "depth": 3}, tags={"team": "growth"})
    finish(store, ids["baseline"], end_time=T0 + 30,
           metrics=(Metric("acc", 0.8), Metric("loss", 0.5)))
    ids["strong"] = start(
        store, experiment="churn", name="strong", start_time=T0 + 100, user="bob",
        notebook_path="/nb/churn.ipynb", cell_id="c2",
        params={"C": 0.1, "solver": "saga", "flag": False, "depth": None},
        tags={"team": "risk", "priority": "1"})
    finish(store, ids["strong"], end_time=T0 + 400,
           metrics=(Metric("acc", 0.93), Metric("loss", 0.3), Metric("val-loss", 0.2)))
    ids["unnamed"] = start(
        store, experiment="churn", start_time=T0 + 200, user="ada",
        params={"C": 10, "solver": None})
    finish(store, ids["unnamed"], status="failed", end_time=T0 + 205, error="boom",
           metrics=(Metric("acc", NAN),))
    ids["tuner"] = start(
        store, experiment="churn", name="tuner", kind="tune", start_time=T0 + 300,
        pid=me, process_token=token, params={"C": "auto", "flag": 1},
        tags={"team": "growth", "priority": "2"})
    store.log_metrics(ids["tuner"], [Metric("acc", INF)])
    ids["other"] = start(
        store, experiment="retail", name="other", kind="job", start_time=T0 + 400,
        user="carol", parent_run_id=ids["tuner"], params={"depth": 3.0},
        tags={"team": "ops"})
    finish(store, ids["other"], end_time=T0 + 460, metrics=(Metric("rmse", 4.5),))
    return ids


def labels(store: Store, ids: dict[str, str], **kw: Any) -> list[str]:
    names = {v: k for k, v in ids.items()}
    return [names[r[0]] for r in store.search_runs(**kw).rows]


def check_filters(store: Store, ids: dict[str, str], cases: Sequence[tuple[str, set[str]]]
                  ) -> None:
    wrong = {}
    for expression, expected in cases:
        got = set(labels(store, ids, where=parse_filter(expression)))
        if got != expected:
            wrong[expression] = (sorted(got), sorted(expected))
    assert not wrong, wrong  # expression: (got, expected)


ALL = {"baseline", "strong", "unnamed", "tuner", "other"}

# A comparison holds where the field has a value; `!=` and `not in` hold for any value that
# differs, of any type (a string param differs from every number, NaN from every number);
# `== None` means "not logged"; `not` negates exactly, so `not X` is everything but X.


@pytest.mark.parametrize("sparse", [5000, 0], ids=["from-index", "run-by-run"])
def test_filters_on_metrics(store: Store, monkeypatch: pytest.MonkeyPatch, sparse: int) -> None:
    """Both ways a metric filter is searched (starting from the metric's index when few
    runs pass it, else checking each run) find the same runs."""
    from nbmlops.store.sql import search

    monkeypatch.setattr(search, "_SPARSE", sparse)
    ids = populate(store)
    check_filters(store, ids, [
        ("metrics.acc > 0.85", {"strong", "tuner"}),  # +inf is greater than every number
        ("metrics.acc >= 0.8", {"baseline", "strong", "tuner"}),
        ("metrics.acc < 0.85", {"baseline"}),  # NaN is not less than anything
        ("metrics.acc <= 0.93", {"baseline", "strong"}),
        ("metrics.acc == 0.8", {"baseline"}),
        ("metrics.acc > 1e308", {"tuner"}),
        ("metrics.acc != 0.8", {"strong", "unnamed", "tuner"}),
        ("metrics.acc in (0.8, 0.93)", {"baseline", "strong"}),
        ("metrics.acc not in (0.8, 0.93)", {"unnamed", "tuner"}),
        ("metrics.acc == None", {"other"}),  # NaN was logged
        ("metrics.acc != None", {"baseline", "strong", "unnamed", "tuner"}),
        ("metrics.loss != 0.5", {"strong"}),
        ('metrics["val-loss"] < 0.5', {"strong"}),
        ("0.25 < metrics.loss < 0.6", {"baseline", "strong"}),
        ("0.4 < metrics.loss < 0.6", {"baseline"}),
        ("not metrics.acc > 0.85", {"baseline", "unnamed", "other"}),
        ("metrics.rmse > 4", {"other"}),
        ("metrics.missing == None", ALL),
        ("metrics.missing > 0", set()),
    ])
    with pytest.raises(QueryError, match="metrics are numbers"):
        store.search_runs(where=parse_filter("metrics.acc == 'high'"))
    with pytest.raises(QueryError, match="metrics are numbers"):
        store.search_runs(where=parse_filter("metrics.acc in (1, True)"))


def test_filters_on_params(store: Store) -> None:
    ids = populate(store)
    check_filters(store, ids, [
        ("params.C == 1", {"baseline"}),
        ("params.C == 1.0", {"baseline"}),
        ("params.C < 1", {"strong"}),
        ("params.C >= 1", {"baseline", "unnamed"}),  # "auto" is not a number
        ("params.C != 1", {"strong", "unnamed", "tuner"}),  # ... but it is not 1 either
        ("params.C == 'auto'", {"tuner"}),
        ("params.C != 'auto'", {"baseline", "strong", "unnamed"}),
        ("params.C in (0.1, 10)", {"strong", "unnamed"}),
        ("params.C not in (0.1, 10)", {"baseline", "tuner"}),
        ("params.solver in ('lbfgs', 'saga')", {"baseline", "strong"}),
        ("params.solver not in ('lbfgs',)", {"strong"}),
        ("params.solver == None", {"unnamed", "tuner", "other"}),  # None logged = not logged
        ("params.solver != None", {"baseline", "strong"}),
        ("params.solver in ('saga', None)", {"strong", "unnamed", "tuner", "other"}),
        ("params.solver not in ('saga', None)", {"baseline"}),
        ("params.flag == True", {"baseline"}),  # True is not 1
        ("params.flag == 1", {"tuner"}),
        ("params.flag != True", {"strong", "tuner"}),
        ("params.flag == False", {"strong"}),
        ("params.depth == 3", {"baseline", "other"}),  # 3 == 3.0
        ("params.depth == None", {"strong", "unnamed", "tuner"}),
        ("params.depth >= 3 and params.C == 1", {"baseline"}),
        ("not params.C == 1", {"strong", "unnamed", "tuner", "other"}),
        ("params.nope == 1", set()),
    ])


def test_filters_on_tags(store: Store) -> None:
    ids = populate(store)
    check_filters(store, ids, [
        ("tags.team == 'growth'", {"baseline", "tuner"}),
        ("tags.team != 'growth'", {"strong", "other"}),
        ("tags.team in ('risk', 'ops')", {"strong", "other"}),
        ("tags.team not in ('risk', 'ops')", {"baseline", "tuner"}),
        ("tags.team == None", {"unnamed"}),
        ("tags.team != None", {"baseline", "strong", "tuner", "other"}),
        ("tags.team in ('ops', None)", {"unnamed", "other"}),
        ("tags.priority == 1", {"strong"}),  # tags are text: 1 means "1"
        ("tags.priority > '1'", {"tuner"}),
        ("not tags.team == 'growth'", {"strong", "unnamed", "other"}),
    ])


def test_filters_on_attributes(store: Store) -> None:
    ids = populate(store)
    check_filters(store, ids, [
        ("status == 'finished'", {"baseline", "strong", "other"}),
        ("status in ('failed', 'crashed')", {"unnamed"}),
        ("status not in ('finished',)", {"unnamed", "tuner"}),
        ("kind == 'tune'", {"tuner"}),
        ("experiment == 'retail'", {"other"}),
        (f"run_id == '{ids['strong']}'", {"strong"}),
        ("name == 'baseline'", {"baseline"}),
        ("name != 'baseline'", {"strong", "tuner", "other"}),  # the unnamed run has no name
        ("not name == 'baseline'", {"strong", "unnamed", "tuner", "other"}),
        ("name == None", {"unnamed"}),
        ("name in ('strong', None)", {"strong", "unnamed"}),
        ("name not in ('strong', None)", {"baseline", "tuner", "other"}),
        ("user == 'ada'", {"baseline", "unnamed"}),
        ("not user == 'ada'", {"strong", "tuner", "other"}),
        ("user == None", {"tuner"}),
        ("host == 'box'", {"baseline"}),
        ("notebook == '/nb/churn.ipynb'", {"baseline", "strong"}),
        ("cell_id == 'c2'", {"strong"}),
        ("git_commit == 'aaaa'", {"baseline"}),
        (f"parent == '{ids['tuner']}'", {"other"}),
        ("parent == None", ALL - {"other"}),
        ("start >= '2026-01-01T00:03:20+00:00'", {"unnamed", "tuner", "other"}),
        ("start < '2026-01-01T00:01:40+00:00'", {"baseline"}),
        (f"start <= {T0 + 100}", {"baseline", "strong"}),
        ("end == None", {"tuner"}),
        ("end > '2026-01-01T00:05:00+00:00'", {"strong", "other"}),
        ("duration_s > 30", {"strong", "other"}),
        ("duration_s <= 30", {"baseline", "unnamed"}),
        ("duration_s == None", {"tuner"}),
        ("not duration_s > 30", {"baseline", "unnamed", "tuner"}),
        ("duration_s in (5, 60)", {"unnamed", "other"}),
    ])


def test_filters_combine(store: Store) -> None:
    ids = populate(store)
    check_filters(store, ids, [
        ("metrics.acc > 0.5 and params.solver == 'saga'", {"strong"}),
        ("tags.team == 'ops' or metrics.acc == 0.8", {"baseline", "other"}),
        ("tags.team in ('growth', 'risk') or not name == 'baseline'", ALL),
        ("not (status == 'finished' or kind == 'tune')", {"unnamed"}),
        ("(metrics.acc > 0.9 or params.C == 10) and user == 'bob'", {"strong"}),
        ("not not status == 'failed'", {"unnamed"}),
        ("experiment == 'churn' and not (metrics.acc == None or metrics.acc < 0.9)",
         {"strong", "unnamed", "tuner"}),
    ])
    table = store.search_runs(experiment="churn", where=parse_filter("tags.team == 'growth'"),
                              kinds=["cell"])
    assert ([r[0] for r in table.rows], table.total) == ([ids["baseline"]], 1)


def test_sorts(store: Store) -> None:
    ids = populate(store)
    wrong = {}
    for spec, expected in [
        ("", ["other", "tuner", "unnamed", "strong", "baseline"]),  # newest first
        ("start", ["baseline", "strong", "unnamed", "tuner", "other"]),
        ("-start", ["other", "tuner", "unnamed", "strong", "baseline"]),
        # missing (and NaN) metrics come last in both directions
        ("-metrics.acc", ["tuner", "strong", "baseline", "other", "unnamed"]),
        ("metrics.acc", ["baseline", "strong", "tuner", "other", "unnamed"]),
        ("metrics.rmse", ["other", "tuner", "unnamed", "strong", "baseline"]),
        ("-metrics.rmse", ["other", "tuner", "unnamed", "strong", "baseline"]),
        # numbers by value, then text, then missing
        ("params.C", ["strong", "baseline", "unnamed", "tuner", "other"]),
        ("-params.C", ["unnamed", "baseline", "strong", "tuner", "other"]),
        ("tags.team", ["tuner", "baseline", "other", "strong", "unnamed"]),
        ("-tags.team", ["strong", "other", "tuner", "baseline", "unnamed"]),
        ("name", ["baseline", "other", "strong", "tuner", "unnamed"]),
        ("-name", ["tuner", "strong", "other", "baseline", "unnamed"]),
        ("duration_s", ["unnamed", "baseline", "other", "strong", "tuner"]),
        ("-duration_s", ["strong", "other", "baseline", "unnamed", "tuner"]),
        ("experiment,start", ["baseline", "strong", "unnamed", "tuner", "other"]),
        ("-experiment,-metrics.acc", ["other", "tuner", "strong", "baseline", "unnamed"]),
        ("status,-params.C", ["unnamed", "baseline", "strong", "other", "tuner"]),
        ("tags.team,metrics.acc", ["baseline", "tuner", "other", "strong", "unnamed"]),
    ]:
        got = labels(store, ids, order_by=parse_sort(spec))
        if got != expected:
            wrong[spec] = (got, expected)
    assert not wrong, wrong  # spec: (got, expected)
    page = store.search_runs(order_by=parse_sort("-metrics.acc"), limit=2, offset=2)
    assert ([r[0] for r in page.rows], page.total) == ([ids["baseline"], ids["other"]], 5)


def sortable_runs(store: Store) -> None:
    """40 runs for paging checks: metric "m" with ties, NaN and gaps; candidates; two
    experiments; a second metric and a param to filter and sort by."""
    for i in range(40):
        kind = "candidate" if i % 7 == 3 else "cell"
        run_id = start(store, experiment="ab"[i % 2], name=f"r{i:02d}", kind=kind,
                       start_time=T0 + (i * 37) % 40, params={"p": i % 5})
        m = (NAN if i % 9 == 4 else float(i % 6)) if i % 4 else None  # ties, NaN, missing
        metrics = (Metric("other", (i * 0.13) % 1),) + (() if m is None else (Metric("m", m),))
        finish(store, run_id, metrics=metrics)


@pytest.mark.parametrize(("window", "sparse"), [(2000, 5000), (3, 0)],
                         ids=["defaults", "small-window-run-by-run"])
def test_pages_sorted_by_a_metric_are_slices_of_the_whole_sort(
        store: Store, monkeypatch: pytest.MonkeyPatch, window: int, sparse: int) -> None:
    """A page sorted by a metric is read through the metric's index (and, past a small
    window, sorted the usual way), its filter searched from the filter's index or run by
    run: whatever the path, it is the same slice of the order."""
    from nbmlops.store.sql import search

    monkeypatch.setattr(search, "_METRIC_WINDOW", window)
    monkeypatch.setattr(search, "_SPARSE", sparse)
    sortable_runs(store)
    wrong = {}
    for spec in ("-metrics.m", "metrics.m", "-metrics.m,-name", "metrics.m,params.p,start"):
        for where in (None, "metrics.other > 0.3", "params.p < 2", "metrics.other > 0.99"):
            for kw in ({}, {"kinds": ["cell"]}, {"experiment": "a"}):
                query = {"order_by": parse_sort(spec), "where": parse_filter(where), **kw}
                whole = [r[0] for r in store.search_runs(**query).rows]
                for limit in (1, 7, 50):
                    for offset in range(0, len(whole) + 2, 3):
                        page = store.search_runs(limit=limit, offset=offset, **query)
                        got = ([r[0] for r in page.rows], page.total, page.total_exact)
                        expected = (whole[offset:offset + limit], len(whole), True)
                        if got != expected:
                            wrong[(spec, where, str(kw), limit, offset)] = (got, expected)
    assert not wrong, dict(list(wrong.items())[:5])


def test_a_capped_count_says_when_more_runs_match(store: Store) -> None:
    sortable_runs(store)
    where = parse_filter("metrics.other >= 0")  # all 40
    capped = store.search_runs(where=where, limit=5, count_limit=10)
    assert (len(capped.rows), capped.total, capped.total_exact) == (5, 10, False)
    enough = store.search_runs(where=where, limit=5, count_limit=41)
    assert (enough.total, enough.total_exact) == (40, True)
    sorted_page = store.search_runs(where=where, order_by=parse_sort("-metrics.m"), limit=5,
                                    offset=30, count_limit=10)
    assert (len(sorted_page.rows), sorted_page.total, sorted_page.total_exact) == (5, 10, False)
    last = store.search_runs(where=where, limit=5, offset=38, count_limit=10)
    assert (len(last.rows), last.total, last.total_exact) == (2, 40, True)  # the end is seen
    # no filter: the index counts every run, whatever the cap
    whole = store.search_runs(kinds=["cell", "candidate"], limit=5, count_limit=10)
    assert (whole.total, whole.total_exact) == (40, True)


def test_a_pages_total_follows_every_write_and_sqlite_counts_once_per_change(
        store: Store, store_url: str) -> None:
    """The runs listing's total, asked again on every page and poll, is counted afresh only
    after the store changed (SQLite); it stays exact after writes through this store,
    through another one, and from another process."""
    counts: list[str] = []
    engine = store._engine  # type: ignore[attr-defined]

    @sa.event.listens_for(engine, "before_cursor_execute")
    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "count(" in statement.lower():
            counts.append(statement)

    for i in range(3):
        finish(store, start(store, start_time=T0 + i))

    def total() -> int:
        table = store.search_runs(kinds=["cell", "notebook"], limit=2)
        assert len(table.rows) == 2
        assert table.total_exact
        return table.total

    assert [total() for _ in range(4)] == [3] * 4
    sqlite = store_url.startswith("sqlite")
    assert len(counts) == (1 if sqlite else 4)  # PostgreSQL counts every time
    finish(store, start(store, start_time=T0 + 10))  # this store's own write
    assert (total(), total()) == (4, 4)
    other = open_store(store_url)  # another connection pool
    try:
        finish(other, start(other, start_time=T0 + 11))
    finally:
        other.close()
    assert (total(), total()) == (5, 5)
    script = ("import sys, time, uuid\n"
              "from nbmlops._types import NewRun, RunEnd\n"
              "from nbmlops.store import open_store\n"
              "s = open_store(sys.argv[1]); rid = uuid.uuid4().hex\n"
              "s.start_run(NewRun(id=rid, experiment='exp', name=None, kind='cell', "
              "start_time=time.time()))\n"
              "s.end_run(rid, RunEnd(status='finished', end_time=time.time()))\n")
    subprocess.run([sys.executable, "-c", script, store_url], check=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (total(), total()) == (6, 6)
    if sqlite:
        assert len(counts) == 4  # once at the start, once after each of the three writes


# -- liveness --------------------------------------------------------------------------

def test_heartbeat_refreshes_running_runs_only(store: Store, store_url: str) -> None:
    now = time.time()
    running, done = start(store, start_time=now - 100), start(store, start_time=now - 100)
    finish(store, done, end_time=now - 50)
    store.heartbeat([running, done, new_id()], now)
    store.heartbeat([], now + 1)
    assert heartbeat_at(store_url, running) == now
    assert heartbeat_at(store_url, done) == now - 50
    assert store.get_run(done).status == "finished"


def test_reap_marks_runs_of_a_dead_local_process_crashed(store: Store) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        token = liveness.process_token(child.pid)
        assert liveness.owner_is_dead(child.pid, token) is False
    finally:
        child.kill()
        child.wait()
    assert liveness.owner_is_dead(child.pid, token) is True
    now = time.time()
    dead = start(store, pid=child.pid, process_token=token, start_time=now - 5)
    mine = start(store, pid=os.getpid(), process_token=liveness.process_token(),
                 start_time=now - 10 * liveness.STALE_AFTER_S)  # silent, but alive
    # our own pid with another start time: the pid was reused by a new process
    reused = start(store, pid=os.getpid(),
                   process_token=liveness.process_token().rsplit("|", 1)[0] + "|1",
                   start_time=now - 5)

    assert sorted(store.reap_orphans(now)) == sorted([dead, reused])
    assert store.reap_orphans(now) == []
    rec = store.get_run(dead)
    assert rec.status == "crashed"
    assert rec.end_time == utc(now - 5)  # its last sign of life
    assert rec.error is not None
    assert "stopped without ending it" in rec.error
    assert utc(now - 5).isoformat() in rec.error  # type: ignore[union-attr]
    assert store.get_run(reused).status == "crashed"
    assert store.get_run(mine).status == "running"
    assert store.info().runs_by_status["crashed"] == 2


def test_reap_falls_back_on_the_heartbeat_for_other_hosts(store: Store) -> None:
    now = time.time()
    stale = now - liveness.STALE_AFTER_S - 5
    old = start(store, pid=4242, process_token=FOREIGN_TOKEN, start_time=stale)
    fresh = start(store, pid=4242, process_token=FOREIGN_TOKEN,
                  start_time=now - liveness.STALE_AFTER_S + 60)
    beating = start(store, pid=4242, process_token=FOREIGN_TOKEN, start_time=stale)
    anonymous = start(store, start_time=stale)  # no pid, no token
    finished = start(store, pid=4242, process_token=FOREIGN_TOKEN, start_time=stale - 10)
    finish(store, finished, end_time=stale)
    store.heartbeat([beating], now - 30)

    assert sorted(store.reap_orphans(now)) == sorted([old, anonymous])
    statuses = {i: store.get_run(i).status for i in (old, fresh, beating, anonymous, finished)}
    assert statuses == {old: "crashed", fresh: "running", beating: "running",
                        anonymous: "crashed", finished: "finished"}
    assert store.get_run(old).end_time == utc(stale)
    # later, the quiet one goes stale too
    assert sorted(store.reap_orphans(now + liveness.STALE_AFTER_S)) == sorted([fresh, beating])


def test_opening_a_store_reaps_unless_told_not_to(store: Store, store_url: str) -> None:
    old = start(store, pid=4242, process_token=FOREIGN_TOKEN,
                start_time=time.time() - 2 * liveness.STALE_AFTER_S)
    quiet = open_store(store_url, reap=False)
    try:
        assert quiet.get_run(old).status == "running"
    finally:
        quiet.close()
    other = open_store(store_url)
    try:
        assert other.get_run(old).status == "crashed"
    finally:
        other.close()


# -- info ------------------------------------------------------------------------------

def test_info_counts(store: Store) -> None:
    empty = store.info()
    assert (empty.experiments, empty.datasets, empty.artifacts, empty.artifact_bytes) == (
        0, 0, 0, 0)
    assert dict(empty.runs_by_status) == dict.fromkeys(RUN_STATUSES, 0)
    assert (empty.revision, empty.head_revision) == (HEAD, HEAD)
    assert empty.url == store.url

    a = start(store, experiment="one", inputs=(DatasetLink("X", "input", dataset("X")),))
    b = start(store, experiment="two")
    c = start(store, experiment="two")
    finish(store, a, artifacts=(RunArtifact("m", "model", artifact("m", size=1000)),),
           datasets=(DatasetLink("out", "output", dataset("Y")),))
    finish(store, b, status="failed", error="x",
           artifacts=(RunArtifact("m", "model", artifact("m", size=1000)),
                      RunArtifact("f", "file", artifact("f", size=24))))
    info = store.info()
    assert info.experiments == 2
    assert dict(info.runs_by_status) == {"running": 1, "finished": 1, "failed": 1,
                                         "interrupted": 0, "crashed": 0}
    assert (info.datasets, info.artifacts, info.artifact_bytes) == (2, 2, 1024)
    assert store.get_run(c).status == "running"


def test_a_live_process_without_a_start_time_is_left_to_the_heartbeat() -> None:
    # no /proc start time (macOS, or a token written there): a live pid proves nothing,
    # since pids are reused, so the heartbeat decides
    token = liveness.process_token().rsplit("|", 1)[0] + "|"
    assert liveness.owner_is_dead(os.getpid(), token) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert liveness.owner_is_dead(child.pid, liveness.process_token().rsplit("|", 2)[0]
                                  + f"|{child.pid}|") is True


def test_record_runs_writes_complete_runs_in_one_go(store: Store) -> None:
    parent = start(store)
    now = time.time()
    children = []
    for i in range(3):
        new = NewRun(id=new_id(), experiment="churn", name=f"candidate {i}", kind="candidate",
                     start_time=now, parent_run_id=parent, params={"C": 0.1 * (i + 1)})
        end = RunEnd(status="finished" if i else "failed", end_time=now + 1,
                     error=None if i else "ValueError: bad C",
                     metrics=(Metric("accuracy", 0.5 + i / 10, 0, now),))
        children.append((new, end))
    store.record_runs(children)
    table = store.search_runs(parent_run_id=parent, order_by=parse_sort("name"))
    assert [r[2] for r in table.rows] == ["candidate 0", "candidate 1", "candidate 2"]
    assert [r[4] for r in table.rows] == ["failed", "finished", "finished"]
    assert [table.metrics_of(r[0]) for r in table.rows] == [
        {"accuracy": 0.5}, {"accuracy": 0.6}, {"accuracy": 0.7}]
    assert store.get_run(children[0][0].id).error == "ValueError: bad C"


def test_feedback_upserts_keep_the_latest_and_read_by_serve_time(store: Store) -> None:
    from nbmlops._types import FeedbackLabel

    def label(row_id: str, served_at: float, value: Any, **kw: Any) -> FeedbackLabel:
        return FeedbackLabel(deployment="api", row_id=row_id, model="churn", version=1,
                             served_at=served_at, label=value, received_at=served_at + 5,
                             **kw)

    assert store.record_feedback([label("a-0", 10.0, 1, prediction=0, scores=(0.6, 0.4),
                                        classes=("0", "1")), label("b-0", 20.0, "no")]) == []
    assert store.record_feedback([label("a-0", 10.0, 0), label("c-0", 30.0, 2.5)]) == ["a-0"]
    got = store.list_feedback("api")
    assert [(g.row_id, g.label) for g in got] == [("a-0", 0), ("b-0", "no"), ("c-0", 2.5)]
    assert (got[0].prediction, got[0].scores) == (None, None)  # the latest row, whole
    assert [g.row_id for g in store.list_feedback("api", since=15.0, until=30.0)] == ["b-0"]
    assert store.list_feedback("other") == []
