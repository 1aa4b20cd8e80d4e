"""Monitors: a folder that says what to watch, and checks of a real model server over
windows of a simulated clock. Alerts go to a real webhook receiver on loopback and a real
shell command, once per incident; a webhook that is down is retried, then reported, and
the check is recorded all the same."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import nbmlops
from nbmlops.serving.manage import read_counters, traffic_figures
from tests.shell import one_line_error, run
from tests.test_cli import NBMLOPS
from tests.test_serving import FEATURES, V1, Client, X


class Receiver:
    """A webhook receiver on loopback: the JSON bodies it got, and the status it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(store_env: Path) -> Iterator[dict[str, Any]]:
    """``churn@production`` registered with its training sample and served by a real
    server process (prediction log on)."""
    version = nbmlops.register(V1, name="churn", data=X[FEATURES], alias="production")
    deployment = nbmlops.deploy("churn@production", name="churn", port=0)
    try:
        yield {"client": deployment.url, "deployment": deployment, "version": version,
               "project": Path.cwd()}
    finally:
        nbmlops.stop_deployment("churn")


def _send(url: str, rows: pd.DataFrame) -> None:
    client = Client(url)  # a new connection: the server closes idle ones after 5 s
    for start in range(0, len(rows), 100):
        answer = client.predict(rows.iloc[start:start + 100].to_dict(orient="records"))
        assert answer["version"] == 1


def _logged(total: int, timeout: float = 20.0) -> datetime:
    """Wait until the server's log holds ``total`` rows (it writes every 2 s); the time
    just past the newest, as a check's end of window."""
    deadline = time.time() + timeout
    while True:
        log = nbmlops.predictions("churn")
        if len(log) >= total:
            return datetime.now(tz=UTC)
        assert time.time() < deadline, f"the log holds {len(log)} rows, not {total}"
        time.sleep(0.2)


def _like(n: int, seed: int) -> pd.DataFrame:
    return X[FEATURES].sample(n, replace=True, random_state=seed).reset_index(drop=True)


def _moved(n: int, seed: int) -> pd.DataFrame:
    return _like(n, seed).assign(tenure=lambda f: f.tenure + 400, spend=lambda f: f.spend * 30)


