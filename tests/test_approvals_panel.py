"""Approvals through the panel's REST API, as Jupyter's logged-in users: a Jupyter server
whose identity provider names each person (tests/jupyter_users.py, a token per person as
under JupyterHub) on a SQLite store; what the routes record names that person."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.jupyter_users import token_of
from tests.test_registry_store import new_version
from tests.test_server_api import API, get
from tests.test_team import Team, act_as, team  # noqa: F401  (team is a fixture)

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbmlops": True},
                          "identity_provider_class": "tests.jupyter_users.TokenUsers"}}


def as_(person: str) -> dict[str, str]:
    return {"Authorization": f"token {token_of(person)}"}


@pytest.fixture
def protected(store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model ``churn``: v1 (accuracy 0.85), v2 (0.92), v3 (0.95); ``production`` → v1 and
    protected (one approval, accuracy>=0.8, role approver). The server process's own user
    is ``server-os-user``."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api

    monkeypatch.setenv("NBMLOPS_USER", "server-os-user")
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (X["a"] > 0).astype(int)
    for accuracy, C in ((0.85, 1.0), (0.92, 0.5), (0.95, 0.1)):
        with nbmlops.track("churn", f"C={C}") as run:
            model = LogisticRegression(C=C).fit(X, y)
            nbmlops.log_metric("accuracy", accuracy)
            run.log_model(model)
        nbmlops.register(model, name="churn", data=X)
    nbmlops.promote("churn", 1, "production", reason="first")
    api.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.8"],
                      role="approver")
    api.close()


async def post(jp_fetch: Any, route: str, person: str, body: dict[str, Any]) -> Any:
    response = await jp_fetch(*API, "models", "churn", route, method="POST",
                              body=json.dumps(body), headers=as_(person))
    assert response.code == 200, response.body
    return json.loads(response.body)


async def fail(jp_fetch: Any, *path: str, code: int, method: str = "GET",
               body: str | None = None, headers: dict[str, str] | None = None) -> str:
    response = await jp_fetch(*API, *path, method=method, body=body, headers=headers,
                              raise_error=False)
    assert response.code == code, response.body
    answer = json.loads(response.body)
    assert set(answer) == {"error"}
    assert "Traceback" not in answer["error"]
    return str(answer["error"])


async def get_as(jp_fetch: Any, person: str, *path: str) -> Any:
    response = await jp_fetch(*API, *path, headers=as_(person))
    assert response.code == 200, response.body
    return json.loads(response.body)


def production() -> int:
    from nbmlops import api

    api.close()  # read what the server wrote
    return api.model_version("churn@production").version


async def test_a_request_by_one_user_approved_by_another(jp_fetch: Any,
                                                         protected: None) -> None:
    from nbmlops.server import payloads as p
    from nbmlops.server.schema import check

    moved = await post(jp_fetch, "promote", "alice", {"version": 2, "alias": "production",
                                                      "reason": "better recall"})
    assert (moved["changed"], moved["request"], moved["version"]) == (False, 1, 2)
    assert production() == 1  # a request, not a move

    seen = await get(jp_fetch, "models", "churn", "approvals")
    check(p.Approvals, seen, "approvals")
    assert seen["user"] == "server-os-user"  # the shared token: no one in particular
    [guard] = seen["protections"]
    assert (guard["alias"], guard["approvals"], guard["require"], guard["role"]) == (
        "production", 1, ["accuracy>=0.8"], "approver")
    [request] = seen["requests"]
    assert (request["id"], request["status"], request["requested_by"], request["from_version"],
            request["version"], request["reason"], request["votes"], request["approvals"],
            request["approvals_needed"], request["failing_gates"]) == (
        1, "open", "alice", 1, 2, "better recall", [], 0, 1, [])
    response = await jp_fetch(*API, "models", "churn", "approvals", headers=as_("bob"))
    assert json.loads(response.body)["user"] == "bob"

    # the requester cannot approve their own request: a 409 saying so, nothing moves
    message = await fail(jp_fetch, "models", "churn", "approve", code=409, method="POST",
                         body=json.dumps({"alias": "production"}), headers=as_("alice"))
    assert message == "you (alice) opened request #1: someone else must approve it"
    assert production() == 1

    approved = await post(jp_fetch, "approve", "bob", {"alias": "production",
                                                       "reason": "checked the card"})
    assert (approved["status"], approved["approvals"]) == ("approved", 1)
    assert [(v["user"], v["decision"], v["reason"]) for v in approved["votes"]] == [
        ("bob", "approve", "checked the card")]
    assert production() == 2

    # the trail names the people, not the server process's user
    history = await get(jp_fetch, "models", "churn", "history")
    steps = [(e["action"], e["user"]) for e in history["items"]
             if e["alias"] == "production"]
    assert steps[-3:] == [("request", "alice"), ("approve", "bob"), ("promote", "bob")]
    from nbmlops import api

    assert [e.user for e in api.audit_events("churn", user="alice")] == ["alice"]
    after = await get(jp_fetch, "models", "churn", "approvals")
    assert [(r["id"], r["status"], r["failing_gates"]) for r in after["requests"]] == [
        (1, "approved", [])]


async def test_a_failing_gate_is_shown_and_refuses_approval_then_a_reject(
        jp_fetch: Any, protected: None) -> None:
    from nbmlops import api

    await post(jp_fetch, "promote", "alice", {"version": 2, "alias": "production"})
    # the protection tightened after the request opened: version 2 (0.92) fails it now
    api.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.95"])
    api.close()
    [request] = (await get(jp_fetch, "models", "churn", "approvals"))["requests"]
    assert request["failing_gates"] == [
        "gate accuracy>=0.95 failed: accuracy is 0.92; approving request #1 (churn/2 to "
        "@production) refused"]
    message = await fail(jp_fetch, "models", "churn", "approve", code=400, method="POST",
                         body=json.dumps({"alias": "production"}), headers=as_("bob"))
    assert message == request["failing_gates"][0]
    assert production() == 1

    rejected = await post(jp_fetch, "reject", "bob", {"alias": "production",
                                                      "reason": "below the new bar"})
    assert rejected["status"] == "rejected"
    assert [(v["user"], v["decision"]) for v in rejected["votes"]] == [("bob", "reject")]
    assert production() == 1
    seen = await get(jp_fetch, "models", "churn", "approvals")
    assert [(r["id"], r["status"]) for r in seen["requests"]] == [(1, "rejected")]
    events = [(e.action, e.user, e.reason) for e in api.audit_events("churn")]
    assert events[-1] == ("reject", "bob", "below the new bar")
    # nothing open any more: a 409 that says how to find requests
    message = await fail(jp_fetch, "models", "churn", "approve", code=409, method="POST",
                         body=json.dumps({"alias": "production"}), headers=as_("bob"))
    assert message.startswith("there is no open request for churn@production")


@pytest.mark.parametrize(("route", "body", "status", "says"), [
    ("approve", {}, 400, "alias"),
    ("approve", {"alias": "production", "request": 0}, 400,
     "body.request must be a request number from 1"),
    ("approve", {"alias": "production", "request": "1"}, 400, "request"),
    ("reject", {"alias": "bad alias!"}, 400, "alias"),
    ("reject", {"alias": "production", "request": 99}, 409, "no approval request #99"),
    ("approve", {"alias": "production", "extra": 1}, 400, "extra"),
])
async def test_bad_decisions_are_4xx_with_a_message(jp_fetch: Any, protected: None,
                                                    route: str, body: dict[str, Any],
                                                    status: int, says: str) -> None:
    message = await fail(jp_fetch, "models", "churn", route, code=status, method="POST",
                         body=json.dumps(body), headers=as_("bob"))
    assert says in message
    assert "\n" not in message


async def test_unknown_model_and_no_token(jp_fetch: Any, protected: None) -> None:
    message = await fail(jp_fetch, "models", "nope", "approvals", code=404)
    assert "nope" in message
    await fail(jp_fetch, "models", "nope", "approve", code=404, method="POST",
               body=json.dumps({"alias": "production"}), headers=as_("bob"))
    for route, method in (("approvals", "GET"), ("approve", "POST"), ("reject", "POST")):
        for auth in ("", "token mallory-token"):
            response = await jp_fetch(*API, "models", "churn", route, method=method,
                                      body="{}" if method == "POST" else None,
                                      headers={"Authorization": auth}, raise_error=False)
            assert response.code in (401, 403), (route, auth, response.code)
    assert production() == 1


async def test_the_shared_token_records_the_server_process_user(jp_fetch: Any,
                                                                protected: None) -> None:
    """One shared token does not say who is there: jupyter_server makes up an anonymous
    user, and the record names the server process's user (NBMLOPS_USER, else the OS user)."""
    from nbmlops import api

    moved = await jp_fetch(*API, "models", "churn", "promote", method="POST",
                           body=json.dumps({"version": 3, "alias": "staging"}))
    assert moved.code == 200
    api.close()
    [event] = [e for e in api.audit_events("churn") if e.alias == "staging"]
    assert event.user == "server-os-user"


