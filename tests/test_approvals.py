"""Protected aliases with approvals, driven as people drive them: the store on every backend,
the API acting as two users, the CLI in subprocesses, ``%register`` in a real IPython shell."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from nbmlops._types import Actor, ApprovalRequest, AuditEvent
from nbmlops.errors import ApprovalError, GateError, ModelNotFoundError
from nbmlops.store import Store
from tests.shell import one_line_error, run
from tests.test_cli import NBMLOPS
from tests.test_registry_store import ADA, BOB, new_version

CAROL = Actor(user="carol", host="desk")


def test_a_protected_alias_moves_only_through_an_approved_request(store: Store) -> None:
    store.create_model_version(new_version(n=1), actor=ADA, alias="production")
    store.create_model_version(new_version(n=2), actor=ADA)
    found = store.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.8"],
                                role="approver", actor=ADA)
    assert (found.approvals, found.require, found.role, found.created_by) == (
        1, ("accuracy>=0.8",), "approver", "ada")
    request = store.set_alias("churn", "production", 2, actor=ADA, reason="better")
    assert isinstance(request, ApprovalRequest)
    assert (request.id, request.status, request.from_version, request.version,
            request.requested_by, request.missing) == (1, "open", 1, 2, "ada", 1)
    assert store.get_model_version("churn", alias="production").version == 1  # not moved
    with pytest.raises(ApprovalError, match=r"you \(ada\) opened request #1: someone else"):
        store.approve_request(1, actor=ADA, require=["accuracy>=0.8"])
    with pytest.raises(ApprovalError, match="protection of churn@production changed"):
        store.approve_request(1, actor=BOB, require=[])  # the caller checked other gates
    approved = store.approve_request(1, actor=BOB, require=["accuracy>=0.8"], reason="ok")
    assert (approved.status, approved.approvals, [v.user for v in approved.votes]) == (
        "approved", 1, ["bob"])
    assert store.get_model_version("churn", alias="production").version == 2
    with pytest.raises(ApprovalError, match="request #1 was already approved"):
        store.approve_request(1, actor=CAROL, require=["accuracy>=0.8"])
    # a rollback of a protected alias is a request too
    rollback = store.rollback_alias("churn", "production", actor=BOB)
    assert isinstance(rollback, ApprovalRequest)
    assert (rollback.action, rollback.from_version, rollback.version) == ("rollback", 2, 1)
    rejected = store.reject_request(rollback.id, actor=CAROL, reason="keep 2")
    assert rejected.status == "rejected"
    assert store.get_model_version("churn", alias="production").version == 2
    assert store.list_requests("churn") == []
    assert [r.status for r in store.list_requests("churn", status=None)] == [
        "approved", "rejected"]
    # every step is an audit event, in order, by who did it
    steps = [(e.action, e.user) for e in store.audit_events("churn", alias="production")]
    assert steps == [("promote", "ada"), ("protect", "ada"), ("request", "ada"),
                     ("approve", "bob"), ("promote", "bob"), ("request", "bob"),
                     ("reject", "carol")]
    moved = store.audit_events("churn", alias="production")[4]
    assert moved.details == {"request": 1, "requested_by": "ada"}
    store.unprotect_alias("churn", "production", actor=ADA)
    assert isinstance(store.set_alias("churn", "production", 1, actor=ADA), AuditEvent)
    assert store.verify_audit().ok


def test_two_approvals_and_a_request_gone_stale(store: Store) -> None:
    for n in (1, 2, 3):
        store.create_model_version(new_version(n=n), actor=ADA, alias="production" if n == 1
                                   else None)
    store.protect_alias("churn", "production", approvals=2, actor=ADA)
    first = store.set_alias("churn", "production", 2, actor=ADA)
    second = store.set_alias("churn", "production", 3, actor=BOB)
    assert isinstance(first, ApprovalRequest)
    assert isinstance(second, ApprovalRequest)
    half = store.approve_request(first.id, actor=BOB)
    assert (half.status, half.approvals, half.missing) == ("open", 1, 1)
    with pytest.raises(ApprovalError, match=r"you \(bob\) already voted on request #1"):
        store.approve_request(first.id, actor=BOB)
    assert store.get_model_version("churn", alias="production").version == 1
    assert store.approve_request(first.id, actor=CAROL).status == "approved"
    assert store.get_model_version("churn", alias="production").version == 2
    # the other request was opened when the alias pointed at 1: approving it now is refused
    with pytest.raises(ApprovalError, match=r"moved since request #2 was opened .*version 2"):
        store.approve_request(second.id, actor=ADA)
    assert store.get_request(second.id).votes == ()  # the refused vote left nothing
    assert store.get_model_version("churn", alias="production").version == 2
    with pytest.raises(ApprovalError, match="no approval request #99"):
        store.get_request(99)
    with pytest.raises(ModelNotFoundError, match="is not protected"):
        store.unprotect_alias("churn", "staging", actor=ADA)


# -- the API, acting as two people ------------------------------------------------------------

def _as(user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Act as ``user`` from here on (a new workspace takes the new identity)."""
    from nbmlops import api

    api.close()
    monkeypatch.setenv("NBMLOPS_USER", user)


