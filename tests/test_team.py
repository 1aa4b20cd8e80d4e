"""Team mode on a real PostgreSQL with real login roles: the authorization matrix (each
role x each action, through the API and a subset through the server extension), the
identity taken by the database, the audit trail written and chained by a trigger and
append-only, and 16 processes tracking 400 runs as a writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import nbmlops
from nbmlops import api
from nbmlops._types import Actor, ApprovalRequest
from nbmlops.errors import ApprovalError, PermissionDeniedError, StoreError
from nbmlops.store import Store, open_store
from tests.test_cli import NBMLOPS
from tests.test_registry_store import new_version

pytestmark = pytest.mark.postgres
ROLES = ("reader", "writer", "approver", "admin")


def _url(base: str, user: str) -> str:
    rest = base.split("://", 1)[1].split("@", 1)[1]
    return f"postgresql+psycopg://{user}@{rest}"


@dataclass
class Team:
    owner_url: str
    owner: Store
    users: dict[str, str]  # reader/writer/approver/admin/requester -> login role
    stores: dict[str, Store] = field(default_factory=dict)

    def url(self, who: str) -> str:
        return _url(self.owner_url, self.users[who])

    def store(self, who: str) -> Store:
        if who not in self.stores:
            self.stores[who] = open_store(self.url(who))
        return self.stores[who]

    def sql(self, who: str, statement: str) -> None:
        engine = sa.create_engine(self.url(who) if who != "owner" else self.owner_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def events(self) -> int:
        return len(self.owner.audit_events())


@pytest.fixture
def team(pg_url: str, store_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    owner = open_store(pg_url)
    tag = uuid.uuid4().hex[:6]
    users = {r: f"{r}_{tag}" for r in (*ROLES, "requester")}
    found = Team(owner_url=pg_url, owner=owner, users=users)
    monkeypatch.setenv("NBMLOPS_STORE", pg_url)
    assert api.team_init() == [f"nbmlops_{r}" for r in ROLES]
    assert api.team_init() == [f"nbmlops_{r}" for r in ROLES]  # idempotent
    for role in ROLES:
        api.team_add(users[role], role)
    api.team_add(users["requester"], "writer")
    yield found
    api.close()
    for s in found.stores.values():
        s.close()
    owner.close()
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for user in users.values():
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{user}"'))
        for extra in conn.execute(sa.text(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE :p"), {"p": f"new_%_{tag}"}):
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{extra[0]}"'))
    engine.dispose()


def act_as(team: Team, who: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the API acts as ``who`` (its own login to the same database)."""
    monkeypatch.setenv("NBMLOPS_STORE", team.url(who))
    monkeypatch.setenv("NBMLOPS_USER", "somebody-else")  # ignored in team mode


def _model() -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.arange(20, dtype=float).reshape(10, 2)
    return LogisticRegression().fit(X, [0, 1] * 5)


def _request(team: Team, alias: str, *, by: str = "requester",
             role: str | None = None) -> ApprovalRequest:
    """A protected alias (protected by the owner, asking ``role`` of approvers) and an open
    request to move it, opened by ``by`` (a reader cannot open one: the request is recorded
    as theirs by the owner)."""
    team.owner.protect_alias("churn", alias, approvals=1, role=role,
                             actor=Actor(user=None, host=None))
    if by in ("reader",):
        with sa.create_engine(team.owner_url).begin() as conn:
            conn.execute(sa.text("ALTER TABLE approval_requests DISABLE TRIGGER "
                                 "nbmlops_identity"))
            conn.execute(sa.text(
                "INSERT INTO approval_requests (model_id, alias, action, version, "
                "from_version, status, approvals_needed, requested_by, requested_at) "
                "SELECT id, :alias, 'promote', 2, NULL, 'open', 1, :who, 0 "
                "FROM registered_models WHERE name = 'churn'"),
                {"alias": alias, "who": team.users[by]})
            conn.execute(sa.text("ALTER TABLE approval_requests ENABLE TRIGGER "
                                 "nbmlops_identity"))
        return team.owner.list_requests("churn", alias=alias)[0]
    opened = team.store(by).set_alias("churn", alias, 2, actor=Actor(user=None, host=None))
    assert isinstance(opened, ApprovalRequest)
    return opened