@pytest.mark.postgres
async def test_in_team_mode_the_database_role_is_who_acts(
        team: Team,  # noqa: F811  (the fixture)
        jp_fetch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL in team mode the panel's Jupyter user does not count: what is
    recorded names the role the server's session logged in as."""
    from nbmlops._types import Actor

    nobody = Actor(user=None, host=None)
    for n in (1, 2):
        team.store("requester").create_model_version(new_version(n=n), actor=nobody)
    team.owner.protect_alias("churn", "production", approvals=1, actor=nobody)
    act_as(team, "writer", monkeypatch)
    writer, approver = team.users["writer"], team.users["approver"]

    moved = await post(jp_fetch, "promote", "alice", {"version": 2, "alias": "production"})
    assert (moved["changed"], moved["request"]) == (False, 1)
    seen = await get_as(jp_fetch, "alice", "models", "churn", "approvals")
    assert seen["user"] == writer
    assert seen["requests"][0]["requested_by"] == writer
    # Jupyter's bob on the same database login is the same person to the database
    message = await fail(jp_fetch, "models", "churn", "approve", code=409, method="POST",
                         body=json.dumps({"alias": "production"}), headers=as_("bob"))
    assert message == f"you ({writer}) opened request #1: someone else must approve it"

    act_as(team, "approver", monkeypatch)
    approved = await post(jp_fetch, "approve", "alice", {"alias": "production"})
    assert approved["status"] == "approved"
    assert [v["user"] for v in approved["votes"]] == [approver]
    steps = [(e.action, e.user) for e in team.owner.audit_events("churn")][-3:]
    assert steps == [("request", writer), ("approve", approver), ("promote", approver)]
    assert "alice" not in {e.user for e in team.owner.audit_events()}


def test_act_for_holds_in_its_own_context_only(protected: None) -> None:
    """``api.act_for`` names who acts in one context (a request being answered), not in the
    whole process: the same thread outside it still acts as the process's user."""
    import contextvars

    from nbmlops import api

    def as_carol() -> str | None:
        api.act_for("carol")
        api.promote("churn", 2, "staging", reason="from carol's request")
        return api.whoami()

    assert contextvars.copy_context().run(as_carol) == "carol"
    assert api.whoami() == "server-os-user"
    api.promote("churn", 3, "staging")
    moves = [(e.to_version, e.user) for e in api.audit_events("churn") if e.alias == "staging"]
    assert moves == [(2, "carol"), (3, "server-os-user")]
