"""The jupyter_server extension's REST API (``/nbmlops/api/…``), through a real server
(pytest-jupyter's ``jp_fetch``) on a store filled through nbmlops' Python API."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

pytest_plugins = ["pytest_jupyter.jupyter_server"]

ROOT = Path(__file__).resolve().parents[1]
API = ("nbmlops", "api")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbmlops": True}}}


@pytest.fixture
def filled(store_env: Path) -> dict[str, Any]:
    """Three runs (one failed), model ``churn`` v1 (from a run, with its training data)
    and v2, ``production`` moved 1 → 2, a drift check, and a deployment record of v1."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api
    from nbmlops._types import Actor, NewDeployment

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] > 0).astype(int)
    with nbmlops.track("churn", "baseline", params={"C": 1.0}) as base:
        nbmlops.log_metric("accuracy", 0.8)
    with nbmlops.track("churn", "tuned", params={"C": 0.1}) as tuned:
        nbmlops.log_input(X, "train")
        model = LogisticRegression(C=0.1).fit(X, y)
        nbmlops.log_metric("accuracy", 0.9)
        tuned.log_model(model)  # so the registered version links this run
    v1 = nbmlops.register(model, name="churn", data=X)
    with pytest.raises(ZeroDivisionError), nbmlops.track("other", "broken"):
        1 / 0  # noqa: B018
    v2 = nbmlops.register(LogisticRegression(C=1.0).fit(X, y), name="churn", data=X)
    nbmlops.promote("churn", 1, "production", reason="first")
    nbmlops.promote("churn", 2, "production", reason="better")
    report = nbmlops.drift(X, X.assign(a=X["a"] + 3.0))
    store = api.workspace().store
    dep = store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="churn-api", model="churn", alias=None, version=1,
        url="http://127.0.0.1:1", workers=1, pid=os.getpid(), process_token="t",
        user="me", host="here", started_at=time.time()), actor=Actor(user="me", host="here"))
    return {"base": base.id, "tuned": tuned.id, "v1": v1, "v2": v2, "drift": report.run_id,
            "deployment": dep}


async def get(jp_fetch: Any, *path: str, **params: Any) -> Any:
    response: HTTPResponse = await jp_fetch(*API, *path, params=params)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def fail(jp_fetch: Any, *path: str, code: int, method: str = "GET",
               body: str | None = None, **params: Any) -> str:
    response: HTTPResponse = await jp_fetch(*API, *path, params=params, method=method,
                                            body=body, raise_error=False)
    assert response.code == code, response.body
    answer = json.loads(response.body)
    assert set(answer) == {"error"}
    assert "Traceback" not in answer["error"]
    return str(answer["error"])


# -- reads ----------------------------------------------------------------------------------

async def test_runs_list_filter_sort_and_page(jp_fetch: Any, filled: dict[str, Any]) -> None:
    page = await get(jp_fetch, "runs")
    assert page["total"] == 4
    assert page["limit"] == 50
    assert page["offset"] == 0
    names = [r["name"] for r in page["items"]]
    assert set(names) >= {"baseline", "tuned", "broken"}
    tuned = next(r for r in page["items"] if r["run_id"] == filled["tuned"])
    assert tuned["params"] == {"C": 0.1}
    assert tuned["metrics"] == {"accuracy": 0.9}
    assert tuned["experiment"] == "churn"
    assert tuned["status"] == "finished"

    churn = await get(jp_fetch, "runs", experiment="churn", sort="-metrics.accuracy")
    assert [r["name"] for r in churn["items"]] == ["tuned", "baseline"]
    best = await get(jp_fetch, "runs", where="metrics.accuracy > 0.85")
    assert [r["run_id"] for r in best["items"]] == [filled["tuned"]]
    failed = await get(jp_fetch, "runs", status="failed")
    assert [r["name"] for r in failed["items"]] == ["broken"]
    named = await get(jp_fetch, "runs", name="baseline")
    assert [r["run_id"] for r in named["items"]] == [filled["base"]]

    first = await get(jp_fetch, "runs", limit=2, offset=0, sort="start")
    rest = await get(jp_fetch, "runs", limit=2, offset=2, sort="start")
    assert first["total"] == rest["total"] == 4
    assert len(first["items"]) == len(rest["items"]) == 2
    ordered = [r["run_id"] for r in (await get(jp_fetch, "runs", sort="start"))["items"]]
    assert [r["run_id"] for r in first["items"] + rest["items"]] == ordered
    beyond = await get(jp_fetch, "runs", offset=10)
    assert beyond["items"] == []
    assert beyond["total"] == 4


@pytest.fixture
def many(store_env: Path) -> list[dict[str, Any]]:
    """1,200 finished runs (every 7th failed) in two experiments, written in one bulk
    transaction, one a minute; what each is, oldest first."""
    from nbmlops import api
    from nbmlops._types import Metric, NewRun, RunEnd

    first = time.time() - 1200 * 60
    made, written = [], []
    for i in range(1200):
        run: dict[str, Any] = {
            "run_id": uuid.uuid4().hex, "experiment": f"e{i % 2}", "name": f"run-{i % 10}",
            "status": "failed" if i % 7 == 0 else "finished", "score": (i * 37) % 1000}
        start = first + i * 60
        made.append(run)
        written.append((
            NewRun(id=run["run_id"], experiment=run["experiment"], name=run["name"],
                   kind="cell", start_time=start, params={"i": i}, tags={"even": str(i % 2)}),
            RunEnd(status=run["status"], end_time=start + 1.5,
                   metrics=(Metric("score", run["score"] / 1000, 0, start),))))
    api.workspace().store.record_runs(written)
    return made


async def test_runs_are_paged_by_the_store(jp_fetch: Any, many: list[dict[str, Any]]) -> None:
    newest = many[::-1]
    page = await get(jp_fetch, "runs", limit=100, offset=250)
    assert (page["total"], page["limit"], page["offset"]) == (1200, 100, 250)
    assert [r["run_id"] for r in page["items"]] == [r["run_id"] for r in newest[250:350]]
    row = page["items"][0]
    assert row["params"] == {"i": 1200 - 1 - 250}
    assert row["tags"] == {"even": str((1200 - 1 - 250) % 2)}
    assert row["duration_s"] == 1.5
    assert row["start"].endswith("Z")

    last = await get(jp_fetch, "runs", limit=500, offset=1100)
    assert [r["run_id"] for r in last["items"]] == [r["run_id"] for r in newest[1100:]]
    assert last["total"] == 1200

    # status and name filters, a where filter and a sort all paged together
    wanted = sorted((r for r in many if r["status"] == "finished" and r["name"] == "run-3"
                     and r["experiment"] == "e1" and r["score"] > 200),
                    key=lambda r: (-r["score"], r["run_id"]))
    query = {"experiment": "e1", "status": "finished", "name": "run-3",
             "where": "metrics.score > 0.2", "sort": "-metrics.score,run_id"}
    pages = [await get(jp_fetch, "runs", limit=7, offset=offset, **query)
             for offset in range(0, len(wanted) + 7, 7)]
    assert {p["total"] for p in pages} == {len(wanted)}
    assert [r["run_id"] for p in pages for r in p["items"]] == [r["run_id"] for r in wanted]
    assert pages[-1]["items"] == []
    failed = await get(jp_fetch, "runs", status="failed", limit=1)
    assert failed["total"] == sum(r["status"] == "failed" for r in many)
    assert failed["total_exact"] is True

    # a filter's count stops at the first thousand past the page: "at least 1,000"
    broad = await get(jp_fetch, "runs", where="metrics.score >= 0", limit=50)
    assert (broad["total"], broad["total_exact"], len(broad["items"])) == (1000, False, 50)
    deeper = await get(jp_fetch, "runs", where="metrics.score >= 0", limit=100, offset=950)
    assert (deeper["total"], deeper["total_exact"]) == (1200, True)
    assert (page["total_exact"], last["total_exact"]) == (True, True)  # unfiltered: exact

    ids = [r["run_id"] for r in many[::24]]  # 50 runs, in the order asked for
    compared = await get(jp_fetch, "compare", ids=",".join([ids[0][:10], *ids[1:]]))
    assert [r["run_id"] for r in compared["runs"]] == ids
    assert compared["params"] == compared["differing"]["params"] == ["i"]
    assert compared["metrics"] == ["score"]
    thousand = [r["run_id"] for r in many[:1000]]
    compared = await get(jp_fetch, "compare", ids=",".join(thousand))
    assert [r["run_id"] for r in compared["runs"]] == thousand
    message = await fail(jp_fetch, "compare", code=400,
                         ids=",".join(r["run_id"] for r in many[:1001]))
    assert "at most 1000 runs at once, not 1001" in message


