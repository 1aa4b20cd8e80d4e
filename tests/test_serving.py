"""``nbmlops.deploy``: a real server process on a loopback port, driven over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import nbmlops

RNG = np.random.default_rng(1)
X = pd.DataFrame({"tenure": RNG.integers(1, 72, 300), "spend": RNG.gamma(4.0, 20.0, 300),
                  "plan": RNG.choice(["basic", "pro"], 300)})
X["is_pro"] = (X.plan == "pro").astype(int)
FEATURES = ["tenure", "spend", "is_pro"]
Y = ((X.tenure < 24) & (X.spend > 60)).astype(int)
V1 = LogisticRegression(max_iter=1000).fit(X[FEATURES], Y)
V2 = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[FEATURES], Y)
ROWS = X[FEATURES].head(40)


class Client:
    """Keep-alive HTTP to one server, as a service would call it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json"} if data is not None else {}
        sent.update(headers or {})
        self.conn.request(method, path, body=data, headers=sent)
        answer = self.conn.getresponse()
        text = answer.read()
        kind = answer.getheader("content-type", "")
        parsed = json.loads(text) if kind.startswith("application/json") else text.decode()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, parsed

    def predict(self, body: Any, query: str = "") -> Any:
        status, _, answer = self.request("POST", "/predict" + query, body)
        assert status == 200, answer
        return answer


@pytest.fixture
def registry(store_env: Path) -> Path:
    nbmlops.register(V1, name="churn", data=X[FEATURES], alias="production")
    nbmlops.register(V2, name="churn", data=X[FEATURES])
    return store_env


@pytest.fixture
def served(registry: Path) -> Iterator[Any]:
    deployment = nbmlops.deploy("churn@production", port=0, max_body=64 * 1024)
    try:
        yield deployment
    finally:
        nbmlops.stop_deployment(deployment.name)


def test_predictions_equal_the_model_and_every_error_is_a_clear_status(served: Any) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    client = Client(served.url)
    answer = client.predict(ROWS.to_dict(orient="records"))
    assert answer["predictions"] == V1.predict(ROWS).tolist()
    assert (answer["model"], answer["version"]) == ("churn", 1)
    columns = client.predict(ROWS.to_dict(orient="list"))
    assert columns["predictions"] == answer["predictions"]
    proba = client.predict(ROWS.to_dict(orient="records"), "?proba=true")
    np.testing.assert_allclose(proba["probabilities"], V1.predict_proba(ROWS))
    assert proba["classes"] == [0, 1]
    extra = client.predict(X.head(5).to_dict(orient="records"))  # extra columns are dropped
    assert extra["predictions"] == V1.predict(X[FEATURES].head(5)).tolist()

    cases = [
        (("POST", "/predict"), {"raw": b"tenure=3", "headers": {"Content-Type": "text/plain"}},
         415, "Content-Type: application/json"),
        (("POST", "/predict"), {"raw": b"[{\"tenure\": 3,"}, 400, "not valid JSON"),
        (("POST", "/predict"), {"body": [{"tenure": 3, "spend": 1.0}]}, 422, "'is_pro'"),
        (("POST", "/predict"), {"body": [{"tenure": "x", "spend": 1.0, "is_pro": 0}]}, 422,
         "tenure"),
        (("POST", "/predict"), {"body": ROWS.to_dict(orient="records") * 400}, 413,
         "larger than this server accepts"),
        (("GET", "/predict"), {}, 405, "GET is not allowed"),
        (("GET", "/nowhere"), {}, 404, "no such endpoint"),
    ]
    for (method, path), kwargs, status, message in cases:
        got, headers, body = client.request(method, path, **kwargs)
        assert (got, headers["content-type"]) == (status, "application/json"), body
        assert message in body["error"]
        assert "Traceback" not in json.dumps(body)
    _, _, missing = client.request("POST", "/predict", [{"tenure": 3, "spend": 1.0}])
    assert missing["column"] == "is_pro"

    status, _, health = client.request("GET", "/health")
    assert (status, health["status"], health["version"]) == (200, "ok", 1)
    _, _, meta = client.request("GET", "/metadata")
    assert meta["signature"]["inputs"] == [["tenure", "int64"], ["spend", "float64"],
                                           ["is_pro", "int64"]]
    assert (meta["reference"], meta["follows"], meta["estimator"]) == (
        "churn@production", True, "LogisticRegression")
    _, _, openapi = client.request("GET", "/openapi.json")
    assert openapi["openapi"] == "3.1.0"
    record = openapi["components"]["schemas"]["Record"]
    assert record["required"] == FEATURES
    assert record["properties"]["spend"] == {"type": ["number", "null"]}
    status, headers, docs = client.request("GET", "/docs")
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "openapi.json" in docs
    for column in FEATURES:  # the page lists the model's own input
        assert f"<code>{column}</code>" in docs
    # self-contained: nothing fetched from elsewhere (works offline, tells no one)
    assert not re.search(r"(https?:)?//|<script|@import|url\(", docs), docs

    _, headers, metrics = client.request("GET", "/metrics")
    assert headers["content-type"].startswith("text/plain")
    assert 'nbmlops_requests_total{endpoint="/predict",status="200"} 4.0' in metrics
    assert 'nbmlops_request_errors_total{endpoint="/predict",status="422"} 3.0' in metrics
    assert 'nbmlops_request_errors_total{endpoint="/predict",status="413"} 1.0' in metrics
    assert 'nbmlops_request_duration_seconds_count{endpoint="/predict"}' in metrics
    assert 'nbmlops_request_duration_seconds_bucket{endpoint="/predict",le="0.005"}' in metrics
    assert f"nbmlops_predicted_rows_total {3 * len(ROWS) + 5 + 1}" not in metrics  # (sanity)
    assert f"nbmlops_predicted_rows_total {float(3 * len(ROWS) + 5)}" in metrics
    assert "nbmlops_model_version 1.0" in metrics