def _outcome(fn: Callable[[], Any]) -> str:
    """ok, denied:ROLE (the role the one-line error names) or refused:own."""
    message = None
    try:
        fn()
    except PermissionDeniedError as exc:
        message, outcome = str(exc), f"denied:{(exc.role or 'owner').removeprefix('nbmlops_')}"
    except ApprovalError as exc:
        message, outcome = str(exc), "refused:own"
        if "someone else must approve" not in message:
            outcome = f"refused:{message}"
    else:
        return "ok"
    if "\n" in message:
        outcome += " (more than one line)"
    return outcome


def _raw(team: Team, who: str, statement: str) -> str:
    state = None
    try:
        team.sql(who, statement)
    except sa.exc.DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
    return "ok" if state is None else "denied:owner" if state == "42501" else f"error {state}"


W, A, AD, OWN = "denied:writer", "denied:approver", "denied:admin", "denied:owner"
EXPECTED: dict[str, tuple[str, str, str, str]] = {  # reader, writer, approver, admin
    "read runs": ("ok", "ok", "ok", "ok"),
    "track": (W, "ok", "ok", "ok"),
    "register": (W, "ok", "ok", "ok"),
    "move unprotected alias": (W, "ok", "ok", "ok"),
    "request protected move": (W, "ok", "ok", "ok"),
    "approve another's request": (A, A, "ok", "ok"),
    "approve one's own": ("refused:own",) * 4,  # type: ignore[dict-item]
    "approve an admin-protected request": (A, A, AD, "ok"),  # protect --role admin
    "reject": (A, A, "ok", "ok"),
    "protect": (AD, AD, AD, "ok"),
    "add a member": (AD, AD, AD, "ok"),
    "update an audit row": (OWN,) * 4,  # type: ignore[dict-item]
    "delete an audit row": (OWN,) * 4,  # type: ignore[dict-item]
    "verify the chain": ("ok", "ok", "ok", "ok"),
}


def _steps(team: Team, role: str, model: Any, other: ApprovalRequest, own: ApprovalRequest,
           rejected: ApprovalRequest, for_admins: ApprovalRequest
           ) -> dict[str, Callable[[], Any]]:
    """Each action of the matrix, as ``role`` does it through the API."""
    def track() -> None:
        with nbmlops.track("matrix", f"by-{role}"):
            nbmlops.log_metric("m", 1.0)

    tag = team.users["reader"].split("_")[1]
    return {
        "read runs": lambda: api.runs(),
        "track": track,
        "register": lambda: nbmlops.register(model, name=f"m-{role}"),
        "move unprotected alias": lambda: nbmlops.promote("churn", 1, f"s-{role}"),
        "request protected move": lambda: nbmlops.promote("churn", 2, f"p-other-{role}"),
        "approve another's request": lambda: nbmlops.approve(
            "churn", f"p-other-{role}", request=other.id),
        "approve one's own": lambda: nbmlops.approve("churn", f"p-own-{role}",
                                                     request=own.id),
        "approve an admin-protected request": lambda: nbmlops.approve(
            "churn", f"p-admin-{role}", request=for_admins.id),
        "reject": lambda: nbmlops.reject("churn", f"p-reject-{role}", request=rejected.id),
        "protect": lambda: nbmlops.protect_alias("churn", f"c-{role}"),
        "add a member": lambda: nbmlops.team_add(f"new_{role}_{tag}", "reader"),
    }