async def test_the_runs_total_follows_new_runs(jp_fetch: Any, many: list[dict[str, Any]],
                                              store_env: Path) -> None:
    """The first page's total (counted once per change of the store, not on every poll)
    counts a run recorded in this process and one recorded by another process."""
    import subprocess
    import sys

    from nbmlops import api
    from nbmlops._types import NewRun, RunEnd

    polls = [await get(jp_fetch, "runs", limit=25) for _ in range(3)]
    assert [(p["total"], p["total_exact"]) for p in polls] == [(1200, True)] * 3
    now = time.time()
    mine = uuid.uuid4().hex
    api.workspace().store.record_runs([(
        NewRun(id=mine, experiment="e0", name="new", kind="cell", start_time=now),
        RunEnd(status="finished", end_time=now + 1))])
    page = await get(jp_fetch, "runs", limit=25)
    assert (page["total"], page["items"][0]["run_id"]) == (1201, mine)
    script = ("import time, uuid\n"
              "from nbmlops import api\n"
              "from nbmlops._types import NewRun, RunEnd\n"
              "now = time.time() + 5; rid = uuid.uuid4().hex\n"
              "api.workspace().store.record_runs([(NewRun(id=rid, experiment='e1', "
              "name='theirs', kind='cell', start_time=now), "
              "RunEnd(status='finished', end_time=now + 1))])\n"
              "print(rid)\n")
    theirs = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True, cwd=os.getcwd(),
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
                            ).stdout.strip()
    page = await get(jp_fetch, "runs", limit=25)
    assert (page["total"], page["items"][0]["run_id"]) == (1202, theirs)
    assert (await get(jp_fetch, "runs", experiment="e1", limit=25))["total"] == 601


async def test_run_experiments_and_compare(jp_fetch: Any, filled: dict[str, Any]) -> None:
    run = await get(jp_fetch, "runs", filled["tuned"])
    assert run["run_id"] == filled["tuned"]
    assert run["kind"] == "script"
    assert run["params"] == {"C": 0.1}
    assert run["metrics"] == {"accuracy": 0.9}
    assert [d["name"] for d in run["inputs"]] == ["train"]
    assert run["inputs"][0]["shape"] == [200, 2]
    assert ["a", "float64"] in run["inputs"][0]["columns"]
    assert (await get(jp_fetch, "runs", filled["tuned"][:8]))["run_id"] == filled["tuned"]

    experiments = await get(jp_fetch, "experiments")
    assert {e["name"] for e in experiments["items"]} >= {"churn", "other", "drift"}

    compared = await get(jp_fetch, "compare", ids=f"{filled['base']},{filled['tuned']}")
    assert [r["run_id"] for r in compared["runs"]] == [filled["base"], filled["tuned"]]
    assert compared["params"] == ["C"]
    assert compared["metrics"] == ["accuracy"]
    assert compared["differing"] == {"params": ["C"], "metrics": ["accuracy"]}


