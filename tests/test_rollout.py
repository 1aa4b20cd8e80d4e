"""Canary and shadow rollouts: real server processes on loopback ports, driven over HTTP."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import nbmlops
from tests.test_cli import cli
from tests.test_serving import FEATURES, V1, V2, Client, X

ROWS = X[FEATURES]


@pytest.fixture
def registry(store_env: Path) -> Path:
    nbmlops.register(V1, name="churn", data=ROWS, alias="production")
    nbmlops.register(V2, name="churn", data=ROWS, alias="candidate")
    return store_env


def _until(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None and found is not False:
            return found
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s")


def _record(i: int) -> dict[str, Any]:
    row = ROWS.iloc[i % len(ROWS)]
    return {"tenure": int(row.tenure), "spend": float(row.spend), "is_pro": int(row.is_pro)}


def _shadow_processes(pid: int | None) -> list[int]:
    """The shadow's own processes among the server's descendants (Linux: read in /proc)."""
    assert pid is not None
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for child in parents:
        at = child
        while at in parents and at != pid:
            at = parents[at]
        if at == pid and child != pid:
            with contextlib.suppress(OSError):
                if b"shadow_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
    return found


def _within_binomial(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_a_canary_answers_its_share_and_each_row_says_its_version(registry: Path) -> None:
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.2)
    try:
        client = Client(dep.url)
        versions = []
        for i in range(2000):
            answer = client.predict([_record(i)])
            (version,) = answer["versions"]
            model = V1 if version == 1 else V2
            assert answer["predictions"] == model.predict(ROWS.iloc[[i % len(ROWS)]]).tolist()
            versions.append(version)
        assert set(versions) == {1, 2}
        assert _within_binomial(versions.count(2), 2000, 0.2), versions.count(2)
        report = nbmlops.rollout(dep.name)
        assert report.status == "running"
        assert report.mode == "canary"
        shown = {v["role"]: v for v in report.versions}
        assert shown["challenger"]["requests"] == versions.count(2)
        assert shown["champion"]["requests"] == 2000  # it scores canary rows too
        assert shown["challenger"]["error_rate"] == 0.0
        assert 0 < shown["challenger"]["p50_ms"] <= shown["challenger"]["p99_ms"]
        assert 0.0 <= shown["challenger"]["agreement"] <= 1.0
        assert "churn/2" in str(report)
        assert "share 0.2" in str(report)
        log = _until(lambda: (lambda f: f if len(f) >= 2000 else None)(
            nbmlops.predictions(dep.name)))
        assert (log["_version"] == 2).sum() == versions.count(2)
    finally:
        nbmlops.stop_deployment(dep.name)


def test_a_keyed_canary_is_sticky_per_key_and_splits_a_request_by_row(registry: Path) -> None:
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.2,
                         key="customer")
    try:
        client = Client(dep.url)
        seen: dict[int, int] = {}
        split = False
        for _ in range(3):
            for start in range(0, 1000, 50):
                body = [{**_record(k), "customer": k} for k in range(start, start + 50)]
                answer = client.predict(body)
                split |= len(set(answer["versions"])) == 2
                for k, version in zip(range(start, start + 50), answer["versions"],
                                      strict=True):
                    assert seen.setdefault(k, version) == version, f"key {k} moved"
        assert split  # rows of one request went to both versions
        assert _within_binomial(sum(v == 2 for v in seen.values()), 1000, 0.2)
        # columns, as the other payload shape, route the same keys the same way
        cols = {"tenure": [3, 5], "spend": [80.0, 10.0], "is_pro": [1, 0], "customer": [7, 8]}
        assert client.predict(cols)["versions"] == [seen[7], seen[8]]
        # a split request's rows keep the ids its answer gave: labels attach to each row,
        # under the version that answered it
        mixed = client.predict([{**_record(k), "customer": k} for k in range(50)])
        assert len(set(mixed["versions"])) == 2
        _until(lambda: len(nbmlops.predictions(dep.name)) >= 3052 or None)
        done = nbmlops.log_feedback(dep.name, ids=mixed["ids"], labels=[1] * 50)
        assert (done.attached, done.unknown) == (50, ())
        log = nbmlops.predictions(dep.name)
        mine = log[log["_request"] == mixed["request_id"]].set_index("_id")
        assert [int(mine.loc[i, "_version"]) for i in mixed["ids"]] == mixed["versions"]
    finally:
        nbmlops.stop_deployment(dep.name)


@pytest.mark.parametrize("process", ["0", "1"], ids=["thread", "process"])
def test_a_shadow_never_changes_an_answer_and_both_versions_are_logged(
        registry: Path, process: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the shadow scored in the worker's thread, or in a process of its own
    monkeypatch.setenv("NBMLOPS_SHADOW_PROCESS", process)
    dep = nbmlops.deploy("churn@production", port=0, shadow="candidate")
    try:
        client = Client(dep.url)
        for start in range(0, 300, 10):
            body = [_record(i) for i in range(start, start + 10)]
            answer = client.predict(body)
            assert answer["version"] == 1
            assert "versions" not in answer
            assert answer["predictions"] == V1.predict(ROWS.iloc[start:start + 10]).tolist()
        log = _until(lambda: (lambda f: f if (f["_version"] == 2).sum() >= 300 else None)(
            nbmlops.predictions(dep.name)))
        served, shadow = log[log["_version"] == 1], log[log["_version"] == 2]
        assert len(served) == 300
        assert len(shadow) == 300
        assert shadow["_shadow"].eq(True).all()
        assert not served["_shadow"].eq(True).any()
        assert shadow["prediction"].tolist() == V2.predict(ROWS.iloc[:300]).tolist()
        if process == "1":  # its own process scored them (once it had started)
            _until(lambda: _shadow_processes(dep.pid))
        else:
            assert _shadow_processes(dep.pid) == []
        report = _until(lambda: (lambda r: r if r.versions[1]["requests"] >= 30 else None)(
            nbmlops.rollout(dep.name)))
        agree = float(np.mean(V1.predict(ROWS.iloc[:300]) == V2.predict(ROWS.iloc[:300])))
        assert report.versions[1]["agreement"] == pytest.approx(agree)
        # drift of the champion reads only the rows it served
        check = nbmlops.drift("churn/1", deployment=dep.name)
        assert check.current_rows == 300, check.current
    finally:
        nbmlops.stop_deployment(dep.name)


def test_a_shadow_has_a_process_of_its_own_by_default_on_two_cpus(
        registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBMLOPS_SHADOW_PROCESS", raising=False)
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("on one CPU the worker's thread scores the shadow")
    dep = nbmlops.deploy("churn@production", port=0, shadow="candidate")
    try:
        client = Client(dep.url)
        for i in range(20):
            answer = client.predict([_record(i)])
            assert "versions" not in answer
            assert answer["predictions"] == V1.predict(ROWS.iloc[[i]]).tolist()
        shadows = _until(lambda: _shadow_processes(dep.pid))
        assert len(shadows) == 1  # one per worker
        log = _until(lambda: (lambda f: f if (f["_version"] == 2).sum() >= 20 else None)(
            nbmlops.predictions(dep.name)))
        assert log.loc[log["_version"] == 2, "_shadow"].eq(True).all()
    finally:
        nbmlops.stop_deployment(dep.name)

    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    _until(lambda: not any(running(pid) for pid in shadows))  # it stops with the server


def test_a_promotion_rule_moves_production_and_the_server_answers_with_the_challenger(
        registry: Path) -> None:
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.5,
                         poll=0.2, promote_when="requests>=40 and errors<=champion and "
                                                "p99<=50*champion + 5")
    try:
        client = Client(dep.url)
        i = 0

        def moved() -> bool:
            nonlocal i
            for _ in range(20):
                client.predict([_record(i)])
                i += 1
            return nbmlops.load_model("churn@production").version.version == 2

        _until(moved)
        answer = _until(lambda: (lambda a: a if a["version"] == 2 and "versions" not in a
                                 else None)(client.predict([_record(0)])))
        assert answer["predictions"] == V2.predict(ROWS.iloc[[0]]).tolist()
        report = _until(lambda: (lambda r: r if r.status == "promoted" else None)(
            nbmlops.rollout(dep.name)))
        promote = [d for d in report.decisions if d["action"] == "rollout-promote"]
        assert len(promote) == 1
        figures = promote[0]["details"]
        assert figures["challenger"]["requests"] >= 40
        assert figures["challenger_version"] == 2
        assert figures["champion_version"] == 1
        assert "moved to version 2" in promote[0]["reason"]
        assert nbmlops.get_deployment(dep.name).version == 2
    finally:
        nbmlops.stop_deployment(dep.name)


def test_every_workers_counts_reach_the_rollout_figures_within_a_moment(
        registry: Path) -> None:
    # each worker keeps its counts aside and adds them to the shared counters every quarter
    # second: the figures the rules read (all workers') catch up with every request sent
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.5,
                         workers=2)
    try:
        versions: list[int] = []
        for i in range(60):  # a connection each: both workers answer some
            client = Client(dep.url)
            versions += client.predict([_record(i), _record(i + 1)])["versions"][:1]
            client.conn.close()
        assert set(versions) == {1, 2}
        sent = time.monotonic()

        def caught_up() -> Any:
            shown = {v["role"]: v for v in nbmlops.rollout(dep.name).versions}
            return shown if shown["champion"]["requests"] >= 60 else None

        shown = _until(caught_up, timeout=10, every=0.05)
        assert time.monotonic() - sent < 10
        assert shown["champion"]["requests"] == 60  # every request, none twice
        assert shown["champion"]["rows"] == 120
        assert shown["challenger"]["requests"] == versions.count(2)
        assert shown["challenger"]["rows"] == 2 * versions.count(2)
        assert shown["challenger"]["agreement"] is not None
        _, _, text = Client(dep.url).request("GET", "/metrics")
        counted = {m.group(1): float(m.group(2)) for m in re.finditer(
            r'nbmlops_rollout_requests_total\{role="(\w+)",version="\d+"\} (\S+)', text)}
        assert counted == {"champion": 60.0, "challenger": float(versions.count(2))}
    finally:
        nbmlops.stop_deployment(dep.name)


def test_a_rollback_rule_removes_a_failing_canary(registry: Path) -> None:
    # a challenger that reads other columns: it fails on every row the champion accepts
    broken = LogisticRegression(max_iter=500).fit(ROWS[["tenure", "spend"]],
                                                  (ROWS.tenure < 24).astype(int))
    nbmlops.register(broken, name="churn", data=ROWS[["tenure", "spend"]], alias="candidate")
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.5,
                         poll=0.2, rollback_when="errors>champion+0.01", workers=2)
    try:
        client = Client(dep.url)

        def rolled_back() -> Any:
            for i in range(20):  # the champion answers the rows the challenger failed
                answer = client.predict([_record(i)])
                assert "versions" not in answer or answer["versions"] == [1]
            report = nbmlops.rollout(dep.name)
            return report if report.status == "rolled back" else None

        report = _until(rolled_back)
        (decision,) = [d for d in report.decisions if d["action"] == "rollout-rollback"]
        assert decision["details"]["challenger"]["errors"] == 1.0
        assert decision["details"]["rule"] == "errors>champion+0.01"
        _until(lambda: "versions" not in client.predict([_record(0)]))  # workers follow
        assert nbmlops.load_model("churn@production").version.version == 1
    finally:
        nbmlops.stop_deployment(dep.name)


def test_a_protected_alias_turns_the_promotion_into_a_request(registry: Path) -> None:
    nbmlops.protect_alias("churn", "production", approvals=1)
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.5,
                         poll=0.2, promote_when="requests>=20")

    try:
        client = Client(dep.url)

        def requested() -> Any:
            for i in range(20):
                client.predict([_record(i)])
            report = nbmlops.rollout(dep.name)
            return report if report.status == "requested" else None

        report = _until(requested)
        (request,) = nbmlops.approval_requests("churn")
        assert (request.alias, request.version) == ("production", 2)
        (decision,) = [d for d in report.decisions if d["action"] == "rollout-promote"]
        assert f"approval request #{request.id} opened" in decision["reason"]
        assert nbmlops.load_model("churn@production").version.version == 1
        # the canary goes on while the request waits
        assert any(2 in client.predict([_record(i)])["versions"] for i in range(60))
        nbmlops.reject("churn", "production", reason="not this week")
        report = _until(lambda: (lambda r: r if r.status == "running" else None)(
            nbmlops.rollout(dep.name)))
        assert report.decisions[-1]["action"] == "rollout-rejected"
        time.sleep(1.5)  # the rule still holds, and is not proposed again
        assert len(nbmlops.approval_requests("churn", status=None)) == 1
    finally:
        nbmlops.stop_deployment(dep.name)


@pytest.mark.parametrize(("kw", "message"), [
    ({"canary": "candidate", "promote_when": "requests>=x"}, "unknown name 'x'"),
    ({"canary": "candidate", "promote_when": "__import__('os')"}, "is not allowed"),
    ({"canary": "candidate", "rollback_when": "errors>"}, "is not an expression"),
    ({"canary": "candidate", "rollback_when": "champion>0"}, "'champion' stands for"),
    ({"canary": "candidate", "share": 1.5}, "--share"),
    ({"canary": "candidate", "shadow": "candidate"}, "not both"),
    ({"key": "customer"}, "go(es) with --canary"),
    ({"canary": "production"}, "is the champion itself"),
    ({"canary": "other@candidate"}, "not a version of churn"),
])
def test_a_bad_rollout_is_a_one_line_error_at_deploy_time(registry: Path, kw: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ValueError) as caught:
        nbmlops.deploy("churn@production", port=0, **kw)
    text = str(caught.value)
    assert message in text, text
    assert "\n" not in text
    assert nbmlops.deployments(running=True).empty


def test_the_magic_deploys_a_canary_and_shows_the_rollout(shell: Any, registry: Path,
                                                          capsys: Any) -> None:
    shell.run_line_magic("deploy", "churn@production --port 0 --canary candidate --share 0.3 "
                                   "--key customer --rollback-when \"errors>champion+0.05\"")
    out = capsys.readouterr().out
    assert "canary of candidate (0.3 of requests)" in out, out
    dep = nbmlops.get_deployment("churn")
    try:
        Client(dep.url).predict([{**_record(i), "customer": i} for i in range(100)])
        shell.run_line_magic("deploy", "--rollout churn")
        out = capsys.readouterr().out
        assert "sticky by customer" in out
        assert "roll back when: errors>champion+0.05" in out
        assert re.search(r"challenger +v2", out), out
        shown = cli("rollout", "churn", "--format", "json")
        assert shown.returncode == 0, shown.stderr
        figures = json.loads(shown.stdout)
        assert figures["mode"] == "canary"
        assert figures["key"] == "customer"
        assert sum(v["rows"] for v in figures["versions"] if v["role"] == "challenger") > 0
        bad = cli("deploy", "churn@production", "--port", "0", "--canary", "candidate",
                  "--rollback-when", "errors>>1")
        assert bad.returncode != 0
        assert "--rollback-when 'errors>>1'" in bad.stderr, bad.stderr
        with pytest.raises(Exception, match="unknown name 'latency'"):
            shell.run_line_magic("deploy", "churn@production --port 0 --name other --canary "
                                           "candidate --promote-when \"latency<5\"")
    finally:
        nbmlops.stop_deployment("churn")


def test_the_rollout_of_a_deployment_without_one_says_so(registry: Path) -> None:
    dep = nbmlops.deploy("churn@production", port=0)
    try:
        with pytest.raises(ValueError, match="has no canary or shadow"):
            nbmlops.rollout(dep.name)
        assert "versions" not in Client(dep.url).predict([_record(0)])
    finally:
        nbmlops.stop_deployment(dep.name)



def test_the_rollout_shows_each_versions_estimated_then_realized_performance(
        store_env: Path) -> None:
    """Before labels, each version's CBPE estimate over the rows it answered; once the
    labels come (POST /feedback), each version's realized figures on its own rows."""
    from tests.test_feedback import SERVE, TEST, TRAIN, Y
    from tests.test_feedback import V1 as F1
    from tests.test_feedback import V2 as F2
    from tests.test_feedback import X as FX

    evaluate = (FX[TEST], Y[TEST])
    nbmlops.register(F1, name="churn", data=FX[TRAIN], alias="production", evaluate=evaluate)
    nbmlops.register(F2, name="churn", data=FX[TRAIN], alias="candidate", evaluate=evaluate)
    dep = nbmlops.deploy("churn@production", port=0, canary="candidate", share=0.5)
    try:
        client = Client(dep.url)
        rows = FX[SERVE]
        ids, versions, predicted = [], [], []
        for start in range(0, len(rows), 5):
            answer = client.predict(rows.iloc[start:start + 5].to_dict(orient="records"),
                                    "?proba=true")
            ids += answer["ids"]
            versions += answer["versions"]
            predicted += [int(np.argmax(p)) for p in answer["probabilities"]]
        assert set(versions) == {1, 2}
        _until(lambda: set(ids) <= set(nbmlops.predictions(dep.name)["_id"]))
        before = nbmlops.rollout(dep.name)
        for v in before.versions:
            assert v["basis"] == "estimated", v
            assert v["labelled"] == 0
            assert 0.5 < v["performance"]["accuracy"] <= 1.0
        assert "estimated (CBPE), no labels yet" in str(before)
        assert "accuracy ≈" in str(before)

        truth = Y[SERVE].tolist()
        status, _, result = client.request("POST", "/feedback", {"ids": ids, "labels": truth})
        assert status == 200, result
        assert result["attached"] == len(ids)
        after = nbmlops.rollout(dep.name)
        shown = {v["version"]: v for v in after.versions}
        for version in (1, 2):
            mine = [i for i, v in enumerate(versions) if v == version]
            right = sum(predicted[i] == truth[i] for i in mine) / len(mine)
            assert shown[version]["basis"] == "realized"
            assert shown[version]["labelled"] == len(mine)
            assert shown[version]["performance"]["accuracy"] == pytest.approx(right, abs=1e-6)
            assert f"realized on {len(mine):,} labels" in str(after)
        table = after.table()
        assert list(table["basis"]) == ["realized", "realized"]
        assert {"accuracy", "roc_auc"} <= set(table.columns)
        figures = json.loads(cli("rollout", dep.name, "--format", "json").stdout)
        assert {v["basis"] for v in figures["versions"]} == {"realized"}
    finally:
        nbmlops.stop_deployment(dep.name)