def test_a_body_nested_too_deeply_is_a_400_without_a_traceback(served: Any) -> None:
    client = Client(served.url)
    before = nbmlops.deployment_logs(served.name, lines=10_000).splitlines()
    for depth in (2_000, 10_000):  # within max_body (64 KiB here)
        for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            status, _, answer = client.request("POST", "/predict", raw=body.encode())
            assert status == 400, answer
            assert "nests" in answer["error"]
    assert client.predict(ROWS.to_dict(orient="records"))["version"] == 1  # still serving
    after = nbmlops.deployment_logs(served.name, lines=10_000).splitlines()
    new = after[len(before):]
    assert len(new) <= 1, new  # at most one line, never a traceback
    assert not any("Traceback" in line for line in after)


def test_a_script_registered_model_knows_its_run_and_its_columns(store_env: Path) -> None:
    with nbmlops.track("churn", "script") as run:
        model = LogisticRegression(max_iter=1000).fit(X[FEATURES], Y)
        nbmlops.log_metric("accuracy", model.score(X[FEATURES], Y))
    version = nbmlops.register(model, name="scripted")  # after the block, without data=
    assert version.run_id == run.id
    assert version.signature is not None
    assert [name for name, _ in version.signature["inputs"]] == FEATURES
    arrays = LogisticRegression(max_iter=1000).fit(X[FEATURES].to_numpy(), Y)
    with nbmlops.track("churn", "arrays") as array_run:
        nbmlops.register(arrays, name="arrays")  # inside the block: the run being tracked
    assert nbmlops.load_model("arrays").version.run_id == array_run.id
    for name, missing, columns in (("scripted", "spend", FEATURES),
                                   ("arrays", "x1", ["x0", "x1", "x2"])):
        deployment = nbmlops.deploy(name, port=0)
        try:
            client = Client(deployment.url)
            rows = ROWS.set_axis(columns, axis=1)
            answer = client.predict(rows.to_dict(orient="records"))
            assert answer["predictions"] == model.predict(ROWS).tolist()
            status, _, body = client.request(
                "POST", "/predict", rows.drop(columns=[missing]).to_dict(orient="records"))
            assert status == 422, body
            assert (missing in body["error"], body["column"]) == (True, missing)
            status, _, body = client.request("POST", "/predict", [[1.0, 2.0]])  # 2 of 3
            assert status == 422, body
            assert "3" in body["error"]
        finally:
            nbmlops.stop_deployment(deployment.name)