def test_a_monitor_alerts_once_per_incident(served: dict[str, Any], receiver: Receiver,
                                            tmp_path: Path) -> None:
    marker = tmp_path / "alerts.txt"
    created = nbmlops.create_monitor(
        "churn@production", schedule="0 * * * *", targets=["cron"], min_rows=50,
        alerts=[f"webhook={receiver.url}",
                f"command=echo \"$NBMLOPS_ALERT_TEXT\" >> {marker}"])
    folder = served["project"] / "monitors" / "churn"
    assert created.folder == folder
    spec = yaml.safe_load((folder / "monitor.yaml").read_text())
    assert spec["model"] == "churn@production"
    assert spec["min_rows"] == 50
    run_sh = (folder / "cron" / "run.sh").read_text()
    assert f"-m nbmlops monitor run {folder}" in run_sh
    assert "nbmlops monitor run" in str(created)
    assert "crontab" in str(created)

    client, sent = served["client"], 0
    checks = []
    # hour 1: rows like the training sample -> ok
    _send(client, _like(200, 1))
    sent += 200
    checks.append(nbmlops.run_monitor(folder, now=_logged(sent)))
    # hour 2: moved rows -> an incident opens: alerted
    _send(client, _moved(200, 2))
    sent += 200
    checks.append(nbmlops.run_monitor(folder, now=_logged(sent)))
    # hour 3: still moved -> the same incident, no new alert
    _send(client, _moved(200, 3))
    sent += 200
    checks.append(nbmlops.run_monitor(folder, now=_logged(sent)))
    # hour 4: like training again -> the incident closes
    _send(client, _like(200, 4))
    sent += 200
    checks.append(nbmlops.run_monitor(folder, now=_logged(sent)))
    # hour 5: moved again -> a second incident, alerted again
    _send(client, _moved(200, 5))
    sent += 200
    checks.append(nbmlops.run_monitor(folder, now=_logged(sent)))

    statuses = [(c.check.status, c.check.incident, c.check.alerted) for c in checks]
    assert statuses == [("ok", None, False), ("alert", 1, True), ("alert", 1, False),
                        ("ok", None, False), ("alert", 2, True)]
    assert [c.exit_status for c in checks] == [0, 2, 0, 0, 2]
    # each window holds exactly the rows sent since the previous check
    assert [c.check.rows for c in checks] == [200] * 5
    alert = checks[1]
    assert "data drift in" in alert.text
    assert "tenure" in alert.text
    assert alert.text.startswith("nbmlops monitor churn: ALERT — 200 rows served by churn/1")
    # the webhook got one POST per incident, with a plain text field
    assert len(receiver.bodies) == 2
    assert receiver.bodies[0]["text"] == alert.text
    assert receiver.bodies[0]["incident"] == 1
    assert receiver.bodies[1]["incident"] == 2
    assert receiver.bodies[0]["model"] == "churn/1"
    assert marker.read_text().splitlines() == [alert.text, checks[4].text]
    assert [d.ok for d in alert.deliveries] == [True, True]
    # the health of the server over the window: its requests, no errors
    health = alert.check.details["health"]
    assert health["requests"] == 2
    assert health["server_errors"] == 0
    assert health["p99_ms"] is not None
    # recorded: the check as a run of kind monitor, the drift check as its child
    history = nbmlops.monitor_checks("churn")
    assert history.total == 5
    assert [c.status for c in history] == ["alert", "ok", "alert", "alert", "ok"]
    drift_run = nbmlops.get_run(alert.drift_run or "")
    assert drift_run.parent_run_id == alert.check.run_id
    assert nbmlops.get_run(alert.check.run_id).kind == "monitor"


def test_a_webhook_that_is_down_is_retried_then_reported(served: dict[str, Any]) -> None:
    down = f"http://127.0.0.1:{_closed_port()}/hook"
    created = nbmlops.create_monitor("churn@production", min_rows=50, retries=3,
                                     retry_delay=0.05, alerts=[f"webhook={down}"])
    _send(served["client"], _moved(120, 7))
    result = nbmlops.run_monitor(created.folder, now=_logged(120))
    assert result.check.status == "alert"
    assert result.check.alerted
    (delivery,) = result.deliveries
    assert not delivery.ok
    assert delivery.attempts == 3
    assert "refused" in delivery.detail.lower()
    recorded = nbmlops.monitor_checks("churn").items[0]
    assert recorded.run_id == result.check.run_id
    assert recorded.details["deliveries"][0]["ok"] is False


def test_too_few_rows_skip_the_check_and_keep_the_window_open(served: dict[str, Any]) -> None:
    created = nbmlops.create_monitor("churn@production", min_rows=150)
    _send(served["client"], _like(100, 8))
    first = nbmlops.run_monitor(created.folder, now=_logged(100))
    assert first.check.status == "skipped"
    assert first.check.rows == 100
    assert "fewer than 150" in first.text
    _send(served["client"], _like(100, 9))
    second = nbmlops.run_monitor(created.folder, now=_logged(200))
    # the second window still holds the first one's rows: 200 rows are judged
    assert second.check.status == "ok"
    assert second.check.rows == 200