@pytest.mark.parametrize("process", ["0", "1"], ids=["thread", "process"])
def test_a_shadow_is_graded_by_the_labels_of_the_rows_it_shadowed(
        store_env: Path, process: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels sent by the answers' ids grade the shadow's predictions of the same rows: the
    rollout shows its realized accuracy beside the champion's on those rows; drift,
    performance and labelled predictions of the deployment still read only answered rows,
    and an id no answer gave (a shadow row's own) is unknown."""
    from tests.test_feedback import SERVE, TEST, TRAIN, Y
    from tests.test_feedback import V1 as F1
    from tests.test_feedback import X as FX

    monkeypatch.setenv("NBMLOPS_SHADOW_PROCESS", process)
    # a weaker challenger: fitted on the training labels in reverse order
    weak = LogisticRegression(max_iter=1000).fit(FX[TRAIN], Y[TRAIN].to_numpy()[::-1])
    evaluate = (FX[TEST], Y[TEST])
    nbmlops.register(F1, name="churn", data=FX[TRAIN], alias="production", evaluate=evaluate)
    nbmlops.register(weak, name="churn", data=FX[TRAIN], alias="candidate", evaluate=evaluate)
    dep = nbmlops.deploy("churn@production", port=0, shadow="candidate")
    try:
        client = Client(dep.url)
        rows = FX[SERVE]
        ids: list[str] = []
        for n, start in enumerate(range(0, len(rows), 5)):  # every other request ?proba=true
            answer = client.predict(rows.iloc[start:start + 5].to_dict(orient="records"),
                                    "?proba=true" if n % 2 else "")
            assert answer["version"] == 1
            ids += answer["ids"]

        def shadowed() -> Any:
            log = nbmlops.predictions(dep.name)
            if "_answered" not in log.columns:  # no shadow row written yet
                return None
            shadow = log[log["_shadow"].eq(True)]
            return log if set(ids) <= set(shadow["_answered"]) and set(ids) <= set(
                log["_id"]) else None

        log = _until(shadowed)
        shadow = log[log["_shadow"].eq(True)]
        assert not set(shadow["_id"]) & set(ids)  # a shadow row keeps an id of its own
        assert log.loc[~log["_shadow"].eq(True), "_answered"].isna().all()
        before = nbmlops.rollout(dep.name)
        assert [v["basis"] for v in before.versions] == ["estimated", "estimated"]

        truth = Y[SERVE].tolist()
        own = str(shadow["_id"].iloc[0])
        status, _, result = client.request("POST", "/feedback", {
            "ids": [*ids, own], "labels": [*truth, 1]})
        assert status == 200, result
        assert result["attached"] == len(ids)
        assert result["unknown"] == [own]
        assert result["versions"] == {"1": len(ids)}

        after = nbmlops.rollout(dep.name)
        champion, challenger = after.versions
        mine = float(np.mean(weak.predict(rows) == np.asarray(truth)))
        theirs = float(np.mean(F1.predict(rows) == np.asarray(truth)))
        assert abs(mine - theirs) > 0.05  # the figures below tell the versions apart
        assert (challenger["version"], challenger["basis"]) == (2, "realized")
        assert challenger["labelled"] == challenger["shadowed"] == len(ids)
        assert challenger["performance"]["accuracy"] == pytest.approx(mine, abs=1e-6)
        assert (champion["basis"], champion["labelled"]) == ("realized", len(ids))
        assert champion["performance"]["accuracy"] == pytest.approx(theirs, abs=1e-6)
        assert "roc_auc" in challenger["performance"]  # the ?proba=true rows
        lines = {line.split()[0]: line for line in str(after).splitlines()[1:3]}
        assert f"accuracy {mine:.3f}" in lines["challenger"]
        assert f"realized on {len(ids):,} labels of the rows it shadowed" in lines["challenger"]
        assert f"accuracy {theirs:.3f}" in lines["champion"]
        assert "the rows the shadow scored too" in lines["champion"]
        figures = json.loads(cli("rollout", dep.name, "--format", "json").stdout)
        shown = {v["version"]: v for v in figures["versions"]}
        assert shown[2]["performance"]["accuracy"] == pytest.approx(mine, abs=1e-6)
        assert shown[2]["shadowed"] == len(ids)

        # the deployment's own performance, drift and labelled rows: answered rows only
        report = nbmlops.performance(dep.name, since="1h", window="1h")
        assert {r["version"] for r in report.rows} == {1}
        assert {r["served"] for r in report.rows} == {len(ids)}
        # (drift of the prediction reads the rows that have one: the plain requests')
        assert nbmlops.drift("churn/1", deployment=dep.name).current_rows == len(ids) // 2
        labelled = nbmlops.predictions(dep.name, labels=True)
        assert sorted(labelled["_id"]) == sorted(ids)
        assert not labelled["_shadow"].eq(True).any()
    finally:
        nbmlops.stop_deployment(dep.name)


def test_a_log_written_before_shadow_rows_kept_their_answered_id_still_reads(
        tmp_path: Path) -> None:
    """A part of shadow rows without ``_answered`` (as logs before it were written) reads
    beside one with it; only the rows that carry it are graded."""
    import pandas as pd

    from nbmlops._types import FeedbackLabel
    from nbmlops.monitoring.performance import shadow_labels
    from nbmlops.serving.predlog import PredictionLog, read

    frame = pd.DataFrame({"tenure": [3, 40], "spend": [10.0, 90.0]})
    old, new = PredictionLog(tmp_path), PredictionLog(tmp_path)
    for log in (old, new):
        log.start()
    old.add(frame, {"prediction": [1, 0]}, version=1, request="req0")
    old.add(frame, {"prediction": [0, 0], "_shadow": [True, True]}, version=2,
            request="shadow-0")
    old.close()
    new.add(frame, {"prediction": [1, 0]}, version=1, request="req1")
    new.add(frame, {"prediction": [1, 1], "_shadow": [True, True],
                    "_answered": ["req1-0", "req1-1"]}, version=2, request="shadow-1")
    new.close()
    got = read(tmp_path)
    assert len(got) == 8
    assert list(got.columns[-3:]) == ["_id", "_shadow", "_answered"]
    labels = [FeedbackLabel(deployment="d", row_id=i, model="churn", version=1,
                            served_at=0.0, label=1, prediction=p)
              for i, p in (("req0-0", 1), ("req0-1", 0), ("req1-0", 1), ("req1-1", 0))]
    graded = shadow_labels(got, labels)
    assert list(graded) == [2]
    assert [(s.row_id, s.version, s.prediction, a.prediction) for s, a in graded[2]] == [
        ("req1-0", 2, 1, 1), ("req1-1", 2, 1, 0)]
    assert shadow_labels(got.drop(columns=["_answered"]), labels) == {}


def test_a_shadow_whose_process_dies_is_scored_by_the_worker(
        registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shadow's process killed as soon as it is there (before or after it said it was
    ready): the worker's thread scores the shadow from then on, nothing is lost."""
    import signal

    monkeypatch.setenv("NBMLOPS_SHADOW_PROCESS", "1")
    dep = nbmlops.deploy("churn@production", port=0, shadow="candidate")
    try:
        (shadow,) = _until(lambda: _shadow_processes(dep.pid), timeout=30)
        os.kill(shadow, signal.SIGKILL)
        client = Client(dep.url)
        for i in range(30):
            assert client.predict([_record(i)])["predictions"] == V1.predict(
                ROWS.iloc[[i]]).tolist()
        log = _until(lambda: (lambda f: f if (f["_version"] == 2).sum() >= 30 else None)(
            nbmlops.predictions(dep.name)))
        shadow_rows = log[log["_version"] == 2]
        assert shadow_rows["prediction"].tolist() == V2.predict(ROWS.iloc[:30]).tolist()
        assert _shadow_processes(dep.pid) == []  # not started again, and reaped
    finally:
        nbmlops.stop_deployment(dep.name)
