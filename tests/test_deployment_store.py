"""Deployment records on every store backend: one live per name, switches, crashes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nbmlops._types import Actor, NewDeployment
from nbmlops.errors import DeploymentError
from nbmlops.store import Store, liveness

OPS = Actor(user="ops", host="box")


def new(name: str = "churn", *, pid: int | None = None, token: str | None = None,
        alias: str | None = "production", version: int = 1) -> NewDeployment:
    pid = pid if pid is not None else os.getpid()
    return NewDeployment(
        id=uuid.uuid4().hex, name=name, model="churn", alias=alias, version=version,
        url="http://127.0.0.1:8000", workers=1, pid=pid,
        process_token=token if token is not None else liveness.process_token(pid),
        user="ops", host=liveness.hostname(), started_at=time.time(), token_env="TOKEN",
        log_dir="/tmp/log", options={"log_sample": 0.5})


def test_a_deployment_starts_switches_and_stops(store: Store) -> None:
    started = store.start_deployment(new(), actor=OPS)
    assert (started.name, started.status, started.version, started.reference) == (
        "churn", "running", 1, "churn@production")
    assert started.options == {"log_sample": 0.5}
    assert started.token_env == "TOKEN"
    with pytest.raises(DeploymentError, match=r"already running at http://127\.0\.0\.1:8000"):
        store.start_deployment(new(), actor=OPS)
    other = store.start_deployment(new("churn-canary"), actor=OPS)  # another name is fine
    assert store.switch_deployment(started.id, 1, 2, actor=OPS) is True
    assert store.switch_deployment(started.id, 1, 2, actor=OPS) is False  # already recorded
    assert store.get_deployment("churn").version == 2
    stopped = store.end_deployment(started.id, "stopped", actor=OPS)
    assert stopped.status == "stopped"
    assert stopped.stopped_at is not None
    again = store.start_deployment(new(), actor=OPS)  # the name is free again
    assert store.get_deployment("churn").id == again.id  # the latest by that name
    assert store.get_deployment(started.id).status == "stopped"
    assert [d.id for d in store.list_deployments(running=True)] == [again.id, other.id]
    assert len(store.list_deployments()) == 3
    events = store.audit_events(deployment=started.id)
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("deploy", None, 1), ("switch", 1, 2), ("undeploy", None, None)]
    assert events[1].details == {"alias": "production", "deployment": "churn"}
    # each event names the alias the deployment follows
    assert [e.alias for e in events] == ["production"] * 3
    # deployment events never count as alias moves: the alias itself has no history
    assert store.audit_events("churn", alias="production") == []
    with pytest.raises(DeploymentError, match=r"no deployment is named 'nope'.*--list"):
        store.get_deployment("nope")


def test_a_server_that_died_is_marked_crashed_and_frees_its_name(store: Store) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        token = liveness.process_token(proc.pid)
        dead = store.start_deployment(new(pid=proc.pid, token=token), actor=OPS)
    finally:
        proc.kill()
        proc.wait()
    assert store.get_deployment("churn").status == "crashed"
    assert "stopped without saying so" in (store.get_deployment("churn").error or "")
    replacement = store.start_deployment(new(), actor=OPS)
    assert replacement.status == "running"
    assert store.get_deployment(dead.id).status == "crashed"


def test_an_exited_child_not_yet_collected_counts_as_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = liveness.process_token(proc.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until it has exited (state Z in /proc)
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            break
        time.sleep(0.02)
    try:
        assert liveness.owner_is_dead(proc.pid, token) is True  # a zombie: exited, not reaped
    finally:
        proc.wait()


def test_a_rollout_decision_keeps_its_state_and_is_audited_with_its_figures(
        store: Store) -> None:
    started = store.start_deployment(new(), actor=OPS)
    event = store.record_rollout(
        started.id, "rollout-rollback", state={"mode": "canary", "status": "rolled back"},
        details={"challenger": {"errors": 0.2}, "rule": "errors>0.1"}, actor=OPS, version=2,
        reason="rollback rule held: errors>0.1")
    assert (event.action, event.version, event.deployment) == ("rollout-rollback", 2,
                                                               started.id)
    assert event.details == {"challenger": {"errors": 0.2}, "deployment": "churn",
                             "rule": "errors>0.1"}
    options = store.get_deployment(started.id).options
    assert options == {"log_sample": 0.5, "rollout": {"mode": "canary",
                                                       "status": "rolled back"}}
    assert [e.action for e in store.audit_events(deployment=started.id)] == [
        "deploy", "rollout-rollback"]
    assert store.verify_audit().ok
    with pytest.raises(DeploymentError, match="no deployment has id"):
        store.record_rollout("nope", "rollout-end", state={}, details={}, actor=OPS)