def test_the_cli_runs_a_check_and_lists_them(served: dict[str, Any], receiver: Receiver
                                             ) -> None:
    env = {**os.environ}
    made = subprocess.run([NBMLOPS, "monitor", "create", "churn@production", "--min-rows",
                           "50", "--alert", f"webhook={receiver.url}"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert made.returncode == 0, made.stderr
    assert "monitor 'churn' written to" in made.stdout
    _send(served["client"], _moved(100, 10))
    now = _logged(100)
    first = subprocess.run([NBMLOPS, "monitor", "run", "monitors/churn", "--now",
                            now.isoformat()], capture_output=True, text=True, timeout=180,
                           env=env)
    assert first.returncode == 2, first.stderr
    assert first.stdout.startswith("nbmlops monitor churn: ALERT")
    assert f"alert webhook={receiver.url}: delivered (HTTP 200, 1 attempt)" in first.stdout
    quiet = subprocess.run([NBMLOPS, "monitor", "run", "monitors/churn", "--now",
                            (now + timedelta(seconds=1)).isoformat()], capture_output=True,
                           text=True, timeout=180, env=env)
    assert quiet.returncode == 0, quiet.stderr  # nothing served since: skipped, still open
    assert quiet.stdout.startswith("nbmlops monitor churn: skipped — 0 rows served by churn/1")
    _send(served["client"], _moved(100, 12))
    again = subprocess.run([NBMLOPS, "monitor", "run", "monitors/churn", "--now",
                            _logged(200).isoformat()], capture_output=True, text=True,
                           timeout=180, env=env)
    assert again.returncode == 0, again.stderr
    assert "incident 1 still open" in again.stdout
    listed = subprocess.run([NBMLOPS, "monitor", "history", "churn", "--format", "json"],
                            capture_output=True, text=True, timeout=60, env=env)
    rows = json.loads(listed.stdout)
    assert [(r["status"], r["incident"], r["alerted"]) for r in rows] == [
        ("alert", 1, False), ("skipped", None, False), ("alert", 1, True)]
    assert len(receiver.bodies) == 1
    bad = subprocess.run([NBMLOPS, "monitor", "create", "churn@production", "--alert",
                          "pager=now"], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 1
    assert bad.stderr.strip() == ("nbmlops: error: alert 'pager=now': 'pager' is not one of "
                                  "webhook, command (write webhook=URL or command=...)")


def test_a_spec_is_checked_field_by_field(store_env: Path) -> None:
    with pytest.raises(nbmlops.JobSpecError, match="schedule '0 \\* \\*' must be a cron"):
        nbmlops.create_monitor("churn@production", schedule="0 * *")
    with pytest.raises(nbmlops.JobSpecError, match="a webhook is an http"):
        nbmlops.create_monitor("churn@production", alerts=["webhook=ftp://x"])
    with pytest.raises(nbmlops.JobSpecError, match="write \"run JOB_FOLDER\""):
        nbmlops.create_monitor("churn@production", on_alert=["train now"])
    folder = Path.cwd() / "monitors" / "churn"
    nbmlops.create_monitor("churn@production")
    text = (folder / "monitor.yaml").read_text().replace("min_rows: 100", "min_rows: -3")
    (folder / "monitor.yaml").write_text(text)
    with pytest.raises(nbmlops.JobSpecError, match="min_rows -3 must be a whole number from 1"):
        nbmlops.run_monitor(folder)
    (folder / "monitor.yaml").write_text(text.replace("min_rows: -3", "min_rows: 3\nflavour: x"))
    with pytest.raises(nbmlops.JobSpecError, match="unknown field"):
        nbmlops.run_monitor(folder)


def test_monitor_magic(served: dict[str, Any], shell: Any, capsys: Any) -> None:
    capsys.readouterr()
    assert run(shell, "%monitor churn@production --min-rows 50").success
    out = capsys.readouterr().out
    assert out.startswith("monitor 'churn' written to")
    _send(served["client"], _like(80, 11))
    _logged(80)
    time.sleep(10.5)  # the default window ends 10 s before the check (rows still buffered)
    result = run(shell, "%monitor --run monitors/churn")
    assert result.success
    assert capsys.readouterr().out.startswith("nbmlops monitor churn: ok — 80 rows served")
    history = run(shell, "%monitor --history churn").result
    assert list(history["status"]) == ["ok"]
    assert "'pager' is not one of webhook, command" in one_line_error(
        shell, capsys, "%monitor churn@production --alert pager=now")


def test_health_from_prometheus_counters() -> None:
    before = read_counters('nbmlops_requests_total{endpoint="/predict",status="200"} 90.0\n'
                           'nbmlops_request_duration_seconds_bucket{endpoint="/predict",'
                           'le="0.005"} 90.0\n'
                           'nbmlops_request_duration_seconds_bucket{endpoint="/predict",'
                           'le="0.25"} 90.0\n'
                           'nbmlops_request_duration_seconds_bucket{endpoint="/predict",'
                           'le="+Inf"} 90.0\n')
    now = read_counters('# HELP x\nnbmlops_requests_total{endpoint="/predict",status="200"} '
                        '180.0\nnbmlops_requests_total{endpoint="/predict",status="500"} '
                        '10.0\nnbmlops_requests_total{endpoint="/health",status="200"} 7.0\n'
                        'nbmlops_request_duration_seconds_bucket{endpoint="/predict",'
                        'le="0.005"} 150.0\n'
                        'nbmlops_request_duration_seconds_bucket{endpoint="/predict",'
                        'le="0.25"} 189.0\n'
                        'nbmlops_request_duration_seconds_bucket{endpoint="/predict",'
                        'le="+Inf"} 190.0\n')
    health = traffic_figures(now, before)
    assert health["requests"] == 100
    assert health["server_errors"] == 10
    assert health["error_rate"] == pytest.approx(0.1)
    assert health["p99_ms"] == pytest.approx(250.0)
    # a restarted server's counters start again: counted from its start
    assert traffic_figures(before, now)["requests"] == 90


def test_an_incident_runs_the_retraining_job_on_its_window(served: dict[str, Any]) -> None:
    from tests.test_jobs import notebook

    nb = notebook(Path.cwd() / "retrain.ipynb", "%load_ext nbmlops",
                  ("window_start = '2026-01-01T00:00:00+00:00'\nwindow_end = ''\nmodel = ''",
                   ["parameters"]),
                  "%%track --name retrain\nimport nbmlops\nfrom datetime import datetime\n"
                  "from sklearn.linear_model import LogisticRegression\n"
                  "recent = nbmlops.predictions('churn', "
                  "since=datetime.fromisoformat(window_start))\n"
                  "rows = float(len(recent))\n"
                  "features = recent[['tenure', 'spend', 'is_pro']]\n"
                  "model = LogisticRegression(max_iter=500).fit(features, "
                  "(features.spend > features.spend.median()).astype(int))")
    nbmlops.export_job(nb, job="retrain", on_success=["register churn --alias candidate"])
    created = nbmlops.create_monitor("churn@production", min_rows=50,
                                     on_alert=["run jobs/retrain"])
    _send(served["client"], _like(60, 13))
    first = nbmlops.run_monitor(created.folder, now=_logged(60))
    assert first.check.status == "ok"
    assert first.jobs == ()
    _send(served["client"], _moved(90, 14))
    alert = nbmlops.run_monitor(created.folder, now=_logged(150))
    assert alert.check.alerted
    (outcome,) = alert.jobs
    assert outcome.startswith("run jobs/retrain: finished")
    (job_id,) = nbmlops.runs(kind="job").run_id
    job = nbmlops.get_run(job_id)
    # the window reached the job as its parameters; the job read just the window's rows
    assert job.params["window_start"] == alert.check.window_start.isoformat()
    assert job.params["model"] == "churn/1"
    (retrain,) = nbmlops.runs(kind="cell").run_id
    assert nbmlops.get_run(retrain).metrics["rows"] == 90.0
    assert nbmlops.get_run(alert.check.run_id).tags["on_alert_runs"] == job_id
    # the lineage follows the drift check to the version the retraining registered
    assert nbmlops.load_model("churn@candidate").version.version == 2
    graph = nbmlops.lineage(run=alert.drift_run)
    edges = {(e.source.split(":")[0], e.relation, e.target.split(":")[0]) for e in graph.edges}
    assert ("run", "child", "run") in edges  # monitor check -> drift check, job -> cell run
    assert ("run", "triggered", "run") in edges  # monitor check -> retraining job
    assert ("deployment", "monitored", "run") in edges
    assert "model_version:churn/2" in {n.id for n in graph.nodes}
    assert ("run", "registered", "model_version") in edges


def test_a_monitor_judges_performance_from_the_labels_that_came(store_env: Path,
                                                                receiver: Receiver) -> None:
    """Labels that say the served version is worse than its held-out figures: an alert
    naming the metric; labels as good as its held-out figures: fine."""
    from tests.test_feedback import SERVE, TEST, TRAIN, V1, Y
    from tests.test_feedback import X as FX

    nbmlops.register(V1, name="churn", data=FX[TRAIN], alias="production",
                     evaluate=(FX[TEST], Y[TEST]))
    deployment = nbmlops.deploy("churn@production", name="churn", port=0)
    try:
        created = nbmlops.create_monitor("churn@production", drift=False, performance=True,
                                         min_labels=30, performance_window="1d",
                                         alerts=[f"webhook={receiver.url}"])
        spec = yaml.safe_load((created.folder / "monitor.yaml").read_text())
        assert spec["performance"] is True
        rows = FX[SERVE].head(90)
        answer = Client(deployment.url).predict(rows.to_dict(orient="records"))
        now = _logged(90)
        truth = Y[SERVE].head(90).to_numpy()
        # labels as the world gave them: the model does about as well as held out
        nbmlops.log_feedback("churn", ids=answer["ids"], labels=truth.tolist())
        fine = nbmlops.run_monitor(created.folder, now=now)
        assert fine.check.status == "ok", fine.text
        (realized,) = {r["metric"] for r in fine.check.details["performance"]["realized"]
                       if r["metric"] == "accuracy"}
        assert realized == "accuracy"
        # then the labels turn out the opposite of what it predicted: degraded
        wrong = [1 - p for p in answer["predictions"]]
        nbmlops.log_feedback("churn", ids=answer["ids"], labels=wrong)
        bad = nbmlops.run_monitor(created.folder, now=now + timedelta(seconds=1))
        assert bad.check.status == "alert"
        assert bad.check.alerted
        assert any(r.startswith("performance below held out: accuracy 0.000 (held out ")
                   for r in bad.check.reasons), bad.check.reasons
        assert len(receiver.bodies) == 1
        assert "accuracy 0.000 (held out" in receiver.bodies[0]["text"]
    finally:
        nbmlops.stop_deployment("churn")


SIMCLOCK = Path(__file__).parent / "simclock"


class SimClock:
    """The simulated wall clock of the servers this test starts (tests/simclock: their
    ``time.time()`` is the real one plus the offset this writes): ``set(t)`` makes a
    running server's clock read ``t`` now and run on from there."""

    def __init__(self, path: Path, monkeypatch: Any) -> None:
        self.path = path
        self.path.write_text("0")
        monkeypatch.setenv("NBMLOPS_TEST_CLOCK", str(path))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
            [str(SIMCLOCK), *filter(None, [os.environ.get("PYTHONPATH")])]))

    def set(self, when: datetime) -> None:
        self.path.write_text(repr(when.timestamp() - time.time()))


def test_the_loop_on_its_schedule_over_simulated_days(store_env: Path, receiver: Receiver,
                                                       tmp_path: Path, monkeypatch: Any
                                                       ) -> None:
    """A real server whose clock runs days ahead; a monitor on ``0 6 * * *`` woken every
    simulated hour (``run_monitor(due=True)``): only the scheduled hours check, each
    judging the day served since the previous one. The inputs shift on day 1 (an incident,
    alerted once), stay shifted on day 2 (not alerted again), version 2 takes over on
    day 3 with normal inputs (the incident clears; labels then come for version 1's rows,
    no longer served, and count for version 1), and shift again on day 4 (alerted again).
    Days 1-4 get no labels: their windows have estimates only."""
    from tests.test_feedback import TEST, TRAIN, V1, V2, Y
    from tests.test_feedback import X as FX

    clock = SimClock(tmp_path / "clock", monkeypatch)
    day0 = datetime(2027, 3, 1, tzinfo=UTC)
    clock.set(day0 + timedelta(hours=9))
    evaluate = (FX[TEST], Y[TEST])
    nbmlops.register(V1, name="churn", data=FX[TRAIN], alias="production", evaluate=evaluate)
    nbmlops.register(V2, name="churn", data=FX[TRAIN], evaluate=evaluate)
    deployment = nbmlops.deploy("churn@production", name="churn", port=0, poll=0.2)
    try:
        created = nbmlops.create_monitor(
            "churn@production", schedule="0 6 * * *", targets=["cron"], min_rows=100,
            performance=True, min_labels=30, alerts=[f"webhook={receiver.url}"])
        checks: list[Any] = []
        tick = day0 + timedelta(days=1, hours=6)  # the scheduler wakes every hour from here
        woken = 0

        def advance(until: datetime) -> None:
            nonlocal tick, woken
            while tick <= until:
                found = nbmlops.run_monitor(created.folder, now=tick, due=True)
                woken += 1
                if found is not None:
                    assert found.check.window_end == tick
                    checks.append(found)
                tick += timedelta(hours=1)

        def serve(day: int, rows: pd.DataFrame, version: int) -> list[str]:
            advance(day0 + timedelta(days=day, hours=9))
            clock.set(day0 + timedelta(days=day, hours=10))
            ids: list[str] = []
            for start in range(0, len(rows), 50):
                answer = Client(deployment.url).predict(
                    rows.iloc[start:start + 50].to_dict(orient="records"), "?proba=true")
                assert answer["version"] == version
                ids += answer["ids"]
            since = day0 + timedelta(days=day)
            deadline = time.time() + 30
            while len(nbmlops.predictions("churn", since=since)) < len(rows):
                assert time.time() < deadline, "the server did not write its log"
                time.sleep(0.2)
            return ids

        def like(n: int, seed: int) -> pd.DataFrame:
            return FX[TRAIN].sample(n, replace=True, random_state=seed).reset_index(drop=True)

        def moved(n: int, seed: int) -> pd.DataFrame:
            return like(n, seed).assign(tenure=lambda f: f.tenure + 400,
                                        spend=lambda f: f.spend * 30)

        picked = FX[TRAIN].sample(150, replace=True, random_state=0).index
        day0_ids = serve(0, FX.loc[picked].reset_index(drop=True), 1)
        # day 0's labels come the same day: as the world gave them
        got = nbmlops.log_feedback("churn", ids=day0_ids, labels=Y[picked].tolist())
        assert got.attached == 150
        moved_ids = serve(1, moved(150, 1), 1)
        moved_ids += serve(2, moved(150, 2), 1)
        # day 3: version 2 takes over; the server follows the alias
        advance(day0 + timedelta(days=3, hours=8))
        nbmlops.promote("churn", 2, "production")
        deadline = time.time() + 30
        while Client(deployment.url).request("GET", "/health")[2]["version"] != 2:
            assert time.time() < deadline, "the server did not switch to version 2"
            time.sleep(0.1)
        serve(3, like(150, 3), 2)
        # labels for version 1's shifted rows arrive now that it is no longer served
        late = nbmlops.log_feedback("churn", ids=moved_ids[:60], labels=[1] * 60)
        assert late.versions == {1: 60}
        assert not late.unknown
        serve(4, moved(150, 4), 2)
        advance(day0 + timedelta(days=5, hours=12))

        # woken every hour for 4 days and 7 hours: checked at 06:00 only
        assert woken == 4 * 24 + 7
        assert [c.check.window_end for c in checks] == [
            day0 + timedelta(days=d, hours=6) for d in range(1, 6)]
        summary = [(c.check.model, c.check.rows, c.check.status, c.check.incident,
                    c.check.alerted) for c in checks]
        assert summary == [("churn/1", 150, "ok", None, False),
                           ("churn/1", 150, "alert", 1, True),
                           ("churn/1", 150, "alert", 1, False),
                           ("churn/2", 150, "ok", None, False),
                           ("churn/2", 150, "alert", 2, True)], [c.text for c in checks]
        assert all("data drift in" in c.text for c in checks if c.check.status == "alert")
        # one POST per incident
        assert [b["incident"] for b in receiver.bodies] == [1, 2]
        assert receiver.bodies[0]["model"] == "churn/1"
        assert receiver.bodies[1]["model"] == "churn/2"
        # day 0's labels judged version 1 on realized figures; the later days, unlabelled,
        # on estimates only
        first = checks[0].check.details["performance"]
        assert {r["labelled"] for r in first["realized"]} == {150}
        for c in checks[1:]:
            figures = c.check.details["performance"]
            assert figures["estimated"], c.text
            assert all(r["labelled"] == 0 for r in figures["estimated"])
        # the labels for version 1, no longer served, count for version 1's windows
        report = nbmlops.performance("churn", since=day0, window="1d",
                                     until=day0 + timedelta(days=5))
        windows = report.windows().set_index(["window", "version"])
        assert windows.loc[(day0 + timedelta(days=1), 1), "labelled"] == 60
        assert windows.loc[(day0 + timedelta(days=3), 2), "labelled"] == 0
        assert windows.loc[(day0 + timedelta(days=1), 1), "accuracy"] < 0.9
        # the CLI says when nothing is due
        quiet = subprocess.run([NBMLOPS, "monitor", "run", str(created.folder), "--due",
                                "--now", (day0 + timedelta(days=5, hours=7)).isoformat()],
                               capture_output=True, text=True, timeout=180,
                               env={**os.environ})
        assert quiet.returncode == 0, quiet.stderr
        assert "no check due" in quiet.stdout
    finally:
        nbmlops.stop_deployment("churn")


def test_due_times_follow_cron() -> None:
    from nbmlops.monitoring.monitors import due_times

    monday = datetime(2027, 3, 1, tzinfo=UTC)  # a Monday
    week = monday + timedelta(days=7)
    assert due_times("0 6 * * *", monday, week) == [
        monday + timedelta(days=d, hours=6) for d in range(7)]
    assert due_times("*/30 9-10 * * 1-5", monday, monday + timedelta(days=1)) == [
        monday + timedelta(hours=h, minutes=m) for h in (9, 10) for m in (0, 30)]
    assert [t.weekday() for t in due_times("0 0 * * 0,6", monday, week)] == [5, 6]
    assert due_times("0 0 1 * *", monday, week) == []  # the 1st itself is not after it
    assert due_times("0 0 1,15 * 1", monday - timedelta(seconds=1), week) == [
        monday, monday + timedelta(days=7)]  # day of month or day of week, as cron
    # a field that starts with * ("*/2") is unrestricted to cron's either-day rule: odd days
    # of the month that are Mondays, not every odd day and every Monday
    assert due_times("0 0 */2 * 1", monday - timedelta(seconds=1), monday + timedelta(days=30)
                     ) == [monday + timedelta(days=d) for d in (0, 14, 28)]
    assert due_times("0 6 * * *", monday + timedelta(hours=6), monday + timedelta(hours=7)
                     ) == []  # the end of the previous check is not due again