def test_the_prediction_log_holds_what_was_served(served: Any) -> None:
    client = Client(served.url)
    client.predict(ROWS.head(3).to_dict(orient="records"))
    client.predict(ROWS.tail(2).to_dict(orient="records"), "?proba=true")
    stopped = nbmlops.stop_deployment(served.name)  # the log is written when it stops
    assert stopped.status == "stopped"
    log = nbmlops.predictions(served.name)
    assert len(log) == 5
    pd.testing.assert_frame_equal(log[FEATURES].head(3), ROWS.head(3).reset_index(drop=True))
    assert log["prediction"].head(3).tolist() == V1.predict(ROWS.head(3)).tolist()
    np.testing.assert_allclose(log[["proba_0", "proba_1"]].tail(2),
                               V1.predict_proba(ROWS.tail(2)))
    assert set(log["_version"]) == {1}
    assert log["_request"].nunique() == 2
    assert nbmlops.predictions(served.name, since="1h").shape == log.shape
    assert nbmlops.predictions(served.name, since=pd.Timestamp.now(tz="UTC")).empty
    nbmlops.deploy("churn@production", port=0)  # the fixture's stop needs a live one


def test_a_token_guards_every_endpoint_but_health(registry: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURN_TOKEN", "s3cret-token")
    deployment = nbmlops.deploy("churn/1", name="guarded", port=0, token_env="CHURN_TOKEN")
    try:
        assert deployment.alias is None  # a fixed version: nothing to follow
        client = Client(deployment.url)
        body = ROWS.head(2).to_dict(orient="records")
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": "s3cret-token"}):
            status, got, answer = client.request("POST", "/predict", body, headers=headers)
            assert (status, got["www-authenticate"]) == (401, "Bearer")
            assert "bearer token" in answer["error"]
        for path in ("/metadata", "/metrics", "/openapi.json"):
            assert client.request("GET", path)[0] == 401
        ok = {"Authorization": "Bearer s3cret-token"}
        status, _, answer = client.request("POST", "/predict", body, headers=ok)
        assert (status, answer["predictions"]) == (200, V1.predict(ROWS.head(2)).tolist())
        for scheme in ("bearer", "BEARER"):  # the scheme is case-insensitive
            headers = {"Authorization": f"{scheme} s3cret-token"}
            assert client.request("POST", "/predict", body, headers=headers)[0] == 200
        assert client.request("GET", "/health")[0] == 200
        assert nbmlops.get_deployment("guarded").token_env == "CHURN_TOKEN"  # not the token
    finally:
        nbmlops.stop_deployment("guarded")
    monkeypatch.delenv("CHURN_TOKEN")
    with pytest.raises(nbmlops.DeploymentError, match="CHURN_TOKEN is not set"):
        nbmlops.deploy("churn/1", port=0, token_env="CHURN_TOKEN")


def test_the_alias_moves_under_load_without_a_failed_request(registry: Path) -> None:
    deployment = nbmlops.deploy("churn@production", port=0, workers=2, poll=0.2)
    body = ROWS.to_dict(orient="records")
    expected = {1: V1.predict(ROWS).tolist(), 2: V2.predict(ROWS).tolist()}
    seen: list[list[int]] = [[] for _ in range(4)]
    failures: list[str] = []
    stop = threading.Event()

    def hammer(i: int) -> None:
        client = Client(deployment.url)
        while not stop.is_set():
            try:
                status, _, answer = client.request("POST", "/predict", body)
            except Exception as exc:  # a dropped connection is a failed request too
                failures.append(repr(exc))
                client = Client(deployment.url)
                continue
            if status != 200 or answer["predictions"] != expected[answer["version"]]:
                failures.append(f"{status} {answer}")
            else:
                seen[i].append(answer["version"])

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        nbmlops.promote("churn", 2, "production", reason="try the tree")
        _wait(lambda: all(s and s[-1] == 2 for s in seen), 20)
        nbmlops.rollback("churn@production", reason="back")
        _wait(lambda: all(s and s[-1] == 1 for s in seen), 20)
    finally:
        stop.set()
        for t in threads:
            t.join()
        nbmlops.stop_deployment(deployment.name)
    assert failures == []
    assert sum(len(s) for s in seen) > 50
    for versions in seen:  # each client saw 1, then 2, then 1 again
        changes = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
        assert changes == [1, 2, 1]
    events = nbmlops.api.workspace().store.audit_events(deployment=deployment.id)
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("deploy", None, 1), ("switch", 1, 2), ("switch", 2, 1), ("undeploy", None, None)]
    assert nbmlops.get_deployment(deployment.name).version == 1


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_deployments_are_listed_and_a_dead_server_is_marked_crashed(registry: Path) -> None:
    deployment = nbmlops.deploy("churn@production", port=0)
    frame = nbmlops.deployments(running=True)
    assert frame[["name", "status", "version", "url"]].values.tolist() == [
        ["churn", "running", 1, deployment.url]]
    assert "Application startup complete" in nbmlops.deployment_logs("churn")
    with pytest.raises(nbmlops.DeploymentError, match="already running at"):
        nbmlops.deploy("churn@production", port=0)
    port = urlsplit(deployment.url).port
    with pytest.raises(nbmlops.DeploymentError, match=f"port {port} .* already in use"):
        nbmlops.deploy("churn/2", name="other", port=port)
    os.kill(deployment.pid, 9)  # killed: it cannot say so itself
    _wait(lambda: nbmlops.get_deployment("churn").status == "crashed", 10)
    assert nbmlops.deployments().status.tolist()[0] == "crashed"
    with pytest.raises(nbmlops.DeploymentError, match="is not running"):
        nbmlops.stop_deployment("churn")
    with pytest.raises(nbmlops.ModelNotFoundError, match="no such alias"):
        nbmlops.deploy("churn@staging", port=0)