async def test_compare_counts_a_missing_value_as_missing_and_overlays_curves(
        jp_fetch: Any, store_env: Path) -> None:
    import nbmlops

    with nbmlops.track("cmp", "a", params={"C": 1.0, "seed": 7}) as a:
        for step in range(5):
            nbmlops.log_metric("loss", 1.0 / (step + 1), step=step)
        nbmlops.log_metric("auc", 0.9)
    with nbmlops.track("cmp", "b", params={"C": 1.0}) as b:
        for step in range(3):
            nbmlops.log_metric("loss", 2.0 / (step + 1), step=step)
        nbmlops.log_metric("auc", 0.9)
        nbmlops.log_metric("f1", 0.5)
    with nbmlops.track("cmp", "c", params={"C": 0.5}) as c:
        nbmlops.log_metric("auc", 0.8)
    two = await get(jp_fetch, "compare", ids=f"{a.id},{b.id}")
    assert two["params"] == ["C", "seed"]
    assert two["metrics"] == ["auc", "f1", "loss"]
    # seed and f1 are set in one run only: missing in the other, not different
    assert two["differing"] == {"params": [], "metrics": ["loss"]}
    three = await get(jp_fetch, "compare", ids=f"{a.id},{b.id},{c.id}")
    assert three["differing"] == {"params": ["C"], "metrics": ["auc", "loss"]}
    # a compared run carries what Compare shows: its name, params and metrics
    assert three["runs"][2] == {"run_id": c.id, "name": "c", "params": {"C": 0.5},
                                "metrics": {"auc": 0.8}}

    # values differ as JSON does: 1 is not "1" nor true; equal lists are the same
    typed = []
    for value, same in ((1, [1, 2]), (1, [1, 2]), ("1", [1, 2]), (True, [1, 2])):
        with nbmlops.track("cmp", "typed", params={"v": value, "same": same,
                                                   "one": 1}) as run:
            pass
        typed.append(run.id)
    for left, right, differ in ((0, 1, []), (0, 2, ["v"]), (0, 3, ["v"]), (2, 3, ["v"])):
        pair = await get(jp_fetch, "compare", ids=f"{typed[left]},{typed[right]}")
        assert pair["differing"]["params"] == differ, (left, right, pair["runs"])

    curves = await get(jp_fetch, "compare", "curves", ids=f"{b.id[:8]},{a.id},{c.id}",
                       metric="loss")
    assert curves["metric"] == "loss"
    assert [cv["run_id"] for cv in curves["curves"]] == [b.id, a.id, c.id]
    assert curves["curves"][1]["steps"] == [0, 1, 2, 3, 4]
    assert curves["curves"][1]["values"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert curves["curves"][0]["values"] == [2.0, 1.0, 2 / 3]
    assert curves["curves"][2] == {"run_id": c.id, "steps": [], "values": [], "times": []}
    assert all(t > 0 for t in curves["curves"][1]["times"])

    assert "ids is required" in await fail(jp_fetch, "compare", "curves", code=400,
                                           metric="loss")
    assert "metric is required" in await fail(jp_fetch, "compare", "curves", code=400,
                                              ids=a.id)
    assert "at most 50 runs" in await fail(jp_fetch, "compare", "curves", code=400,
                                           ids=",".join([a.id] * 51), metric="loss")
    assert "at most 250" in await fail(jp_fetch, "compare", "curves", code=400, ids=a.id,
                                       metric="m" * 251)
    assert "ffffffff" in await fail(jp_fetch, "compare", "curves", code=404,
                                    ids=f"{a.id},ffffffff", metric="loss")


async def test_model_card_and_the_change_marker(jp_fetch: Any, store_env: Path) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops

    assert (await get(jp_fetch, "changes"))["marker"] is None  # nothing happened yet
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    y = (X["a"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    nbmlops.register(model, name="churn", data=X, evaluate=(X, y))
    nbmlops.register(model, name="churn")
    first = (await get(jp_fetch, "changes"))["marker"]
    assert first
    assert (await get(jp_fetch, "changes"))["marker"] == first  # stable while nothing moves
    nbmlops.promote("churn", 2, "production")
    moved = (await get(jp_fetch, "changes"))["marker"]
    assert moved not in (None, first)

    card = await get(jp_fetch, "models", "churn", "versions", "1", "card")
    assert (card["model"], card["version"]) == ("churn", 1)
    assert card["html"].startswith('<div class="nbmlops-model-card"')
    assert "accuracy" in card["html"]
    assert (await get(jp_fetch, "models", "churn", "versions", "2", "card"))["html"] is None

    assert "version must be a version number" in await fail(
        jp_fetch, "models", "churn", "versions", "two", "card", code=400)
    assert "version must be" in await fail(jp_fetch, "models", "churn", "versions",
                                           "9" * 40, "card", code=400)
    await fail(jp_fetch, "models", "churn", "versions", "7", "card", code=404)
    await fail(jp_fetch, "models", "nope", "versions", "1", "card", code=404)


async def test_models_history_and_alias_moves(jp_fetch: Any, filled: dict[str, Any]) -> None:
    models = await get(jp_fetch, "models")
    assert models["total"] == 1
    churn = models["items"][0]
    assert churn["name"] == "churn"
    assert churn["versions"] == 2
    assert churn["aliases"] == {"production": 2}

    detail = await get(jp_fetch, "models", "churn")
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][0]["aliases"] == ["production"]
    assert detail["versions"][1]["run_id"] == filled["tuned"]

    history = await get(jp_fetch, "models", "churn", "history")
    actions = [(e["action"], e["alias"], e["to_version"] or e["version"])
               for e in history["items"]]
    assert ("promote", "production", 2) in actions
    assert [e["reason"] for e in history["items"] if e["action"] == "promote"] == [
        "first", "better"]

    moved = await jp_fetch(*API, "models", "churn", "promote", method="POST",
                           body=json.dumps({"version": 1, "alias": "staging",
                                            "reason": "try it"}))
    answer = json.loads(moved.body)
    assert answer["changed"] is True
    assert answer["version"] == 1
    assert answer["event"]["reason"] == "try it"
    again = await jp_fetch(*API, "models", "churn", "promote", method="POST",
                           body=json.dumps({"version": 1, "alias": "staging"}))
    assert json.loads(again.body)["changed"] is False

    back = await jp_fetch(*API, "models", "churn", "rollback", method="POST",
                          body=json.dumps({"alias": "production", "reason": "regression"}))
    answer = json.loads(back.body)
    assert answer["version"] == 1
    assert answer["event"]["action"] == "rollback"
    after = await get(jp_fetch, "models", "churn")
    assert after["model"]["aliases"] == {"production": 1, "staging": 1}
    history = await get(jp_fetch, "models", "churn", "history", limit=1, offset=0)
    assert history["total"] >= 6
    assert len(history["items"]) == 1


async def test_deployments_jobs_and_drift(jp_fetch: Any, filled: dict[str, Any]) -> None:
    deployments = await get(jp_fetch, "deployments")
    assert [(d["name"], d["model"], d["version"]) for d in deployments["items"]] == [
        ("churn-api", "churn", 1)]
    jobs = await get(jp_fetch, "jobs")
    assert jobs == {"items": [], "total": 0, "total_exact": True, "limit": 50, "offset": 0}

    drift = await get(jp_fetch, "drift")
    assert drift["total"] == 1
    check = drift["items"][0]
    assert check["run_id"] == filled["drift"]
    assert check["dataset_drift"] is True
    assert check["drifted_columns"] >= 1
    assert "drift.a" in check["metrics"]
    assert (await get(jp_fetch, "drift", model="nope"))["total"] == 0

    # checks of a registered model, filtered and paged by the store
    import numpy as np
    import pandas as pd

    import nbmlops
    from nbmlops import api

    current = pd.DataFrame({"a": np.linspace(-1, 1, 200), "b": np.linspace(0, 2, 200)})
    by_model = [nbmlops.drift("churn@production", current.assign(a=current.a + i)).run_id
                for i in range(3)]
    api.close()
    of_churn = await get(jp_fetch, "drift", model="churn")
    assert [c["run_id"] for c in of_churn["items"]] == by_model[::-1]  # newest first
    assert {c["model"] for c in of_churn["items"]} == {"churn/2"}  # the version compared
    second = await get(jp_fetch, "drift", model="churn", limit=1, offset=1)
    assert ([c["run_id"] for c in second["items"]], second["total"]) == ([by_model[1]], 3)
    assert (await get(jp_fetch, "drift", limit=2))["total"] == 4
    assert (await get(jp_fetch, "drift", model="churn/2"))["total"] == 3  # production: v2
    assert (await get(jp_fetch, "drift", model="churn/1"))["total"] == 0
    assert (await get(jp_fetch, "drift", model="churn", deployment="churn-api"))["total"] == 0


async def test_lineage(jp_fetch: Any, filled: dict[str, Any]) -> None:
    tuned = filled["tuned"]
    dep_id = filled["deployment"].id
    expected_edges = {
        (f"run:{tuned}", "model_version:churn/1", "registered"),
        ("model_version:churn/1", f"deployment:{dep_id}", "deployed"),
    }
    for query in ({"run": tuned}, {"model": "churn/1"}, {"deployment": "churn-api"}):
        graph = await get(jp_fetch, "lineage", **query)
        types = {n["type"] for n in graph["nodes"]}
        assert types == {"dataset", "run", "model_version", "deployment"}, query
        edges = {(e["source"], e["target"], e["relation"]) for e in graph["edges"]}
        assert expected_edges <= edges, query
        data = [e for e in edges if e[2] == "input"]
        assert data
        assert all(e[1] == f"run:{tuned}" for e in data)
        ids = {n["id"] for n in graph["nodes"]}
        assert all(s in ids and t in ids for s, t, _ in edges)
    graph = await get(jp_fetch, "lineage", model="churn@production")
    assert graph["root"] == "model_version:churn/2"


# -- bad input --------------------------------------------------------------------------------

async def test_bad_queries_are_400_or_404_with_a_message(jp_fetch: Any,
                                                         filled: dict[str, Any]) -> None:
    message = await fail(jp_fetch, "runs", code=400, where="metrics.accuracy >>> 1")
    assert "metrics.accuracy >>> 1" in message
    assert "nosuchfield" in await fail(jp_fetch, "runs", code=400, sort="nosuchfield")
    assert "limit" in await fail(jp_fetch, "runs", code=400, limit=-1)
    assert "limit" in await fail(jp_fetch, "runs", code=400, limit="abc")
    assert "limit" in await fail(jp_fetch, "runs", code=400, limit=501)
    assert "offset" in await fail(jp_fetch, "models", code=400, offset=-5)
    assert "status" in await fail(jp_fetch, "runs", code=400, status="done")
    assert "ffffffff" in await fail(jp_fetch, "runs", "ffffffff", code=404)
    assert "ids" in await fail(jp_fetch, "compare", code=400)
    await fail(jp_fetch, "compare", code=404, ids=f"{filled['base']},ffffffff")
    assert "nope" in await fail(jp_fetch, "models", "nope", code=404)
    await fail(jp_fetch, "models", "nope", "history", code=404)
    assert "exactly one" in await fail(jp_fetch, "lineage", code=400)
    await fail(jp_fetch, "lineage", code=400, run=filled["base"], model="churn/1")
    await fail(jp_fetch, "lineage", code=400, model="churn/zero")
    await fail(jp_fetch, "lineage", code=404, model="churn/9")
    await fail(jp_fetch, "lineage", code=404, deployment="nope")


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"version": 9, "alias": "production"}, 404, "9"),
    ({"alias": "production"}, 400, "version"),
    ({"version": 1}, 400, "alias"),
    ({"version": "1", "alias": "production"}, 400, "body.version"),
    ({"version": True, "alias": "production"}, 400, "body.version"),
    ({"version": 0, "alias": "production"}, 400, "version"),
    ({"version": 1, "alias": "production", "extra": 1}, 400, "extra"),
    ({"version": 1, "alias": "production", "reason": 5}, 400, "reason"),
    ({"version": 1, "alias": "bad alias!"}, 400, "alias"),
    ("not json", 400, "JSON"),
    (["a", "list"], 400, "object"),
])
async def test_bad_promotions(jp_fetch: Any, filled: dict[str, Any], body: Any, status: int,
                              words: str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    message = await fail(jp_fetch, "models", "churn", "promote", code=status, method="POST",
                         body=text)
    assert words in message
    detail = await get(jp_fetch, "models", "churn")
    assert detail["model"]["aliases"] == {"production": 2}  # nothing moved


async def test_bad_rollbacks(jp_fetch: Any, filled: dict[str, Any]) -> None:
    await fail(jp_fetch, "models", "churn", "rollback", code=400, method="POST", body="{}")
    await fail(jp_fetch, "models", "churn", "rollback", code=404, method="POST",
               body=json.dumps({"alias": "nowhere"}))
    await fail(jp_fetch, "models", "nope", "rollback", code=404, method="POST",
               body=json.dumps({"alias": "production"}))


# -- routes, authentication, XSRF, the OpenAPI document -------------------------------------------

def registered_patterns(serverapp: Any) -> dict[str, type]:
    """The URL patterns the extension added to the running server, with their handlers."""
    found: dict[str, type] = {}

    def walk(rules: Any) -> None:
        for rule in rules:
            target = rule.target
            if hasattr(target, "rules"):
                walk(target.rules)
            elif isinstance(target, type):
                pattern = getattr(rule.matcher, "regex", None)
                if pattern is not None and "/nbmlops/api/" in pattern.pattern:
                    found[pattern.pattern] = target

    walk(serverapp.web_app.default_router.rules)
    walk(serverapp.web_app.wildcard_router.rules)
    return found


def example_path(pattern: str, base_url: str) -> str:
    """A URL path (under the API) that the pattern matches."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", pattern.removesuffix("$"))
    assert path.startswith(base_url)
    return path[len(base_url):]


async def test_every_route_refuses_a_request_without_the_token(
        jp_fetch: Any, jp_serverapp: Any, jp_base_url: str, filled: dict[str, Any]) -> None:
    patterns = registered_patterns(jp_serverapp)
    from nbmlops.server.handlers import ROUTES

    assert len(patterns) == len(ROUTES)  # every route is served
    for pattern, handler in patterns.items():
        path = example_path(pattern, jp_base_url)
        for method in handler.operations:  # type: ignore[attr-defined]
            body = "{}" if method == "post" else None
            for auth in ("", "token wrong-token"):
                response = await jp_fetch(path, method=method.upper(), body=body,
                                          headers={"Authorization": auth}, raise_error=False)
                assert response.code in (401, 403), (path, method, auth, response.code)
                assert b"Traceback" not in response.body


async def test_a_cookie_authenticated_write_needs_the_xsrf_token(
        jp_fetch: Any, jp_serverapp: Any, filled: dict[str, Any]) -> None:
    token = jp_serverapp.identity_provider.token
    cookies: list[str] = []
    # the login page hands out the XSRF cookie; logging in with the token, the login cookie
    for params in ({}, {"token": token}):
        page = await jp_fetch("login", params=params, headers={"Authorization": ""},
                              follow_redirects=False, raise_error=False)
        cookies += [c.split(";", 1)[0] for c in page.headers.get_list("Set-Cookie")]
    login_cookie = next(c for c in cookies if c.startswith("username-"))
    xsrf = next(c.split("=", 1)[1] for c in cookies if c.startswith("_xsrf="))
    body = json.dumps({"version": 1, "alias": "staging"})
    as_cookie = {"Authorization": "", "Cookie": login_cookie}

    read = await jp_fetch(*API, "models", headers=dict(as_cookie), raise_error=False)
    assert read.code == 200  # the cookie authenticates
    refused = await jp_fetch(*API, "models", "churn", "promote", method="POST", body=body,
                             headers=dict(as_cookie), raise_error=False)
    assert refused.code == 403
    assert "_xsrf" in json.loads(refused.body)["error"]
    assert "staging" not in (await get(jp_fetch, "models", "churn"))["model"]["aliases"]

    with_xsrf = {**as_cookie, "Cookie": f"{login_cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    done = await jp_fetch(*API, "models", "churn", "promote", method="POST", body=body,
                          headers=with_xsrf, raise_error=False)
    assert done.code == 200, done.body
    # a token in the Authorization header is proof enough: a page on another site cannot
    # know it, so no XSRF token is asked for (jupyter_server's rule for every API)
    by_token = await jp_fetch(*API, "models", "churn", "promote", method="POST",
                              body=json.dumps({"version": 2, "alias": "staging"}))
    assert by_token.code == 200


async def test_openapi_lists_exactly_the_registered_routes(
        jp_fetch: Any, jp_serverapp: Any, jp_base_url: str) -> None:
    from nbmlops.server.openapi import DOCUMENT_PATH, text

    served = await get(jp_fetch, "openapi.json")
    assert served["openapi"].startswith("3.1")
    registered = {}
    for pattern, handler in registered_patterns(jp_serverapp).items():
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.removesuffix("$"))
        registered["/" + path[len(jp_base_url):]] = set(handler.operations)  # type: ignore[attr-defined]
    assert {path: set(ops) for path, ops in served["paths"].items()} == registered
    for path, ops in served["paths"].items():
        for op in ops.values():
            params = {q["name"] for q in op["parameters"] if q["in"] == "path"}
            assert params == set(re.findall(r"\{(\w+)\}", path))
    schemas = served["components"]["schemas"]
    assert {"RunSummary", "Page_RunSummary", "PromoteRequest", "Lineage"} <= set(schemas)
    assert schemas["PromoteRequest"]["required"] == ["version", "alias"]
    on_disk = (ROOT / DOCUMENT_PATH).read_text(encoding="utf-8")
    assert on_disk == text(), (f"{DOCUMENT_PATH} is stale: "
                               "python -m nbmlops.server.openapi > " + DOCUMENT_PATH)
    assert json.loads(on_disk) == served


async def test_answers_match_the_openapi_schemas(jp_fetch: Any,
                                                 filled: dict[str, Any]) -> None:
    """Each read answers with the payload its OpenAPI entry names (checked by the same
    TypedDicts the document comes from)."""
    from nbmlops.server import payloads as p
    from nbmlops.server.schema import check

    cases: list[tuple[tuple[str, ...], dict[str, str], Any]] = [
        (("runs",), {}, p.Page[p.RunSummary]),
        (("runs", filled["tuned"]), {}, p.RunDetail),
        (("experiments",), {}, p.Page[p.Experiment]),
        (("compare",), {"ids": f"{filled['base']},{filled['tuned']}"}, p.Comparison),
        (("compare", "curves"), {"ids": f"{filled['base']},{filled['tuned']}",
                                 "metric": "accuracy"}, p.MetricCurves),
        (("models",), {}, p.Page[p.ModelSummary]),
        (("models", "churn"), {}, p.ModelDetail),
        (("models", "churn", "history"), {}, p.Page[p.AuditEvent]),
        (("models", "churn", "approvals"), {}, p.Approvals),
        (("models", "churn", "versions", "1", "card"), {}, p.ModelCard),
        (("changes",), {}, p.Changes),
        (("deployments",), {}, p.Page[p.Deployment]),
        (("jobs",), {}, p.Page[p.Job]),
        (("drift",), {}, p.Page[p.DriftRun]),
        (("lineage",), {"run": filled["tuned"]}, p.Lineage),
    ]
    for path, params, payload in cases:
        check(payload, await get(jp_fetch, *path, **params), "/".join(path))


async def test_a_runs_slice_with_its_cells_in_the_order_they_ran_and_its_flags(
        jp_fetch: Any, shell: Any, filled: dict[str, Any]) -> None:
    import nbmlops
    from nbmlops.server import payloads as p
    from nbmlops.server.schema import check

    for cid, code in (("c1", "scale = 2"), ("c2", "doubled = [r * scale for r in [1, 2]]"),
                      ("c3", "scale = 10"), ("c4", "print('not read')")):
        assert shell.run_cell(code, store_history=True, cell_id=cid).success
    body = "%%track -e sliced -n r -q\nresult = float(sum(doubled) * scale)"
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("sliced").run_id

    answer = await get(jp_fetch, "runs", run_id[:8], "slice")
    check(p.RunSlice, answer, "runs/{id}/slice")
    assert (answer["run_id"], answer["recorded"], answer["clean"]) == (run_id, True, False)
    assert [(c["order"], c["cell_id"], c["code"]) for c in answer["cells"]] == [
        (1, "c1", "scale = 2"), (2, "c2", "doubled = [r * scale for r in [1, 2]]"),
        (3, "c3", "scale = 10")]
    counts = [c["execution_count"] for c in answer["cells"]]
    assert None not in counts
    assert counts == sorted(counts)
    assert [(f["kind"], f["name"]) for f in answer["flags"]] == [("out_of_order", "scale")]
    assert "bound scale anew" in answer["flags"][0]["detail"]
    assert answer["reproduce"] == f"nbmlops reproduce {run_id[:8]}"

    # a run tracked without the journal: nothing recorded, said so
    plain = await get(jp_fetch, "runs", filled["tuned"], "slice")
    assert (plain["recorded"], plain["clean"], plain["cells"], plain["reproduce"]) == (
        False, None, [], None)
    assert "ffffffff" in await fail(jp_fetch, "runs", "ffffffff", "slice", code=404)


def test_the_extension_is_declared_and_enabled_on_install() -> None:
    import nbmlops

    assert nbmlops._jupyter_server_extension_points() == [{"module": "nbmlops.server"}]
    config = json.loads((ROOT / "jupyter-config" / "server-config" / "nbmlops.json")
                        .read_text(encoding="utf-8"))
    assert config == {"ServerApp": {"jpserver_extensions": {"nbmlops": True}}}


# -- input that would exhaust the parser, the database or Python's integers -------------------

@pytest.mark.parametrize(("params", "words"), [
    ({"where": "not " * 5000 + "metrics.accuracy > 0.5"}, "characters long"),
    ({"where": "not " * 100 + "metrics.accuracy > 0.5"}, "nested too deeply"),
    ({"where": "(" * 250 + "metrics.accuracy > 0.5" + ")" * 250}, "nested"),
    ({"where": "metrics.accuracy in " + "[" * 60 + "1" + "]" * 60}, "nested"),
    ({"where": " or ".join(["metrics.accuracy > 0.5"] * 150)}, "at most 100"),
    ({"where": "metrics.accuracy > 100000000000000000000000000000"}, "64-bit"),
    ({"sort": ",".join(f"-metrics.m{i}" for i in range(150))}, "at most 16 keys"),
    ({"offset": str(10**30)}, "offset must be from 0 to 9007199254740992"),
    ({"offset": str(2**53 + 1)}, "offset must be from 0 to 9007199254740992"),
    ({"limit": str(10**30)}, "limit must be from 1 to 500"),
    ({"offset": "\u0663"}, "digits 0-9"),  # an Arabic-Indic 3
    ({"offset": "1" * 10_000}, "offset must be from 0"),
])
async def test_oversized_queries_are_400s_that_name_the_problem(
        jp_fetch: Any, filled: dict[str, Any], params: dict[str, str], words: str) -> None:
    message = await fail(jp_fetch, "runs", code=400, **params)
    assert words in message
    assert len(message) < 600  # the expression is quoted cut short, not echoed whole


async def test_every_paged_route_bounds_its_offset(jp_fetch: Any,
                                                   filled: dict[str, Any]) -> None:
    for route in ("runs", "experiments", "models", "deployments", "jobs", "drift",
                  "job-runs", "monitor-checks"):
        assert "offset" in await fail(jp_fetch, route, code=400, offset=str(10**30))
        assert "digits 0-9" in await fail(jp_fetch, route, code=400, offset="\u0663")
    # the largest offset is answered, as an empty page, however the runs are read
    for sort in ("start", "-metrics.accuracy"):
        page = await get(jp_fetch, "runs", offset=str(2**53), limit=500, sort=sort)
        assert page["items"] == []
    assert (await get(jp_fetch, "runs", where="metrics.accuracy >= 0",
                      offset=str(2**53)))["items"] == []
    assert (await get(jp_fetch, "drift", offset=str(2**53)))["items"] == []
    # sixteen sort keys are fine
    keys = ",".join(["-metrics.accuracy", *(f"metrics.m{i}" for i in range(15))])
    everything = await get(jp_fetch, "runs")
    assert (await get(jp_fetch, "runs", sort=keys))["total"] == everything["total"]


async def test_an_oversized_model_reference_or_version_is_a_400(
        jp_fetch: Any, filled: dict[str, Any]) -> None:
    message = await fail(jp_fetch, "lineage", code=400, model="churn/99999999999999999999999")
    assert "a version is a number from 1 to 9223372036854775807" in message
    await fail(jp_fetch, "lineage", code=400, model="churn/\u0663")
    # the drift checks' model filter parses references by the same rule
    message = await fail(jp_fetch, "drift", code=400, model="churn/99999999999999999999999")
    assert "a version is a number from 1 to 9223372036854775807" in message
    assert "model name" in await fail(jp_fetch, "drift", code=400, model="bad name")
    for version in (10**22, 2**63):
        message = await fail(jp_fetch, "models", "churn", "promote", code=400, method="POST",
                             body=json.dumps({"version": version, "alias": "production"}))
        assert "body.version must be a version number from 1 to 9223372036854775807" \
            in message
    message = await fail(jp_fetch, "models", "churn", "promote", code=400, method="POST",
                         body='{"version": ' + "9" * 5000 + ', "alias": "production"}')
    assert "JSON" in message
    detail = await get(jp_fetch, "models", "churn")
    assert detail["model"]["aliases"] == {"production": 2}  # nothing moved


async def test_a_deeply_nested_body_is_a_400(jp_fetch: Any, filled: dict[str, Any]) -> None:
    deep = '{"version": 1, "alias": "production", "reason": ' + "[" * 100_000 + "]" * 100_000 \
        + "}"
    for route in ("promote", "rollback"):
        message = await fail(jp_fetch, "models", "churn", route, code=400, method="POST",
                             body=deep)
        assert "nested more than 32 levels" in message
    # brackets inside strings are text, not nesting
    text = json.dumps({"version": 2, "alias": "production", "reason": "[" * 1000})
    moved = await jp_fetch(*API, "models", "churn", "promote", method="POST", body=text)
    assert json.loads(moved.body)["changed"] is False


async def test_an_unexpected_error_is_a_500_with_the_traceback_logged(
        jp_fetch: Any, filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from nbmlops import api

    store = api.workspace().store

    def bug(*args: Any, **kwargs: Any) -> Any:
        return {}["missing"]  # a KeyError from a bug, not a refusal of bad input

    def library_error(*args: Any, **kwargs: Any) -> Any:
        return int("not a number")  # a library's ValueError: a bug too

    with monkeypatch.context() as patch:  # undo only this patch, not the store's settings
        for broken in (bug, library_error):
            patch.setattr(type(store), "list_models", broken)
            caplog.clear()
            message = await fail(jp_fetch, "models", code=500)
            assert message.startswith("internal error (")
            assert "Traceback" in caplog.text  # in the server's log, not in the answer
    assert (await get(jp_fetch, "models"))["total"] == 1


# -- the run tab's routes: metric history, artifacts, an experiment's metric names ----------

@pytest.fixture
def stepped(store_env: Path) -> dict[str, Any]:
    """A run with a 300-step loss history, a NaN, and artifacts (HTML, PNG, JSON); a tune
    search with its candidates."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops

    folder = store_env / "files"
    folder.mkdir()
    (folder / "card.html").write_text("<h1>Model card</h1><script>parent.x=1</script>")
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    (folder / "scores.json").write_text('{"auc": 0.9}')
    with nbmlops.track("steps", "trainer") as run:
        for step in range(300):
            nbmlops.log_metric("loss", 1.0 / (step + 1), step=step)
        nbmlops.log_metric("nanny", float("nan"))
        for name in ("card.html", "plot.png", "scores.json"):
            run.log_artifact(folder / name)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (X["a"] > 0).astype(int)
    search = nbmlops.tune(LogisticRegression(), {"C": [0.1, 1.0]}, X, y, cv=2,
                          experiment="steps", progress=False)
    return {"run": run.id, "search": search}


CHARTED = 2000  # values of each metric of the charted run


@pytest.fixture
def charted(store_env: Path) -> dict[str, Any]:
    """A run with CHARTED values of ``wave`` (noise, one spike up, one down) and of
    ``gappy`` (NaN at steps 1500-1502), logged a second apart from t0, in one write."""
    import numpy as np

    from nbmlops import api
    from nbmlops._types import Metric, NewRun, RunEnd

    rng = np.random.default_rng(7)
    wave = rng.normal(size=CHARTED)
    wave[777], wave[1234] = 100.0, -100.0
    gappy = np.linspace(0, 1, CHARTED)
    gappy[1500:1503] = np.nan
    t0 = 1_700_000_000.0
    run_id = "c" * 32
    api.workspace().store.record_runs([(
        NewRun(id=run_id, experiment="charted", name="charted", kind="cell", start_time=t0),
        RunEnd(status="finished", end_time=t0 + CHARTED, metrics=tuple(
            Metric(key, float(values[i]), i, t0 + i)
            for key, values in (("wave", wave), ("gappy", gappy)) for i in range(CHARTED))))])
    api.close()
    return {"run": run_id, "wave": wave, "t0": t0}


def _numbers(packed: str) -> list[float]:
    import base64
    import struct

    raw = base64.b64decode(packed)
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


async def test_metric_series_decimates_for_a_chart(jp_fetch: Any,
                                                   charted: dict[str, Any]) -> None:
    """With points=N a chart gets at most N values, in step order: the first and the last,
    and each equal span of steps' smallest and largest value (both spikes), a NaN run kept
    as a NaN; with from/to a zoomed range, all of its values when they are fewer than N."""
    import math

    run, wave = charted["run"], charted["wave"]
    answer = await get(jp_fetch, "runs", run, "metric-series", key="wave", points=102)
    steps, values = _numbers(answer["steps"]), _numbers(answer["values"])
    assert (answer["decimated"], answer["in_range"], answer["total"]) == (True, CHARTED,
                                                                          CHARTED)
    assert len(steps) <= 102
    assert steps == sorted(set(steps))
    assert (steps[0], steps[-1]) == (0, CHARTED - 1)
    assert values == [wave[int(s)] for s in steps]  # each an actual value at its step
    assert {100.0, -100.0} <= set(values)
    spans = (102 - 2) // 2  # equal spans of x, the smallest and largest value of each
    for k in range(spans):
        inside = [i for i in range(CHARTED) if min(i * spans // (CHARTED - 1), spans - 1) == k]
        lowest = min(inside, key=lambda i: wave[i])
        highest = max(inside, key=lambda i: wave[i])
        assert {lowest, highest} <= set(steps), (k, lowest, highest)

    gappy = await get(jp_fetch, "runs", run, "metric-series", key="gappy", points=100)
    steps, values = _numbers(gappy["steps"]), _numbers(gappy["values"])
    assert gappy["decimated"]
    assert len(steps) <= 100
    gaps = [s for s, v in zip(steps, values, strict=True) if math.isnan(v)]
    assert len(gaps) == 1
    assert 1500 <= gaps[0] <= 1502
    assert (steps[0], steps[-1], values[0], values[-1]) == (0, CHARTED - 1, 0.0, 1.0)

    # a zoomed range holding fewer values than asked for: every one of them
    zoomed = await get(jp_fetch, "runs", run, "metric-series", key="wave", points=102,
                       **{"from": "700", "to": "779.5"})
    assert (zoomed["decimated"], zoomed["in_range"], zoomed["total"]) == (False, 80, CHARTED)
    assert _numbers(zoomed["steps"]) == list(range(700, 780))
    assert _numbers(zoomed["values"]) == [float(v) for v in wave[700:780]]
    wider = await get(jp_fetch, "runs", run, "metric-series", key="wave", points=102,
                      **{"from": "500", "to": "1000"})
    steps = _numbers(wider["steps"])
    assert (wider["decimated"], wider["in_range"]) == (True, 501)
    assert (steps[0], steps[-1]) == (500, 1000)
    assert 777 in steps
    # by time: the range is in seconds since the epoch
    t0 = charted["t0"]
    timed = await get(jp_fetch, "runs", run, "metric-series", key="wave", points=16, x="time",
                      **{"from": str(t0 + 10), "to": str(t0 + 19)})
    assert _numbers(timed["timestamps"]) == [t0 + i for i in range(10, 20)]
    assert _numbers(timed["steps"]) == list(range(10, 20))
    # as many points as there are values, or more: all of them
    every = await get(jp_fetch, "runs", run, "metric-series", key="wave", points=CHARTED)
    assert not every["decimated"]
    assert _numbers(every["steps"]) == list(range(CHARTED))

    # without points the route pages as it always did
    page = await get(jp_fetch, "runs", run, "metric-series", key="wave", limit=100, offset=250)
    assert _numbers(page["steps"]) == list(range(250, 350))
    assert (page["decimated"], page["in_range"], page["total"]) == (False, 100, CHARTED)

    for bad, said in (({"points": "many"}, "points must be a whole number"),
                      ({"points": "15"}, "points must be from 16 to 100000"),
                      ({"points": "100001"}, "points must be from 16 to 100000"),
                      ({"from": "soon"}, "from must be a finite number"),
                      ({"to": "nan"}, "to must be a finite number"),
                      ({"from": "9", "to": "3"}, "from (9) must not be past to (3)"),
                      ({"x": "epoch"}, "x must be step or time")):
        message = await fail(jp_fetch, "runs", run, "metric-series", code=400, key="wave",
                             **bad)
        assert message.startswith(said), (bad, message)
        assert "\n" not in message
    # the store's choice (points=) says so of a metric the run does not have, too
    message = await fail(jp_fetch, "runs", run, "metric-series", code=400, key="nope",
                         points=100)
    assert "has no metric 'nope'" in message
    await fail(jp_fetch, "runs", "ffffffff", "metric-series", code=404, key="wave", points=100)


async def test_metric_charts_answers_each_metric_as_metric_series_does(
        jp_fetch: Any, charted: dict[str, Any]) -> None:
    """What a run's tab asks for as it opens: every metric of the run, by name, each the
    same answer metric-series gives for it with the same points (one request, not one per
    metric, and before the run's record says which metrics there are)."""
    run = charted["run"]
    answer = await get(jp_fetch, "runs", run[:8], "metric-charts", points=102)
    assert (answer["run_id"], answer["points"], answer["keys"]) == (run, 102, 2)
    assert [s["key"] for s in answer["items"]] == ["gappy", "wave"]
    for series in answer["items"]:
        alone = await get(jp_fetch, "runs", run, "metric-series", key=series["key"],
                          points=102)
        assert series == alone
        assert series["decimated"]
        assert len(_numbers(series["steps"])) <= 102
    assert 777 in _numbers(answer["items"][1]["steps"])  # the spike is charted
    # the default: a chart of 900 px (two points per pixel)
    default = await get(jp_fetch, "runs", run, "metric-charts")
    assert default["points"] == 1800
    assert len(_numbers(default["items"][1]["steps"])) <= 1800
    for bad, said in (({"points": "15"}, "points must be"), ({"points": "x"}, "points must be")):
        message = await fail(jp_fetch, "runs", run, "metric-charts", code=400, **bad)
        assert message.startswith(said), (bad, message)
    await fail(jp_fetch, "runs", "ffffffff", "metric-charts", code=404)


async def test_metric_history_is_paged_by_step(jp_fetch: Any, stepped: dict[str, Any]) -> None:
    run = stepped["run"]
    whole = await get(jp_fetch, "runs", run, "metric-history", key="loss")
    assert whole["total"] == 300
    assert [p["step"] for p in whole["items"][:3]] == [0, 1, 2]
    assert whole["items"][0]["value"] == 1.0
    page = await get(jp_fetch, "runs", run[:8], "metric-history", key="loss", limit=100,
                     offset=250)
    assert [p["step"] for p in page["items"]] == list(range(250, 300))
    nan = await get(jp_fetch, "runs", run, "metric-history", key="nanny")
    assert [p["value"] for p in nan["items"]] == [None]
    assert "key" in await fail(jp_fetch, "runs", run, "metric-history", code=400)
    assert "nope" in await fail(jp_fetch, "runs", run, "metric-history", code=400, key="nope")
    assert "limit" in await fail(jp_fetch, "runs", run, "metric-history", code=400,
                                 key="loss", limit=100_001)
    assert "offset" in await fail(jp_fetch, "runs", run, "metric-history", code=400,
                                  key="loss", offset=-1)
    await fail(jp_fetch, "runs", "ffffffff", "metric-history", code=404, key="loss")


async def test_metric_series_answers_columns_as_the_history_pages(
        jp_fetch: Any, stepped: dict[str, Any]) -> None:
    """What a chart reads: the same values as metric-history, as three columns of packed
    little-endian float64 (NaN where the history has null)."""
    import base64
    import math
    import struct

    def numbers(packed: str) -> list[float]:
        raw = base64.b64decode(packed)
        return list(struct.unpack(f"<{len(raw) // 8}d", raw))

    run = stepped["run"]
    whole = await get(jp_fetch, "runs", run, "metric-series", key="loss")
    assert (whole["key"], whole["encoding"], whole["total"], whole["offset"]) == (
        "loss", "float64-base64", 300, 0)
    assert numbers(whole["steps"]) == list(range(300))
    assert numbers(whole["values"])[:2] == [1.0, 0.5]
    points = (await get(jp_fetch, "runs", run, "metric-history", key="loss"))["items"]
    assert [p["timestamp"] for p in points] == numbers(whole["timestamps"])
    assert [p["value"] for p in points] == numbers(whole["values"])
    page = await get(jp_fetch, "runs", run[:8], "metric-series", key="loss", limit=100,
                     offset=250)
    assert numbers(page["steps"]) == list(range(250, 300))
    assert (page["total"], page["limit"]) == (300, 100)
    past = await get(jp_fetch, "runs", run, "metric-series", key="loss", offset=400)
    assert (past["steps"], past["values"], past["total"]) == ("", "", 300)
    nan = await get(jp_fetch, "runs", run, "metric-series", key="nanny")
    assert [math.isnan(v) for v in numbers(nan["values"])] == [True]
    assert "key" in await fail(jp_fetch, "runs", run, "metric-series", code=400)
    assert "nope" in await fail(jp_fetch, "runs", run, "metric-series", code=400, key="nope")
    assert "limit" in await fail(jp_fetch, "runs", run, "metric-series", code=400,
                                 key="loss", limit=100_001)
    assert "offset" in await fail(jp_fetch, "runs", run, "metric-series", code=400,
                                  key="loss", offset=-1)
    await fail(jp_fetch, "runs", "ffffffff", "metric-series", code=404, key="loss")
    import gc

    # the read stops garbage collection only while it reads, the 404's read too
    assert gc.isenabled()


async def test_artifacts_are_served_inert(jp_fetch: Any, stepped: dict[str, Any]) -> None:
    run = stepped["run"]
    html = await jp_fetch(*API, "runs", run, "artifact", params={"name": "card.html"})
    # markup comes as plain text under a sandboxing policy: it never runs as this origin
    assert html.headers["Content-Type"].startswith("text/plain")
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert html.headers["X-Nbmlops-Media-Type"] == "text/html"
    assert b"<h1>Model card</h1>" in html.body
    png = await jp_fetch(*API, "runs", run, "artifact", params={"name": "plot.png"})
    assert png.headers["Content-Type"] == "image/png"
    assert png.body.startswith(b"\x89PNG")
    saved = await jp_fetch(*API, "runs", run, "artifact",
                           params={"name": "scores.json", "download": "1"})
    assert saved.headers["Content-Disposition"] == 'attachment; filename="scores.json"'
    assert json.loads(saved.body) == {"auc": 0.9}
    assert "name" in await fail(jp_fetch, "runs", run, "artifact", code=400)
    message = await fail(jp_fetch, "runs", run, "artifact", code=400, name="nope.txt")
    assert "nope.txt" in message
    assert "card.html" in message  # says what there is
    assert "download" in await fail(jp_fetch, "runs", run, "artifact", code=400,
                                    name="card.html", download="yes")
    await fail(jp_fetch, "runs", "ffffffff", "artifact", code=404, name="card.html")
    for auth in ("", "token wrong-token"):
        refused = await jp_fetch(*API, "runs", run, "artifact", params={"name": "card.html"},
                                 headers={"Authorization": auth}, raise_error=False)
        assert refused.code in (401, 403)


async def test_metric_keys_and_a_searchs_candidates(jp_fetch: Any,
                                                    stepped: dict[str, Any]) -> None:
    keys = await get(jp_fetch, "metric-keys", experiment="steps")
    names = [k["key"] for k in keys["keys"]]
    assert {"loss", "nanny"} <= set(names)
    assert keys["looked_at"] >= 2
    assert (await get(jp_fetch, "metric-keys", experiment="nope"))["keys"] == []
    listed = await get(jp_fetch, "runs", experiment="steps")
    search = next(r for r in listed["items"] if r["kind"] == "tune")
    assert all(r["kind"] != "candidate" for r in listed["items"])  # nested, not listed
    children = await get(jp_fetch, "runs", parent=search["run_id"][:8])
    assert children["total"] == 2
    assert {r["kind"] for r in children["items"]} == {"candidate"}
    assert {r["parent_run_id"] for r in children["items"]} == {search["run_id"]}
    await fail(jp_fetch, "runs", code=404, parent="ffffffff")


# -- deployments, job runs, drift checks and monitors (the operations tabs) --------------------

@pytest.fixture
def ops(store_env: Path) -> Iterator[dict[str, Any]]:
    from tests.ops_store import make_ops, stop_ops

    try:
        yield make_ops(store_env, store_env / "project" / "jobs")
    finally:
        stop_ops()


@pytest.mark.timeout(300)
async def test_operations_routes(jp_fetch: Any, ops: dict[str, Any]) -> None:
    from nbmlops.server import payloads as p
    from nbmlops.server.schema import check

    # a deployment restarted under its name is one deployment with two records
    listed = await get(jp_fetch, "deployments")
    check(p.Page[p.Deployment], listed, "deployments")
    assert [(d["name"], d["status"], d["records"]) for d in listed["items"]] == [
        ("churn-api", "running", 2)]
    detail = await get(jp_fetch, "deployments", "churn-api")
    check(p.DeploymentDetail, detail, "deployments/{name}")
    assert [h["status"] for h in detail["history"]] == ["running", "stopped"]
    assert detail["deployment"]["url"] == ops["served"].url
    assert (await get(jp_fetch, "deployments", ops["first"].id))["deployment"]["id"] == \
        ops["served"].id  # an old record's id finds the deployment

    # live traffic, read by the Jupyter server from the model server's /metrics
    traffic = await get(jp_fetch, "deployments", "churn-api", "traffic")
    check(p.DeploymentTraffic, traffic, "traffic")
    assert traffic["reachable"] is True
    assert (traffic["requests"], traffic["client_errors"], traffic["server_errors"],
            traffic["rows"]) == (3, 1, 0, 200)
    assert traffic["p99_ms"] is not None
    assert traffic["mean_ms"] > 0

    logs = await get(jp_fetch, "deployments", "churn-api", "logs", lines="3")
    check(p.DeploymentLogs, logs, "logs")
    assert 1 <= len(logs["lines"]) <= 3
    assert "lines must be from 1 to 2000" in await fail(
        jp_fetch, "deployments", "churn-api", "logs", code=400, lines="0")
    assert "digits" in await fail(jp_fetch, "deployments", "churn-api", "logs", code=400,
                                  lines="many")
    for route in ((), ("traffic",), ("logs",)):
        assert "nope" in await fail(jp_fetch, "deployments", "nope", *route, code=404)

    # the lineage: one node for the deployment, its restart in its record
    graph = await get(jp_fetch, "lineage", deployment="churn-api")
    deployed = [n for n in graph["nodes"] if n["type"] == "deployment"]
    assert len(deployed) == 1
    assert deployed[0]["data"]["restarts"] == 1
    assert [h["status"] for h in deployed[0]["data"]["history"]] == ["running", "stopped"]
    by_version = await get(jp_fetch, "lineage", model="churn/1")
    assert len([n for n in by_version["nodes"] if n["type"] == "deployment"]) == 1

    # every job run, wherever its job was exported, with why it failed
    runs = await get(jp_fetch, "job-runs")
    check(p.Page[p.JobRun], runs, "job-runs")
    assert [(r["job"], r["status"]) for r in runs["items"]] == [
        ("nightly", "failed"), ("train", "finished")]
    failed = runs["items"][0]
    assert (failed["failure"], failed["gate_failed"]) == ("gate", "metrics.acc >= 0.9")
    assert failed["job_dir"].endswith("elsewhere/nightly")
    assert failed["executed_artifact"] == "executed.ipynb"
    assert failed["executed"]
    assert failed["executed"].endswith(".ipynb")
    jobs = await get(jp_fetch, "jobs")
    assert [j["job"] for j in jobs["items"]] == ["train"]  # only <project>/jobs is scanned
    second = await get(jp_fetch, "job-runs", limit="1", offset="1")
    assert ([r["job"] for r in second["items"]], second["total"]) == (["train"], 2)
    assert (await get(jp_fetch, "job-runs", job="nightly"))["total"] == 1
    assert (await get(jp_fetch, "job-runs", job="nope"))["total"] == 0
    assert "limit must be from 1 to 500" in await fail(jp_fetch, "job-runs", code=400,
                                                       limit="0")

    # a drift check: each column's test, statistic and p-value or distance, drifted first
    drift = await get(jp_fetch, "drift", ops["drift"])
    check(p.DriftDetail, drift, "drift/{run_id}")
    assert drift["dataset_drift"] is True
    verdicts = [c["drifted"] for c in drift["columns"]]
    assert verdicts == sorted(verdicts, reverse=True)
    assert verdicts[0] is True
    assert all(c["test"] in {"ks", "chi2", "psi", "wasserstein", "jensenshannon"}
               for c in drift["columns"])
    assert drift["report"] == "drift.html"
    assert "no drift check" in await fail(jp_fetch, "drift", ops["ok_job"], code=404)
    assert "ffffffff" in await fail(jp_fetch, "drift", "ffffffff", code=404)

    # the monitor's check, its drift check linked
    checks = await get(jp_fetch, "monitor-checks")
    check(p.Page[p.MonitorCheck], checks, "monitor-checks")
    assert checks["total"] == 1
    (m,) = checks["items"]
    assert (m["monitor"], m["status"], m["incident"], m["rows"]) == ("churn-watch", "alert",
                                                                      1, 200)
    assert any("data drift" in r for r in m["reasons"])
    assert (await get(jp_fetch, "drift", m["drift_run"]))["run_id"] == m["drift_run"]
    assert (await get(jp_fetch, "monitor-checks", monitor="nope"))["total"] == 0
    assert (await get(jp_fetch, "monitor-checks", limit="1", offset="1"))["items"] == []
    assert "offset" in await fail(jp_fetch, "monitor-checks", code=400, offset="-1")

    # stop: audited; a stopped deployment cannot be stopped again, and has no traffic
    assert "nope" in await fail(jp_fetch, "deployments", "nope", "stop", code=404,
                                method="POST", body="")
    response = await jp_fetch(*API, "deployments", "churn-api", "stop", method="POST",
                              body="")
    stopped = json.loads(response.body)
    check(p.Deployment, stopped, "stop")
    assert (stopped["name"], stopped["status"], stopped["records"]) == ("churn-api",
                                                                       "stopped", 2)
    assert "not running" in await fail(jp_fetch, "deployments", "churn-api", "stop",
                                       code=404, method="POST", body="")
    after = await get(jp_fetch, "deployments", "churn-api", "traffic")
    assert (after["reachable"], after["detail"]) == (False,
                                                     "deployment churn-api is stopped")


# -- reproduce ----------------------------------------------------------------------------------

async def _reproduction(jp_fetch: Any, run_id: str, timeout: float = 240) -> dict[str, Any]:
    """Poll the reproduction's state until it is no longer running."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        state = await get(jp_fetch, "runs", run_id, "reproduce")
        if state["state"] != "running":
            return state
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.5)


@pytest.mark.kernel
@pytest.mark.timeout(300)
async def test_reproduce_a_clean_run_in_the_background(jp_fetch: Any, shell: Any,
                                                       filled: dict[str, Any]) -> None:
    import nbmlops
    from nbmlops import api
    from nbmlops.server import payloads as p
    from nbmlops.server.schema import check

    for cid, code in (("c1", "import numpy as np"),
                      ("c2", "values = np.arange(10, dtype=float) * 1.5"),
                      ("c3", "print('not read')")):
        assert shell.run_cell(code, store_history=True, cell_id=cid).success
    body = "%%track -e again -n total -q\ntotal = float(values.sum())"
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("again").run_id

    idle = await get(jp_fetch, "runs", run_id[:8], "reproduce")
    check(p.Reproduction, idle, "runs/{id}/reproduce")
    assert (idle["run_id"], idle["state"], idle["started"]) == (run_id, "idle", None)

    started = await jp_fetch(*API, "runs", run_id[:8], "reproduce", method="POST", body="{}")
    answer = json.loads(started.body)
    check(p.Reproduction, answer, "POST runs/{id}/reproduce")
    assert (started.code, answer["state"], answer["rtol"]) == (200, "running", 0.0)
    # one at a time per run: a second start while the first runs is refused
    busy = await fail(jp_fetch, "runs", run_id, "reproduce", code=409, method="POST",
                      body="{}")
    assert f"run {run_id[:8]} is being reproduced already" in busy
    running = await get(jp_fetch, "runs", run_id, "reproduce")
    assert running["state"] in ("running", "reproduced")  # a fast machine may be done

    done = await _reproduction(jp_fetch, run_id)
    check(p.Reproduction, done, "runs/{id}/reproduce")
    assert done["state"] == "reproduced", done
    assert done["summary"].startswith(f"reproduced: run {run_id[:8]} (1 metrics")
    assert (done["differences"], done["causes"], done["error"]) == ([], [], None)
    assert done["elapsed_s"] > 0
    api.close()  # read what the subprocess wrote
    rep = nbmlops.get_run(done["reproduction_run_id"])
    assert (rep.kind, rep.status, rep.tags["reproduces"], rep.tags["reproduced"]) == (
        "reproduce", "finished", run_id, "true")
    assert nbmlops.get_run(done["reproduced_run_id"]).metrics["total"] == 67.5

    # once it has finished, it can be started again
    again = await jp_fetch(*API, "runs", run_id, "reproduce", method="POST",
                           body=json.dumps({"rtol": 0.01}))
    assert json.loads(again.body)["rtol"] == 0.01
    assert (await _reproduction(jp_fetch, run_id))["state"] == "reproduced"


async def test_what_cannot_be_reproduced_is_a_4xx_that_says_why(
        jp_fetch: Any, filled: dict[str, Any]) -> None:
    # a run tracked without the journal has no slice
    message = await fail(jp_fetch, "runs", filled["tuned"], "reproduce", code=400,
                         method="POST", body="{}")
    assert message.startswith(f"run {filled['tuned'][:8]} has no slice")
    assert "track it again in a notebook with %load_ext nbmlops" in message
    assert "ffffffff" in await fail(jp_fetch, "runs", "ffffffff", "reproduce", code=404,
                                    method="POST", body="{}")
    assert "ffffffff" in await fail(jp_fetch, "runs", "ffffffff", "reproduce", code=404)
    for body, says in (("{}{", "must be JSON"), ('{"rtol": -1}', "rtol must be"),
                       ('{"rtol": "x"}', "rtol"), ('{"tol": 1}', "tol"),
                       ('[]', "object")):
        assert says in await fail(jp_fetch, "runs", filled["tuned"], "reproduce", code=400,
                                  method="POST", body=body)
    # nothing was started
    assert (await get(jp_fetch, "runs", filled["tuned"], "reproduce"))["state"] == "idle"


async def test_reproduce_before_anything_was_recorded_is_a_503(jp_fetch: Any,
                                                               store_env: Path) -> None:
    message = await fail(jp_fetch, "runs", "abcd1234", "reproduce", code=503, method="POST",
                         body="{}")
    assert "store" in message
    assert not (store_env / "store" / "lineage.db").exists()


@pytest.mark.kernel
@pytest.mark.timeout(300)
async def test_a_reproduction_that_differs_says_why_and_one_that_fails_says_what_raised(
        jp_fetch: Any, shell: Any, filled: dict[str, Any], store_env: Path) -> None:
    import nbmlops

    prices = store_env / "project" / "prices.csv"
    prices.write_text("price\n1\n2\n3\n")
    for cid, code in (("c1", "import pandas as pd"),
                      ("c2", "prices = pd.read_csv('prices.csv')")):
        assert shell.run_cell(code, store_history=True, cell_id=cid).success
    body = "%%track -e shop -n total -q --data prices.csv\ntotal = float(prices.price.sum())"
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("shop").run_id

    prices.write_text("price\n1\n2\n4\n")  # the data changed since the run
    await jp_fetch(*API, "runs", run_id, "reproduce", method="POST", body="{}")
    differs = await _reproduction(jp_fetch, run_id)
    assert differs["state"] == "differs", differs
    assert "metric total: 6.0 then, 7.0 now" in differs["differences"]
    assert any(d.startswith("input prices.csv: content") for d in differs["differences"])
    assert "data prices.csv changed since the run (its fingerprint differs)" in differs["causes"]
    assert differs["summary"].startswith(f"NOT reproduced: run {run_id[:8]}")
    assert differs["reproduction_run_id"]

    prices.unlink()  # now the slice's own code raises
    await jp_fetch(*API, "runs", run_id, "reproduce", method="POST", body="{}")
    failed = await _reproduction(jp_fetch, run_id)
    assert failed["state"] == "failed", failed
    assert "FileNotFoundError" in failed["error"]
    assert "prices.csv" in failed["error"]
