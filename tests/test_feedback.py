"""Ground truth and performance: row ids from a real model server, labels attached by id
(POST /feedback, ``nbmlops.log_feedback``, ``nbmlops feedback``), performance per window
(``nbmlops.performance``, ``nbmlops performance``, ``%monitor --performance``), and CBPE."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import nbmlops
from nbmlops import api as nbmlops_api
from nbmlops._types import Actor, NewDeployment
from nbmlops.evaluation import estimate, held_out_baseline, metrics_of
from nbmlops.evaluation.baseline import calibrate, calibration_map
from nbmlops.monitoring import log_feedback
from nbmlops.serving.predlog import PredictionLog, new_request_id, row_ids
from nbmlops.store import liveness
from tests.shell import one_line_error, run
from tests.test_serving import Client

RNG = np.random.default_rng(7)
X = pd.DataFrame({"tenure": RNG.integers(1, 72, 600), "spend": RNG.gamma(4.0, 20.0, 600)})
Y = ((X.tenure < 24) ^ (RNG.random(600) < 0.15)).astype(int)
TRAIN, TEST, SERVE = slice(0, 300), slice(300, 500), slice(500, 600)
V1 = LogisticRegression(max_iter=1000).fit(X[TRAIN], Y[TRAIN])
V2 = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[TRAIN], Y[TRAIN])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbmlops", *args], capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())


@pytest.fixture
def served(store_env: Path) -> Iterator[Any]:
    evaluate = (X[TEST], Y[TEST])
    nbmlops.register(V1, name="churn", data=X[TRAIN], alias="production", evaluate=evaluate)
    nbmlops.register(V2, name="churn", data=X[TRAIN], evaluate=evaluate)
    deployment = nbmlops.deploy("churn@production", port=0, poll=0.2)
    try:
        yield deployment
    finally:
        nbmlops.stop_deployment(deployment.name)


def wait_for_version(client: Client, version: int) -> None:
    deadline = time.monotonic() + 30
    while client.request("GET", "/health")[2]["version"] != version:
        assert time.monotonic() < deadline, "the server did not switch versions"
        time.sleep(0.05)


def test_ids_feedback_by_id_and_performance_from_a_real_server(served: Any) -> None:
    client = Client(served.url)
    rows = X[SERVE].head(40)
    status, headers, answer = client.request("POST", "/predict", rows.to_dict(orient="records"))
    assert status == 200
    request = answer["request_id"]
    assert headers["x-request-id"] == request
    assert answer["ids"] == [f"{request}-{i}" for i in range(40)]
    single = client.predict(X[SERVE].iloc[40:41].to_dict(orient="records"))
    proba = client.predict(X[SERVE].iloc[41:61].to_dict(orient="records"), "?proba=true")
    ids = answer["ids"] + single["ids"] + proba["ids"]
    assert len(set(ids)) == 61
    assert single["request_id"] != request
    truth = dict(zip(ids, Y[SERVE].iloc[:61].tolist(), strict=True))

    # labels by id; an unknown id is reported, not dropped silently
    status, _, result = client.request("POST", "/feedback", {
        "ids": [*ids, "0000000000000-0"], "labels": [*truth.values(), 1]})
    assert status == 200, result
    assert (result["attached"], result["unknown"], result["replaced"]) == (
        61, ["0000000000000-0"], [])
    assert result["versions"] == {"1": 61}
    logged = nbmlops.predictions("churn")
    assert set(ids) <= set(logged["_id"])  # every row's id is in the prediction log

    # a label sent twice keeps the latest, and says so (also twice in one batch)
    flipped = 1 - truth[ids[0]]
    status, _, again = client.request("POST", "/feedback", [
        {"id": ids[0], "label": truth[ids[0]]}, {"id": ids[0], "label": flipped}])
    assert (again["attached"], again["replaced"], again["repeated"]) == (1, [ids[0]], [ids[0]])
    truth[ids[0]] = flipped

    # bad bodies are clear errors
    status, _, bad = client.request("POST", "/feedback", {"ids": ["a"], "labels": []})
    assert status == 422
    assert "1 ids but 0 labels" in bad["error"]

    # the alias moves: rows of version 2 now; labels for version 1 still attach to it
    nbmlops.promote("churn", 2, "production")
    wait_for_version(client, 2)
    later = client.predict(X[SERVE].iloc[61:91].to_dict(orient="records"), "?proba=true")
    assert later["version"] == 2
    late_v1 = nbmlops.log_feedback("churn", pd.DataFrame({"row": ids[:5], "y": [
        truth[i] for i in ids[:5]]}), id_column="row", label_column="y")
    assert late_v1.versions == {1: 5}
    assert len(late_v1.replaced) == 5

    # the CLI, from a CSV file, for the version-2 rows (written once the server flushed)
    labels = Path("labels.csv")
    v2_truth = dict(zip(later["ids"], Y[SERVE].iloc[61:91].tolist(), strict=True))
    pd.DataFrame({"request": list(v2_truth), "churned": list(v2_truth.values())}).to_csv(
        labels, index=False)
    deadline = time.monotonic() + 30
    while not set(v2_truth) <= set(nbmlops.predictions("churn")["_id"]):
        assert time.monotonic() < deadline, "the server did not write its log"
        time.sleep(0.1)
    done = cli("feedback", "churn", str(labels), "--id", "request", "--label", "churned")
    assert done.returncode == 0, done.stderr
    assert "30 labels attached" in done.stdout
    assert "version 2: 30" in done.stdout
    missing = cli("feedback", "churn", str(labels), "--id", "nope")
    assert missing.returncode == 1
    assert "no column 'nope'" in missing.stderr

    # performance: each version on its own labels, beside its own held-out figures
    report = nbmlops.performance("churn", since="1d", window="1d", min_labels=10)
    table = report.table()
    by_version = {v: t.set_index("metric") for v, t in table.groupby("version")}
    from sklearn import metrics as skm

    v1_true = [truth[i] for i in ids]
    v1_pred = (answer["predictions"] + single["predictions"]
               + [int(np.argmax(p)) for p in proba["probabilities"]])
    expected = {"accuracy": skm.accuracy_score(v1_true, v1_pred),
                "f1": skm.f1_score(v1_true, v1_pred)}
    assert by_version[1].loc["accuracy", "labelled"] == 61
    assert by_version[1].loc["accuracy", "realized"] == pytest.approx(expected["accuracy"])
    assert by_version[1].loc["f1", "realized"] == pytest.approx(expected["f1"])
    v2_auc = skm.roc_auc_score(Y[SERVE].iloc[61:91],
                               np.asarray(later["probabilities"])[:, 1])
    assert by_version[2].loc["roc_auc", "realized"] == pytest.approx(v2_auc)
    assert by_version[2].loc["accuracy", "labelled"] == 30
    v2_expected = np.mean(V2.predict(X[SERVE].iloc[61:91]) == Y[SERVE].iloc[61:91])
    assert by_version[2].loc["accuracy", "realized"] == pytest.approx(v2_expected)
    # the version-2 rows asked for probabilities: estimated beside realized
    assert by_version[2].loc["accuracy", "estimated"] is not None
    assert by_version[1].loc["accuracy", "held_out"] != by_version[2].loc["accuracy",
                                                                         "held_out"]
    assert set(table["status"]) <= {"ok", "degraded"}
    shown = cli("performance", "churn", "--since", "1d", "--format", "json",
                "--min-labels", "10")
    assert shown.returncode == 0, shown.stderr
    assert {r["version"] for r in json.loads(shown.stdout)["rows"]} == {1, 2}


def test_a_window_without_labels_shows_estimates(
        served: Any) -> None:
    client = Client(served.url)
    client.predict(X[SERVE].to_dict(orient="records"), "?proba=true")
    deadline = time.monotonic() + 30
    while len(nbmlops.predictions("churn")) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    report = nbmlops.performance("churn", since="2h", window="1h")
    rows = report.table()
    assert (rows["labelled"] == 0).all()
    assert rows["realized"].isna().all()
    accuracy = rows.set_index("metric").loc["accuracy"]
    assert accuracy["served"] == 100
    assert accuracy["status"].startswith("estimated")
    assert 0.5 < accuracy["estimated"] <= 1.0
    assert "no labels in this period yet" in report.text()
    with pytest.raises(ValueError, match="write a duration"):
        nbmlops.performance("churn", window="soon")


def _deployment(ws: Any, name: str, log_dir: Path) -> None:
    ws.store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name=name, model="m", alias=None, version=1, url="http://x",
        workers=1, pid=os.getpid(), process_token=liveness.process_token(), user="t",
        host="h", started_at=time.time(), log_dir=str(log_dir)),
        actor=Actor(user="t", host="h"))


def test_random_interleavings_of_predictions_and_labels_join_exactly(
        store_env: Path) -> None:
    """200 seeded cases: predictions (1-4 rows, versions 1-2), log flushes and label
    batches (known ids, ids not written yet, made-up ids, repeats) in random order. Every
    label lands on exactly its row (version, time, prediction), nothing else; what is not
    in the log is reported unknown; the latest label of an id is the one kept."""
    ws = nbmlops_api.workspace()
    rng = random.Random(16)
    for case in range(200):
        name = f"p{case}"
        folder = store_env / "logs" / name
        _deployment(ws, name, folder)
        log = PredictionLog(folder, flush_s=3600)
        folder.mkdir(parents=True)
        served: dict[str, tuple[int, int]] = {}  # id -> (version, prediction)
        written: set[str] = set()
        pending: set[str] = set()
        kept: dict[str, int] = {}
        for _ in range(rng.randint(3, 12)):
            op = rng.random()
            if op < 0.45:
                n, version = rng.randint(1, 4), rng.randint(1, 2)
                request = new_request_id()
                predictions = [rng.randint(0, 1) for _ in range(n)]
                frame = pd.DataFrame({"x": [rng.random() for _ in range(n)]})
                log.add(frame, {"prediction": predictions}, version=version, request=request)
                for row_id, p in zip(row_ids(request, n), predictions, strict=True):
                    served[row_id] = (version, p)
                    pending.add(row_id)
            elif op < 0.65:
                log.flush()
                written |= pending
                pending.clear()
            elif served:
                asked = rng.sample(sorted(served), rng.randint(1, len(served)))
                asked += rng.sample(asked, rng.randint(0, len(asked)))  # repeats
                asked += [f"{new_request_id()}-0" for _ in range(rng.randint(0, 2))]
                rng.shuffle(asked)
                labels = [rng.randint(0, 1) for _ in asked]
                result = log_feedback(ws, name, asked, labels)
                last = dict(zip(asked, labels, strict=True))
                attach = {i for i in last if i in written}
                assert set(result.unknown) == set(last) - attach
                assert result.attached == len(attach)
                assert set(result.replaced) == attach & set(kept)
                assert set(result.repeated) == {i for i in last if asked.count(i) > 1}
                kept.update({i: last[i] for i in attach})
        stored = {lb.row_id: lb for lb in ws.store.list_feedback(name)}
        assert set(stored) == set(kept), case
        for row_id, label in stored.items():
            assert label.label == kept[row_id]
            assert (label.version, label.prediction) == served[row_id]


def _simulated(rng: np.random.Generator, n: int, shift: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray]:
    features = rng.normal(size=(n, 5))
    features[:, :2] += shift  # covariate shift: P(y | x) is unchanged
    p = 1 / (1 + np.exp(-(features @ np.array([1.5, -1.0, 0.5, 0.0, 0.8]) + 0.3)))
    return features, (rng.random(n) < p).astype(int)


# documented in the README: |estimated - realized| on a 1,000-row window
CBPE_TOLERANCE = 0.05
CBPE_MEAN_TOLERANCE = 0.02


# seed 3 drew held-out rows on which the calibration (one running maximum) lifted every low
# score to 1/3; with that fixed, its shifted windows still underestimate ROC AUC by 0.022 on
# average (the shrinking pulls calibrated probabilities toward 1/2): a known weakness, strict
# so that a better calibration shows up here
KNOWN_BIAS = pytest.mark.xfail(strict=True, reason="mean ROC AUC error 0.022 > 0.02")


@pytest.mark.parametrize(("shift", "seed"), [(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3),
                                            (1.0, 0), (1.0, 1), (1.0, 2),
                                            pytest.param(1.0, 3, marks=KNOWN_BIAS)])
def test_cbpe_estimates_are_within_tolerance_of_realized(shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*_simulated(rng, 3000))
    baseline = held_out_baseline(model, *_simulated(rng, 2000))
    errors = []
    for _ in range(10):
        features, y = _simulated(rng, 1000, shift)
        scores = model.predict_proba(features)[:, 1]
        predicted = model.predict(features)
        guess = estimate(baseline["calibration"], scores, predicted == 1)
        real = metrics_of("classification", [str(v) for v in y], [str(v) for v in predicted],
                          scores=scores, classes=["0", "1"], positive="1")
        errors.append([guess["accuracy"] - real["accuracy"], guess["roc_auc"] - real["roc_auc"]])
    errors_ = np.abs(np.array(errors))
    assert errors_.max() <= CBPE_TOLERANCE, errors
    assert errors_.mean(axis=0).max() <= CBPE_MEAN_TOLERANCE, errors
    if shift:  # the shift moved the figures, and the estimate followed
        assert abs(np.mean([e[0] for e in errors])) < 0.02


def test_cbpe_calibration_lets_a_one_row_block_give_way_to_its_neighbours() -> None:
    """One negative held-out row below all the others is a block of its own; shrunk to 1/3
    it must not lift the 100 rows above it (10% positive) to 1/3: their rows predicted
    negative are right 90% of the time, and the estimate says so."""
    scores = np.r_[0.0, np.full(100, 0.1), np.full(100, 0.9)]
    positive = np.r_[0, np.arange(100) < 10, np.arange(100) < 90].astype(bool)
    baseline = {"calibration": calibration_map(scores, positive)}
    assert abs(float(calibrate(baseline["calibration"], [0.1])[0]) - 0.1) < 0.02
    guess = estimate(baseline["calibration"], np.full(50, 0.1), np.zeros(50, dtype=bool))
    assert abs(guess["accuracy"] - 0.9) < 0.02, guess
    assert list(baseline["calibration"]["y"]) == sorted(baseline["calibration"]["y"])


def test_monitor_performance_in_a_real_ipython_shell(shell: Any, served: Any,
                                                    capsys: Any) -> None:
    client = Client(served.url)
    answer = client.predict(X[SERVE].to_dict(orient="records"), "?proba=true")
    early = nbmlops.log_feedback("churn", ids=answer["ids"][:1], labels=[1])
    if early.unknown:  # the server writes its log every 2 s: not there yet, and it says so
        assert "not written yet" in early.summary()
    deadline = time.monotonic() + 30
    while len(nbmlops.predictions("churn")) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    attached = nbmlops.log_feedback("churn", ids=answer["ids"], labels=Y[SERVE].tolist())
    assert attached.attached == 100
    assert not attached.unknown
    capsys.readouterr()
    assert run(shell, "%monitor --performance churn --since 1d --window 1d").success
    shown = capsys.readouterr().out
    assert "churn (churn): 1 window(s) of 1d" in shown
    assert "held-out, version 1: accuracy" in shown
    assert "accuracy est." in shown
    assert " 100 " in shown
    assert "name what to watch" in one_line_error(shell, capsys, "%monitor --since 1d")
    assert "no deployment" in one_line_error(
        shell, capsys, "%monitor --performance nowhere").lower()


def test_labels_for_rows_another_worker_has_not_written_yet_are_kept_pending(
        store_env: Path) -> None:
    """Three serving workers, each writing its rows every 2 s: labels sent at once for
    rows any worker answered are never ``unknown``; those whose rows are not written yet
    are kept pending and counted once the rows are in the log. A forged id is unknown."""
    nbmlops.register(V1, name="churn", data=X[TRAIN], alias="production",
                     evaluate=(X[TEST], Y[TEST]))
    deployment = nbmlops.deploy("churn@production", port=0, workers=3)
    try:
        ids: list[str] = []
        truth: list[int] = []
        pending: list[str] = []
        for attempt in range(3):  # until some rows were still in another worker's memory
            batch_ids = []
            for i in range(24):  # a new connection each: spread over the workers
                rows = X[SERVE].iloc[i * 4 + attempt:i * 4 + attempt + 4]
                batch_ids += Client(deployment.url).predict(rows.to_dict(orient="records"))[
                    "ids"]
            first = batch_ids[0].split("-")[0]
            forged = ("0" if first[19] == "1" else "1").join((first[:19], first[20:]))
            labels = Y[SERVE].iloc[:len(batch_ids)].tolist()
            status, _, result = Client(deployment.url).request("POST", "/feedback", {
                "ids": [*batch_ids, f"{forged}-0", f"{first[:20]}00000000-0"],
                "labels": [*labels, 1, 0]})
            assert status == 200, result
            # no label for a row the server answered is reported unknown
            assert result["unknown"] == [f"{forged}-0", f"{first[:20]}00000000-0"]
            assert result["attached"] + len(result["pending"]) == len(batch_ids)
            assert set(result["pending"]) <= set(batch_ids)
            ids += batch_ids
            truth += labels
            pending += result["pending"]
            if result["pending"]:
                break
        assert pending, "every worker had written its rows before the labels came (3 tries)"
        # once the workers have written their rows, every label is joined
        deadline = time.monotonic() + 30
        while not set(ids) <= set(nbmlops.predictions("churn")["_id"]):
            assert time.monotonic() < deadline, "the workers did not write their rows"
            time.sleep(0.2)
        report = nbmlops.performance("churn", since="1h", window="1h")
        windows = report.windows()
        assert int(windows["labelled"].sum()) == len(ids)
        assert "pending" not in report.text()
        stored = {lb.row_id: lb for lb in nbmlops_api._existing().store.list_feedback("churn")}
        assert {stored[i].version for i in ids} == {1}
        assert all(stored[i].prediction is not None for i in pending)
    finally:
        nbmlops.stop_deployment("churn")


def test_labels_for_rows_the_log_sample_left_out_are_reported_as_such(
        store_env: Path) -> None:
    nbmlops.register(V1, name="churn", data=X[TRAIN], alias="production")
    deployment = nbmlops.deploy("churn@production", port=0, log_sample=0.0)
    try:
        client = Client(deployment.url)
        answer = client.predict(X[SERVE].head(3).to_dict(orient="records"))
        status, _, result = client.request("POST", "/feedback", {
            "ids": answer["ids"], "labels": [0, 1, 0]})
        assert status == 200, result
        assert (result["attached"], result["unlogged"], result["unknown"],
                result["pending"]) == (0, answer["ids"], [], [])
        again = nbmlops.log_feedback("churn", ids=answer["ids"][:1], labels=[1])
        assert "left out of the prediction log by --log-sample" in again.summary()
    finally:
        nbmlops.stop_deployment("churn")


def test_a_label_for_a_row_rotated_out_of_the_log_is_unknown_and_keeps_the_label_it_had(
        store_env: Path) -> None:
    """A deployment that tags its ids: a row answered ten minutes ago and no longer in the
    log (its part deleted by the log's bound) is not "not written yet": a label for it is
    reported unknown, never kept pending for ever, and the label the row got while it was
    in the log keeps its version and value."""
    from nbmlops.serving import predlog

    ws = nbmlops_api.workspace()
    key = os.urandom(16)
    folder = store_env / "logs" / "rot"
    folder.mkdir(parents=True)
    ws.store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="rot", model="m", alias=None, version=1, url="http://x",
        workers=1, pid=os.getpid(), process_token=liveness.process_token(), user="t",
        host="h", started_at=time.time() - 3600, log_dir=str(folder),
        options={"row_id_key": key.hex()}), actor=Actor(user="t", host="h"))

    def issued_at(seconds_ago: float) -> str:  # an id the deployment issued back then
        base = f"{int((time.time() - seconds_ago) * 1000):011x}{os.urandom(4).hex()}1"
        return base + predlog._tag(key, base)

    log = PredictionLog(folder, max_rows=4, flush_s=3600)
    old = issued_at(600)
    log.add(pd.DataFrame({"x": [0.1, 0.2]}), {"prediction": [1, 0]}, version=1, request=old)
    log.flush()
    first = log_feedback(ws, "rot", row_ids(old, 2), [1, 0])
    assert first.attached == 2
    # four newer rows: the log's bound deletes the part that held the old request's rows
    log.add(pd.DataFrame({"x": [0.3] * 4}), {"prediction": [1] * 4}, version=1,
            request=new_request_id(key))
    log.flush()
    assert not set(row_ids(old, 2)) & set(predlog.read(folder)["_id"])

    gone = issued_at(900)  # a row never seen here since: rotated out before any label
    again = log_feedback(ws, "rot", [*row_ids(old, 2), f"{gone}-0"], [0, 1, 1])
    assert (again.attached, again.pending) == (0, ())
    assert set(again.unknown) == {*row_ids(old, 2), f"{gone}-0"}
    stored = {lb.row_id: lb for lb in ws.store.list_feedback("rot")}
    assert set(stored) == set(row_ids(old, 2))
    assert [(stored[i].version, stored[i].label) for i in row_ids(old, 2)] == [(1, 1), (1, 0)]
    # a row answered a moment ago and not written yet is still kept pending
    now = new_request_id(key)
    assert log_feedback(ws, "rot", [f"{now}-0"], [1]).pending == (f"{now}-0",)


@pytest.mark.s3
def test_performance_reads_a_prediction_log_on_s3(store_env: Path, s3: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Artifacts (and so the prediction log) on S3 with their endpoint in the artifacts
    options: labels attach, and ``nbmlops.performance`` reads the same log (served, realized)."""
    monkeypatch.setenv("NBMLOPS_ARTIFACTS", s3.url)
    monkeypatch.setenv("NBMLOPS_ARTIFACTS_OPTIONS", json.dumps(s3.options))
    nbmlops_api.close()
    nbmlops.register(V1, name="churn", data=X[TRAIN], alias="production",
                     evaluate=(X[TEST], Y[TEST]))
    ws = nbmlops_api.workspace()
    location = f"{s3.url}/deployments/churn/predictions"
    ws.store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="churn", model="churn", alias="production", version=1,
        url="http://x", workers=1, pid=os.getpid(), process_token=liveness.process_token(),
        user="t", host="h", started_at=time.time(), log_dir=location),
        actor=Actor(user="t", host="h"))
    rows = X[SERVE]
    proba = V1.predict_proba(rows)
    log = PredictionLog(location, options=s3.options)
    request = new_request_id()
    log.add(rows, {"prediction": V1.predict(rows).tolist(), "proba_0": proba[:, 0].tolist(),
                   "proba_1": proba[:, 1].tolist()}, version=1, request=request)
    log.flush()
    assert log_feedback(ws, "churn", row_ids(request, 100), Y[SERVE].tolist()).attached == 100
    report = nbmlops.performance("churn", since="1h", window="1h")
    accuracy = report.table().set_index("metric").loc["accuracy"]
    assert (accuracy["served"], accuracy["labelled"]) == (100, 100)
    assert accuracy["realized"] == pytest.approx((V1.predict(rows) == Y[SERVE]).mean())
