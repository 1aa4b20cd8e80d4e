"""The registry's records on every store backend: versions, aliases, rollback, the audit log."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from nbmlops._types import Actor, ArtifactRef, NewModelVersion, NewRun, RunEnd
from nbmlops.errors import ModelNotFoundError
from nbmlops.store import Store, open_store

ADA = Actor(user="ada", host="laptop")
BOB = Actor(user="bob", host="ci")


def blob(n: int) -> ArtifactRef:
    return ArtifactRef(sha256=f"{n:064x}", size=10 + n, media_type="application/x")


def new_version(model: str = "churn", n: int = 1, **kw: object) -> NewModelVersion:
    return NewModelVersion(model=model, run_id=kw.pop("run_id", None),  # type: ignore[arg-type]
                           flavor="sklearn", format="skops", artifact=blob(n),
                           source=f"{n:064x}"[:2] + "/" + f"{n:064x}",
                           trusted_types=("sklearn.tree._tree.Tree",),
                           signature={"inputs": [["a", "float64"]], "output": "int64"},
                           metrics={"accuracy": 0.8 + n / 100},
                           files={"card.html": blob(100 + n)}, **kw)  # type: ignore[arg-type]


def test_versions_count_up_and_keep_what_was_registered(store: Store) -> None:
    run_id = "a" * 32
    store.start_run(NewRun(id=run_id, experiment="e", name=None, kind="cell",
                           start_time=time.time()))
    store.end_run(run_id, RunEnd(status="finished", end_time=time.time()))
    v1 = store.create_model_version(new_version(run_id=run_id, description="first"),
                                    actor=ADA, reason="baseline")
    v2 = store.create_model_version(new_version(n=2), actor=BOB, alias="staging")
    assert (v1.model, v1.version, v1.run_id, v1.created_by) == ("churn", 1, run_id, "ada")
    assert v1.trusted_types == ("sklearn.tree._tree.Tree",)
    assert v1.signature == {"inputs": [["a", "float64"]], "output": "int64"}
    assert v1.metrics == {"accuracy": 0.81}
    assert v1.files == {"card.html": f"{101:064x}"}
    assert v1.description == "first"
    assert (v2.version, v2.aliases) == (2, ("staging",))
    assert store.get_model_version("churn") == v2  # the latest
    assert store.get_model_version("churn", version=1) == v1
    assert store.get_model_version("churn", alias="staging").version == 2
    [model] = store.list_models()
    assert (model.name, model.latest_version, model.versions, model.aliases) == (
        "churn", 2, 2, {"staging": 2})
    assert [v.version for v in store.list_versions("churn")] == [1, 2]
    with pytest.raises(ModelNotFoundError, match="no such version"):
        store.get_model_version("churn", version=9)
    with pytest.raises(ModelNotFoundError, match="no such alias"):
        store.get_model_version("churn", alias="production")
    with pytest.raises(ModelNotFoundError, match="no registered model has that name"):
        store.get_model_version("nope")


def test_promote_and_rollback_walk_the_alias_history(store: Store) -> None:
    for n in (1, 2, 3):
        store.create_model_version(new_version(n=n), actor=ADA)
    moves = [store.set_alias("churn", "production", v, actor=BOB, reason=f"to {v}")
             for v in (1, 2, 3)]
    assert [(m.from_version, m.to_version) for m in moves if m] == [(None, 1), (1, 2), (2, 3)]
    assert store.set_alias("churn", "production", 3, actor=BOB) is None  # already there
    back = store.rollback_alias("churn", "production", actor=ADA, reason="regression")
    assert (back.action, back.from_version, back.to_version) == ("rollback", 3, 2)
    assert store.get_model_version("churn", alias="production").version == 2
    assert store.rollback_alias("churn", "production", actor=ADA).to_version == 1
    with pytest.raises(ModelNotFoundError, match="nothing to roll back to"):
        store.rollback_alias("churn", "production", actor=ADA)
    assert store.set_alias("churn", "production", 3, actor=BOB).from_version == 1  # type: ignore[union-attr]
    events = store.audit_events("churn", alias="production")
    assert [(e.action, e.from_version, e.to_version, e.user) for e in events] == [
        ("promote", None, 1, "bob"), ("promote", 1, 2, "bob"), ("promote", 2, 3, "bob"),
        ("rollback", 3, 2, "ada"), ("rollback", 2, 1, "ada"), ("promote", 1, 3, "bob")]
    assert events[3].reason == "regression"
    assert [e.action for e in store.audit_events("churn")][:3] == ["register"] * 3
    with pytest.raises(ModelNotFoundError, match="no such version"):
        store.set_alias("churn", "production", 7, actor=BOB)


def _promote(url: str, version: int, go: str) -> None:
    import os

    store = open_store(url)
    while not os.path.exists(go):
        time.sleep(0.005)
    store.set_alias("churn", "production", version, actor=Actor(f"p{version}", "h"))


def test_two_concurrent_promotions_are_serialised(store: Store, store_url: str,
                                                  tmp_path: object) -> None:
    for n in (1, 2, 3):
        store.create_model_version(new_version(n=n), actor=ADA)
    store.set_alias("churn", "production", 1, actor=ADA)
    go = str(tmp_path) + "/go"  # type: ignore[operator]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_promote, args=(store_url, v, go)) for v in (2, 3)]
    for p in procs:
        p.start()
    time.sleep(2.0)
    open(go, "w").close()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    events = store.audit_events("churn", alias="production")
    moves = [(e.from_version, e.to_version) for e in events]
    # both moved, one after the other: the second starts from where the first ended
    assert moves[0] == (None, 1)
    assert moves[1][0] == 1
    assert moves[2][0] == moves[1][1]
    assert {moves[1][1], moves[2][1]} == {2, 3}
    final = store.get_model_version("churn", alias="production").version
    assert final == moves[2][1]
    assert store.rollback_alias("churn", "production", actor=ADA).to_version == moves[1][1]