def _two_versions(accuracy: tuple[float, float] = (0.85, 0.9)) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import nbmlops

    X = np.random.default_rng(0).normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    for n, acc in enumerate(accuracy, 1):
        with nbmlops.track("churn", f"v{n}"):
            model = LogisticRegression().fit(X, y)
            nbmlops.log_metric("accuracy", acc)
        nbmlops.register(model, name="churn", alias="production" if n == 1 else None)


def test_api_two_people_request_and_approve_gates_checked_again(
        store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops

    _as("alice", monkeypatch)
    _two_versions()
    nbmlops.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.8"])
    with pytest.raises(GateError, match=r"accuracy>=0\.95 failed"):  # checked at request
        nbmlops.promote("churn", 2, "production", require=["accuracy>=0.95"])
    assert nbmlops.approval_requests() == []
    request = nbmlops.promote("churn", 2, "production", reason="better")
    assert isinstance(request, ApprovalRequest)
    assert request.requested_by == "alice"
    with pytest.raises(ApprovalError, match=r"you \(alice\) opened request #1"):
        nbmlops.approve("churn", "production")
    # the protection tightens before bob looks: the gate is checked again at approval
    nbmlops.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.95"])
    _as("bob", monkeypatch)
    with pytest.raises(GateError, match=r"accuracy>=0\.95 failed: accuracy is 0\.9; "
                                        r"approving request #1"):
        nbmlops.approve("churn", "production")
    assert nbmlops.load_model("churn@production").version.version == 1
    _as("alice", monkeypatch)
    nbmlops.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.8"])
    _as("bob", monkeypatch)
    done = nbmlops.approve("churn", "production", reason="looks good")
    assert done.status == "approved"
    assert nbmlops.load_model("churn@production").version.version == 2
    assert [e.action for e in nbmlops.audit_events(user="bob")] == ["approve", "promote"]
    assert nbmlops.verify_audit().ok
    # registering straight onto a protected alias opens a request too
    _as("alice", monkeypatch)
    _two_versions((0.86, 0.91))  # versions 3 and 4; 3 asks for production
    [pending] = nbmlops.approval_requests("churn")
    assert (pending.version, pending.from_version, pending.requested_by) == (3, 2, "alice")
    assert nbmlops.load_model("churn@production").version.version == 2


# -- the CLI, as two people in two shells ------------------------------------------------------

def cli_as(user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NBMLOPS, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NBMLOPS_USER": user})


def test_cli_protect_request_approve(store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _as("alice", monkeypatch)
    _two_versions()
    out = cli_as("alice", "models", "protect", "churn", "production", "--approvals", "1",
                 "--require", "accuracy>=0.8", "--role", "approver")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("churn@production is protected: moves need 1 approval by "
                                 "someone other than the requester, requires accuracy>=0.8")
    out = cli_as("alice", "models", "promote", "churn", "2", "production")
    assert (out.returncode, out.stdout) == (
        0, "request #1 opened: needs 1 approval to move churn@production to version 2\n")
    out = cli_as("alice", "models", "approve", "churn", "production")
    assert out.returncode == 1
    assert out.stderr == ("nbmlops: error: you (alice) opened request #1: someone else must "
                          "approve it\n")
    listed = cli_as("bob", "models", "requests")
    assert listed.returncode == 0
    assert " open " in listed.stdout
    assert "0/1" in listed.stdout
    out = cli_as("bob", "models", "approve", "churn", "production", "--request", "1")
    assert (out.returncode, out.stdout) == (
        0, "request #1 approved by bob: churn@production -> version 2\n")
    assert cli_as("bob", "models", "requests").stdout == "no open requests\n"
    out = cli_as("bob", "models", "rollback", "churn@production")
    assert out.stdout == "request #2 opened: needs 1 approval to roll back churn@production " \
                         "to version 1\n"
    out = cli_as("bob", "models", "reject", "churn", "production", "--reason", "withdrawn")
    assert out.stdout == "request #2 rejected by bob: churn@production stays at version 2\n"
    out = cli_as("bob", "models", "approve", "churn", "production")
    assert out.returncode == 1
    assert "no open request for churn@production" in out.stderr
    out = cli_as("alice", "models", "protect", "churn", "production", "--approvals", "0")
    assert out.returncode == 1
    assert "approvals 0: give a whole number from 1" in out.stderr
    trail = cli_as("alice", "audit", "list", "--model", "churn", "--format", "json")
    import json

    actions = [(e["action"], e["user"]) for e in json.loads(trail.stdout)]
    assert actions[-6:] == [("protect", "alice"), ("request", "alice"), ("approve", "bob"),
                            ("promote", "bob"), ("request", "bob"), ("reject", "bob")]
    assert cli_as("alice", "models", "unprotect", "churn", "production").returncode == 0
    out = cli_as("alice", "models", "rollback", "churn@production")
    assert out.stdout == "churn@production: version 2 -> 1 (rolled back)\n"


# -- %register in a real IPython shell ---------------------------------------------------------

SETUP = textwrap.dedent("""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    X = np.random.default_rng(0).normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
""")


def test_register_magic_protect_approve(shell, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NBMLOPS_USER", "alice")
    from nbmlops import api

    api.close()
    assert run(shell, SETUP).success
    for n, acc in ((1, 0.85), (2, 0.9)):
        assert run(shell, f"%%track -q -n v{n}\nm{n} = LogisticRegression().fit(X, y)\n"
                          f"accuracy = {acc}").success
    assert run(shell, "%register m1 --name churn --alias production").success
    assert run(shell, "%register m2 --name churn").success
    capsys.readouterr()
    assert run(shell, '%register --protect churn production --approvals 1 '
                      '--require "accuracy>=0.8"').success
    assert capsys.readouterr().out.startswith("churn@production is protected")
    assert run(shell, "%register --promote churn 2 production --reason better").success
    assert capsys.readouterr().out == ("request #1 opened: needs 1 approval to move "
                                       "churn@production to version 2\n")
    shown = one_line_error(shell, capsys, "%register --approve churn production")
    assert "%register: you (alice) opened request #1: someone else must approve it" in shown
    # bob approves from his own shell
    out = cli_as("bob", "models", "approve", "churn", "production")
    assert out.returncode == 0, out.stderr
    assert run(shell, "listing = %register --list churn").success
    assert shell.user_ns["listing"].frame["aliases"].tolist() == ["", "production"]
    # registering onto the protected alias says it opened a request
    result = run(shell, "%register m2 --name churn --alias production")
    assert result.success
    assert "request #2 opened: needs 1 approval to move churn@production to version 3" in \
        capsys.readouterr().out
    assert run(shell, "r = %register --requests churn").success
    assert shell.user_ns["r"]["request"].tolist() == [2]
    assert run(shell, "%register --reject churn production --reason later").success
    assert capsys.readouterr().out == ("request #2 rejected by alice: churn@production stays "
                                       "at version 2\n")
    shown = one_line_error(shell, capsys, "%register --protect churn production --approvals x")
    assert "argument --approvals: invalid int value" in shown


def test_a_deployment_following_a_protected_alias_switches_only_once_approved(
        store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import nbmlops
    from tests.test_serving import FEATURES, ROWS, V1, V2, Client, X

    _as("alice", monkeypatch)
    nbmlops.register(V1, name="churn", data=X[FEATURES], alias="production")
    nbmlops.register(V2, name="churn", data=X[FEATURES])
    deployment = nbmlops.deploy("churn@production", port=0, poll=0.2)
    client = Client(deployment.url)
    body = ROWS.to_dict(orient="records")
    try:
        nbmlops.protect_alias("churn", "production")
        assert isinstance(nbmlops.promote("churn", 2, "production"), ApprovalRequest)
        seen = set()
        until = time.monotonic() + 1.5  # several of the server's 0.2 s polls
        while time.monotonic() < until:
            seen.add(client.predict(body)["version"])
        assert seen == {1}  # a request is not a move
        _as("bob", monkeypatch)
        nbmlops.approve("churn", "production")
        deadline = time.monotonic() + 20
        while client.predict(body)["version"] != 2:
            assert time.monotonic() < deadline, "the deployment never switched"
        assert client.predict(body)["predictions"] == V2.predict(ROWS).tolist()
    finally:
        nbmlops.stop_deployment(deployment.name)
    events = nbmlops.api.workspace().store.audit_events(deployment=deployment.id)
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("deploy", None, 1), ("switch", 1, 2), ("undeploy", None, None)]
    assert nbmlops.verify_audit().ok


def test_a_jobs_on_success_promote_onto_a_protected_alias_says_it_requested(
        store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops
    from nbmlops.export.actions import carry_out, parse_action

    _as("ci", monkeypatch)
    _two_versions()
    nbmlops.protect_alias("churn", "production")
    done = carry_out(nbmlops.api.workspace(), [parse_action("promote churn/2 production")],
                     job_run="f" * 32, runs=())
    assert done == ["requested churn/2 to @production (request #1: @production is protected; "
                    "it moves once approved)"]
    assert nbmlops.load_model("churn@production").version.version == 1
    [request] = nbmlops.approval_requests()
    assert (request.requested_by, request.reason) == ("ci", "job run ffffffff")