def test_the_authorization_matrix_through_the_api(team: Team,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    requester = Actor(user=None, host=None)
    team.store("requester").create_model_version(new_version(n=1), actor=requester)
    team.store("requester").create_model_version(new_version(n=2), actor=requester)
    model = _model()
    got: dict[str, list[str]] = {action: [] for action in EXPECTED}
    for role in ROLES:
        act_as(team, role, monkeypatch)
        other = _request(team, f"p-other-{role}")
        rejected = _request(team, f"p-reject-{role}")
        own = _request(team, f"p-own-{role}", by=role)
        for_admins = _request(team, f"p-admin-{role}", role="admin")
        before = team.events()

        for action, step in _steps(team, role, model, other, own, rejected,
                                   for_admins).items():
            events = team.events()
            outcome = _outcome(step)
            got[action].append(outcome)
            if outcome != "ok":  # a refused action leaves nothing behind, not even an event
                assert team.events() == events, (role, action)
        assert api.whoami() == team.users[role]
        got["update an audit row"].append(_raw(team, role, "UPDATE audit_events SET "
                                               "reason = 'edited' WHERE id = 1"))
        got["delete an audit row"].append(_raw(team, role, "DELETE FROM audit_events WHERE "
                                               "id = (SELECT max(id) FROM audit_events)"))
        got["verify the chain"].append("ok" if api.verify_audit().ok else "broken")
        assert team.events() >= before
    width = max(map(len, EXPECTED))
    lines = [f"{'action':<{width}}  " + "  ".join(f"{r:<16}" for r in ROLES)]
    lines += [f"{a:<{width}}  " + "  ".join(f"{o:<16}" for o in got[a]) for a in EXPECTED]
    print("\nauthorization matrix (API, PostgreSQL login roles):\n" + "\n".join(lines))
    assert got == {a: list(e) for a, e in EXPECTED.items()}
    # an admin-protected alias: only the admin's approval moved it; the others left no vote
    for_admins = {r.alias: (r.status, len(r.votes)) for r in
                  team.owner.list_requests("churn", status=None) if r.alias.startswith("p-admin")}
    assert for_admins == {"p-admin-reader": ("open", 0), "p-admin-writer": ("open", 0),
                          "p-admin-approver": ("open", 0), "p-admin-admin": ("approved", 1)}
    assert "p-admin-admin" in team.owner.get_model_version("churn", version=2).aliases
    assert "p-admin-approver" not in team.owner.get_model_version("churn", version=2).aliases
    # what the reader could not do left no run, no version, no alias
    assert nbmlops.runs("matrix")["name"].tolist() == ["by-admin", "by-approver", "by-writer"]
    assert {m.name for m in team.owner.list_models()} == {"churn", "m-writer", "m-approver",
                                                         "m-admin"}


def test_identity_and_events_come_from_the_database(team: Team,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the client claims, the records name the login role; the trigger writes the
    events with the client's details; a vote in someone else's name or on one's own
    request is refused by PostgreSQL itself, not only by nbmlops' client code."""
    forged = Actor(user="mallory", host="nowhere")
    writer = team.store("requester")
    writer.create_model_version(new_version(n=1), actor=forged, alias="staging")
    writer.create_model_version(new_version(n=2), actor=forged)
    team.owner.protect_alias("churn", "production", approvals=1, actor=forged)
    writer.set_alias("churn", "staging", 2, actor=forged, reason="better")
    request = writer.set_alias("churn", "production", 2, actor=forged, reason="ship it")
    assert isinstance(request, ApprovalRequest)
    assert request.requested_by == team.users["requester"]
    # the client check bypassed by lying about who one is: PostgreSQL's policy refuses
    with pytest.raises(PermissionDeniedError, match="nbmlops_approver"):
        team.store("requester").approve_request(request.id, actor=forged)
    approved = team.store("approver").approve_request(request.id, actor=forged)
    assert approved.status == "approved"
    assert approved.votes[0].user == team.users["approver"]
    events = team.owner.audit_events()
    trail = [(e.action, e.user, e.alias, e.from_version, e.to_version) for e in events
             if e.model == "churn"]
    w, a, o = team.users["requester"], team.users["approver"], "postgres"
    assert trail == [("register", w, None, None, None), ("promote", w, "staging", None, 1),
                     ("register", w, None, None, None), ("protect", o, "production", None,
                                                         None),
                     ("promote", w, "staging", 1, 2), ("request", w, "production", None, 2),
                     ("approve", a, "production", None, None),
                     ("promote", a, "production", None, 2)]
    by_action = {e.action: e for e in events if e.model == "churn"}
    assert by_action["request"].reason == "ship it"
    assert by_action["approve"].details == {"request": request.id, "approvals": 1,
                                            "approvals_needed": 1}
    assert all(e.host for e in events)
    assert "nowhere" not in {e.host for e in events}
    assert [e.action for e in events if e.model == "(team)"] == ["team-add"] * 5
    # a writer moving a protected alias behind nbmlops' back: the row policy refuses
    with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
        team.sql("writer", "UPDATE model_aliases SET version = 1 WHERE alias = 'production'")
    # a deployment's start, switch and stop are events the trigger writes too
    import time

    from nbmlops._types import NewDeployment

    dep = writer.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="churn-api", model="churn", alias="staging", version=2,
        url="http://127.0.0.1:1", workers=1, pid=os.getpid(), process_token="t",
        user="mallory", host="here", started_at=time.time()), actor=forged)
    assert dep.user == team.users["requester"]
    assert writer.switch_deployment(dep.id, 2, 1, actor=forged)
    writer.end_deployment(dep.id, "stopped", actor=forged)
    served = [(e.action, e.user, e.from_version, e.to_version, e.details.get("status"))
              for e in team.owner.audit_events(deployment=dep.id)]
    assert served == [("deploy", w, None, 2, None), ("switch", w, 2, 1, None),
                      ("undeploy", w, None, None, "stopped")]
    # NBMLOPS_USER is ignored: the API names the login role
    act_as(team, "writer", monkeypatch)
    assert nbmlops.whoami() == team.users["writer"]
    assert nbmlops.promote("churn", 1, "staging").user == team.users["writer"]  # type: ignore[union-attr]
    verified = api.verify_audit()
    assert verified.ok, verified.problem