def test_serve_in_the_foreground_stops_cleanly_on_sigterm(registry: Path) -> None:
    exe = Path(sys.executable).parent / "nbmlops"
    proc = subprocess.Popen([str(exe), "serve", "churn/2", "--port", "0", "--no-log"],
                            stderr=subprocess.PIPE, text=True, env=os.environ)
    try:
        _wait(lambda: _running("churn"), 60)
        deployment = nbmlops.get_deployment("churn")
        answer = Client(deployment.url).predict(ROWS.to_dict(orient="records"))
        assert (answer["version"], answer["predictions"]) == (2, V2.predict(ROWS).tolist())
        assert deployment.server_log is None  # its output is this terminal's
        assert deployment.log_dir is not None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "deployment 'churn' stopped" in err
    assert nbmlops.get_deployment("churn").status == "stopped"
    assert not Path(deployment.log_dir).exists()  # --no-log


def _running(name: str) -> bool:
    try:
        return nbmlops.get_deployment(name).status == "running"
    except nbmlops.DeploymentError:
        return False


def test_a_worker_imports_no_notebook_machinery(registry: Path) -> None:
    from dataclasses import asdict

    from nbmlops.serving.server import OPTIONS_ENV, ServeOptions, _resolve_store

    options, *_ = _resolve_store(ServeOptions(target="churn@production"))
    code = ("import sys; from nbmlops.serving.server import create_worker_app; "
            "app = create_worker_app(); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('IPython', 'ipywidgets', 'ipykernel', 'matplotlib', 'nbmlops.magics', "
            "'nbmlops.widgets', 'jupyter_client')); print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, OPTIONS_ENV: json.dumps(asdict(options))},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