def test_the_trigger_chain_catches_an_edit_a_deletion_and_a_reordering(team: Team) -> None:
    """Only the owner can change the trail; when they do, `audit verify` (the Python
    re-computation of the trigger's hash) names the event."""
    writer = team.store("writer")
    actor = Actor(user=None, host=None)
    writer.create_model_version(new_version(n=1), actor=actor, alias="staging")
    for n in (2, 3):
        writer.create_model_version(new_version(n=n), actor=actor)
        writer.set_alias("churn", "staging", n, actor=actor, reason=f"v{n}\n\"quoted\" é")
    ids = [e.id for e in team.owner.audit_events()]
    assert team.owner.verify_audit().ok
    anchor = team.owner.audit_head()
    assert anchor is not None

    def check(expected_bad: int, words: str) -> None:
        env = {**os.environ, "NBMLOPS_STORE": team.owner_url}
        out = subprocess.run([NBMLOPS, "audit", "verify"], capture_output=True, text=True,
                             timeout=120, env=env)
        assert out.returncode == 1
        assert f"#{expected_bad} " in out.stderr, out.stderr
        assert words in out.stderr, out.stderr
        assert team.owner.verify_audit().first_bad == expected_bad

    with sa.create_engine(team.owner_url).begin() as conn:  # the owner edits one event
        conn.execute(sa.text(f"UPDATE audit_events SET reason = 'nothing to see' "
                             f"WHERE id = {ids[-1]}"))
    check(ids[-1], "was changed")
    with sa.create_engine(team.owner_url).begin() as conn:
        conn.execute(sa.text(f"UPDATE audit_events SET reason = :r WHERE id = {ids[-1]}"),
                     {"r": "v3\n\"quoted\" é"})
    assert team.owner.verify_audit().ok
    a, b = ids[-3], ids[-2]
    swap = ("UPDATE audit_events e SET time = o.time, \"user\" = o.\"user\", "
            "action = o.action, alias = o.alias, version = o.version, "
            "from_version = o.from_version, to_version = o.to_version, reason = o.reason, "
            "details = o.details, hash = o.hash, prev_hash = o.prev_hash "
            f"FROM audit_events o WHERE (e.id, o.id) IN (({a}, {b}), ({b}, {a}))")
    with sa.create_engine(team.owner_url).begin() as conn:  # two events swapped
        conn.execute(sa.text(swap))
    check(a, "removed or events were reordered")
    with sa.create_engine(team.owner_url).begin() as conn:  # and back
        conn.execute(sa.text(swap))
    assert team.owner.verify_audit().ok
    with sa.create_engine(team.owner_url).begin() as conn:  # one event deleted
        conn.execute(sa.text(f"DELETE FROM audit_events WHERE id = {b}"))
    check(ids[-1], "removed or events were reordered")


def test_team_commands_from_the_cli(team: Team) -> None:
    env = {**os.environ, "NBMLOPS_STORE": team.url("writer")}
    out = subprocess.run([NBMLOPS, "team", "add", "intruder", "--role", "admin"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert "needs the nbmlops_admin role (you are " + team.users["writer"] in out.stderr
    admin = {**os.environ, "NBMLOPS_STORE": team.url("admin"), "NEWPW": "s3cret-pw"}
    tag = team.users["reader"].split("_")[1]
    name = f"new_cli_{tag}"
    added = subprocess.run([NBMLOPS, "team", "add", name, "--role", "approver",
                            "--password-env", "NEWPW"], capture_output=True, text=True,
                           timeout=120, env=admin)
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"added {name} as approver\n"
    listed = subprocess.run([NBMLOPS, "team", "list", "--format", "json"],
                            capture_output=True, text=True, timeout=120, env=admin)
    members = {m["name"]: m["role"] for m in json.loads(listed.stdout)}
    assert members[name] == "approver"
    assert members[team.users["admin"]] == "admin"
    removed = subprocess.run([NBMLOPS, "team", "remove", name], capture_output=True,
                             text=True, timeout=120, env=admin)
    assert removed.stdout == f"removed {name} (was approver)\n"
    again = subprocess.run([NBMLOPS, "team", "remove", name], capture_output=True,
                           text=True, timeout=120, env=admin)
    assert again.returncode == 1
    assert "is not a member of the team" in again.stderr
    trail = [(e.action, e.user, e.details.get("member")) for e in team.owner.audit_events()
             if e.model == "(team)"][-2:]
    assert trail == [("team-add", team.users["admin"], name),
                     ("team-remove", team.users["admin"], name)]
    bad = subprocess.run([NBMLOPS, "team", "add", "Bad-Name"], capture_output=True,
                         text=True, timeout=120, env=admin)
    assert bad.returncode == 1
    assert "member name 'Bad-Name'" in bad.stderr


def test_team_mode_needs_postgresql(store_env: Path) -> None:
    with pytest.raises(StoreError, match="not a security boundary"):
        nbmlops.team_init()


WORKER = textwrap.dedent("""
    import sys, nbmlops
    worker = int(sys.argv[1])
    for i in range(25):
        with nbmlops.track("load", f"w{worker}-{i}", params={"worker": worker, "i": i}):
            nbmlops.log_metric("loss", 1.0 / (i + 1))
""")


def test_sixteen_processes_track_four_hundred_runs(team: Team, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "NBMLOPS_STORE": team.url("writer")}
    procs = [subprocess.Popen([sys.executable, str(script), str(w)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(16)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    act_as(team, "reader", monkeypatch)
    frame = nbmlops.runs("load")
    assert len(frame) == 400
    assert set(frame["status"]) == {"finished"}
    with sa.create_engine(team.owner_url).connect() as conn:  # who the database wrote
        assert conn.execute(sa.text('SELECT DISTINCT "user" FROM runs')).scalars().all() == [
            team.users["writer"]]
    assert sorted(frame["name"]) == sorted(f"w{w}-{i}" for w in range(16) for i in range(25))


pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbmlops": True}}}


SERVER_EXPECTED = {  # reader, writer, approver, admin: the HTTP status
    "read runs": (200, 200, 200, 200),
    "move unprotected alias": (403, 200, 200, 200),
    "request protected move": (403, 200, 200, 200),
}


async def test_the_server_extension_answers_403_naming_the_role(
        team: Team, jp_fetch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    actor = Actor(user=None, host=None)
    for n in (1, 2):
        team.store("requester").create_model_version(new_version(n=n), actor=actor)
    team.owner.protect_alias("churn", "production", approvals=1, actor=actor)
    got: dict[str, list[int]] = {a: [] for a in SERVER_EXPECTED}
    for role in ROLES:
        act_as(team, role, monkeypatch)
        calls = {
            "read runs": ("runs", "GET", None),
            "move unprotected alias": (("models", "churn", "promote"), "POST",
                                       {"version": 1, "alias": f"s-{role}"}),
            "request protected move": (("models", "churn", "promote"), "POST",
                                       {"version": 2, "alias": "production"}),
        }
        for action, (path, method, body) in calls.items():
            parts = (path,) if isinstance(path, str) else path
            events = team.events()
            response = await jp_fetch("nbmlops", "api", *parts, method=method,
                                      body=None if body is None else json.dumps(body),
                                      raise_error=False)
            got[action].append(response.code)
            answer = json.loads(response.body)
            if response.code == 403:
                assert set(answer) == {"error"}
                assert answer["error"].startswith("permission denied: ")
                assert f"needs the nbmlops_writer role (you are {team.users[role]})" in \
                    answer["error"]
                assert team.events() == events
            elif action == "request protected move":
                assert answer["changed"] is False
    lines = [f"{'action':<24}" + "".join(f"{r:>10}" for r in ROLES)]
    lines += [f"{a:<24}" + "".join(f"{c:>10}" for c in got[a]) for a in SERVER_EXPECTED]
    print("\nauthorization matrix (server extension, HTTP status):\n" + "\n".join(lines))
    assert got == {a: list(e) for a, e in SERVER_EXPECTED.items()}
    assert [r.requested_by for r in team.owner.list_requests("churn")] == [
        team.users[r] for r in ("writer", "approver", "admin")]


def test_the_magics_say_the_role_in_one_line(team: Team, shell: Any, capsys: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.shell import one_line_error

    actor = Actor(user=None, host=None)
    for n in (1, 2):
        team.store("requester").create_model_version(new_version(n=n), actor=actor)
    team.owner.protect_alias("churn", "production", approvals=1, actor=actor)
    request = team.store("requester").set_alias("churn", "production", 2, actor=actor)
    assert isinstance(request, ApprovalRequest)
    act_as(team, "writer", monkeypatch)
    shown = one_line_error(shell, capsys, "%register --protect churn staging --approvals 1")
    assert f"needs the nbmlops_admin role (you are {team.users['writer']})" in shown
    shown = one_line_error(shell, capsys, "%register --approve churn production")
    assert "needs the nbmlops_approver role" in shown
    assert team.owner.list_requests("churn")[0].status == "open"
    act_as(team, "reader", monkeypatch)
    shown = one_line_error(shell, capsys, "%register --promote churn 1 staging")
    assert f"needs the nbmlops_writer role (you are {team.users['reader']})" in shown
    assert team.owner.get_model_version("churn", version=1).aliases == ()


def _admin_protected(team: Team) -> ApprovalRequest:
    """churn v1, v2; production protected asking approvers for ``admin`` (by an admin, from
    the CLI); an open request by the requester to move it to v2."""
    actor = Actor(user=None, host=None)
    for n in (1, 2):
        team.store("requester").create_model_version(new_version(n=n), actor=actor)
    protect = subprocess.run([NBMLOPS, "models", "protect", "churn", "production", "--role",
                              "admin", "--approvals", "1"], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "NBMLOPS_STORE": team.url("admin")})
    assert protect.returncode == 0, protect.stderr
    assert team.owner.get_protection("churn", "production").role == "admin"  # type: ignore[union-attr]
    request = team.store("requester").set_alias("churn", "production", 2, actor=actor)
    assert isinstance(request, ApprovalRequest)
    return request


def test_a_protections_role_is_enforced_by_the_database(team: Team, shell: Any, capsys: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`protect --role admin`: an approver is refused from the API, the magic and the CLI
    with one line naming nbmlops_admin, and behind nbmlops' back by PostgreSQL's trigger;
    nothing is written; an admin approves and the alias moves."""
    from tests.shell import one_line_error

    request = _admin_protected(team)
    events = team.events()
    approver = team.users["approver"]
    needs = (f"approving or rejecting a request for churn@production (its protection asks "
             f"for it) needs the nbmlops_admin role (you are {approver})")
    act_as(team, "approver", monkeypatch)
    for decide in (nbmlops.approve, nbmlops.reject):
        with pytest.raises(PermissionDeniedError) as caught:
            decide("churn", "production")
        assert needs in str(caught.value)
        assert "\n" not in str(caught.value)
        assert caught.value.role == "nbmlops_admin"
    assert needs in one_line_error(shell, capsys, "%register --approve churn production")
    cli = subprocess.run([NBMLOPS, "models", "approve", "churn", "production"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NBMLOPS_STORE": team.url("approver")})
    assert cli.returncode == 1
    assert cli.stderr.count("\n") == 1, cli.stderr
    assert needs in cli.stderr, cli.stderr
    # a client that skips nbmlops and writes the vote itself: the database refuses it
    with pytest.raises(sa.exc.DBAPIError, match="asks for the nbmlops_admin role"):
        team.sql("approver", 'INSERT INTO approval_votes (request_id, "user", decision, time) '
                 f"VALUES ({request.id}, '{approver}', 'approve', 0)")
    # nor close the request by updating it
    with pytest.raises(sa.exc.DBAPIError, match="asks for the nbmlops_admin role"):
        team.sql("approver", "UPDATE approval_requests SET status = 'rejected' "
                 f"WHERE id = {request.id}")
    still = team.owner.get_request(request.id)
    assert (still.status, still.votes) == ("open", ())
    assert team.events() == events
    assert "production" not in team.owner.get_model_version("churn", version=2).aliases
    # the admin approves from the CLI: it moves
    done = subprocess.run([NBMLOPS, "models", "approve", "churn", "production"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NBMLOPS_STORE": team.url("admin")})
    assert done.returncode == 0, done.stderr
    assert "production" in team.owner.get_model_version("churn", version=2).aliases
    assert [v.user for v in team.owner.get_request(request.id).votes] == [team.users["admin"]]


async def test_the_panel_route_names_a_protections_role(team: Team, jp_fetch: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    request = _admin_protected(team)
    events = team.events()
    got = {}
    for role in ("approver", "admin"):
        act_as(team, role, monkeypatch)
        response = await jp_fetch("nbmlops", "api", "models", "churn", "approve",
                                  method="POST", body=json.dumps({"alias": "production"}),
                                  raise_error=False)
        got[role] = (response.code, json.loads(response.body))
    code, answer = got["approver"]
    assert code == 403
    assert answer == {"error": answer["error"]}
    assert "\n" not in answer["error"]
    assert ("churn@production (its protection asks for it) needs the nbmlops_admin role "
            f"(you are {team.users['approver']})") in answer["error"]
    code, answer = got["admin"]
    assert code == 200, answer
    assert (answer["status"], [v["user"] for v in answer["votes"]]) == (
        "approved", [team.users["admin"]])
    assert team.events() > events
    assert team.owner.get_request(request.id).status == "approved"


def test_a_reader_counts_labels_whose_rows_came_after_them(
        team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A label sent before its worker wrote the row is kept pending; once the row is in
    the log, every read joins it. A reader may not write the join: its performance read
    counts the label anyway (no permission error), and the next writer's read stores it."""
    import time

    import pandas as pd

    from nbmlops._types import NewDeployment
    from nbmlops.serving.predlog import PredictionLog, new_request_id, row_ids
    from nbmlops.store import liveness

    act_as(team, "writer", monkeypatch)
    ws = api.workspace()
    key = os.urandom(16)
    folder = tmp_path / "log"
    folder.mkdir()
    ws.store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="late", model="m", alias=None, version=1, url="http://x",
        workers=1, pid=os.getpid(), process_token=liveness.process_token(), user="t",
        host="h", started_at=time.time(), log_dir=str(folder),
        options={"row_id_key": key.hex()}), actor=Actor(user="t", host="h"))
    log = PredictionLog(folder, flush_s=3600)
    request = new_request_id(key)
    log.add(pd.DataFrame({"x": [0.1, 0.2, 0.3]}), {"prediction": [1, 0, 1]}, version=1,
            request=request)
    ids = row_ids(request, 3)
    sent = nbmlops.log_feedback("late", ids=ids, labels=[1, 1, 1])
    assert (sent.attached, sorted(sent.pending)) == (0, sorted(ids))
    log.flush()  # the worker writes its rows
    api.close()

    act_as(team, "reader", monkeypatch)
    report = nbmlops.performance("late", since="1h", window="1h", min_labels=1)
    assert int(report.windows()["labelled"].sum()) == 3
    assert "pending" not in report.text()
    api.close()
    stored = {lb.row_id: lb.version for lb in team.owner.list_feedback("late")}
    assert stored == {i: 0 for i in ids}  # the reader wrote nothing

    act_as(team, "writer", monkeypatch)
    nbmlops.performance("late", since="1h", window="1h", min_labels=1)
    stored = {lb.row_id: lb.version for lb in team.owner.list_feedback("late")}
    assert stored == {i: 1 for i in ids}
