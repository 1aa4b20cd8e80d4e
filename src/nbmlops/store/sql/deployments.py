"""Deployments: model servers as the store records them, from start to stop or crash.

A running deployment holds its name (``active_name`` is unique), so two servers never
run under one name; one whose process is gone is marked ``crashed`` when next looked at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from nbmlops._types import (
    Actor,
    AuditEvent,
    Deployment,
    DeploymentStatus,
    NewDeployment,
    utc,
)
from nbmlops.errors import DeploymentError
from nbmlops.store import liveness
from nbmlops.store.sql.audit import audit
from nbmlops.store.sql.plumbing import SqlBase, deployments_t


def _already_running(name: str, url: str | None) -> DeploymentError:
    where = f" at {url}" if url else ""
    return DeploymentError(
        f"a deployment named {name!r} is already running{where}; stop it first "
        f"(`%deploy --stop {name}`) or give this one another name (--name)", name=name)


class SqlDeployments(SqlBase):
    """Deployments and their audit events."""

    def start_deployment(self, new: NewDeployment, *, actor: Actor) -> Deployment:
        """Record a server that is starting; a live deployment of the same name is a
        DeploymentError (one whose process died is marked crashed first)."""
        self.reap_deployments(time.time(), name=new.name)

        def work(conn: Connection) -> Deployment:
            live = conn.execute(select(deployments_t.c.url).where(
                deployments_t.c.active_name == new.name)).scalar()
            if live is not None:
                raise _already_running(new.name, live)
            try:
                with conn.begin_nested():
                    conn.execute(insert(deployments_t).values(
                        id=new.id, name=new.name, active_name=new.name, model=new.model,
                        alias=new.alias, version=new.version, url=new.url, status="running",
                        workers=new.workers, pid=new.pid, process_token=new.process_token,
                        host=new.host, user=new.user, started_at=new.started_at,
                        heartbeat_at=new.started_at, token_env=new.token_env,
                        log_dir=new.log_dir, server_log=new.server_log,
                        options=json.dumps(dict(new.options), sort_keys=True)))
            except IntegrityError:  # another process took the name a moment ago
                raise _already_running(new.name, None) from None
            audit(conn, actor, "deploy", new.model, alias=new.alias, version=new.version,
                  to_version=new.version, deployment=new.id,
                  details={"deployment": new.name, "url": new.url, "alias": new.alias})
            return self._deployment(conn, new.id)

        return self._write(work)

    def switch_deployment(self, deployment_id: str, from_version: int, to_version: int, *,
                          actor: Actor) -> bool:
        """Record that a deployment now serves ``to_version``; False if it did not serve
        ``from_version`` any more (another worker of the same server recorded it)."""
        def work(conn: Connection) -> bool:
            row = conn.execute(select(deployments_t.c.name, deployments_t.c.model,
                                      deployments_t.c.alias)
                               .where(deployments_t.c.id == deployment_id)).one_or_none()
            if row is None:
                raise DeploymentError(f"no deployment has id {deployment_id!r}")
            moved = conn.execute(update(deployments_t).where(
                deployments_t.c.id == deployment_id, deployments_t.c.version == from_version)
                .values(version=to_version)).rowcount
            if moved:
                audit(conn, actor, "switch", row.model, alias=row.alias, version=to_version,
                      from_version=from_version, to_version=to_version,
                      deployment=deployment_id,
                      details={"deployment": row.name, "alias": row.alias})
            return bool(moved)

        return self._write(work)

    def record_rollout(self, deployment_id: str, action: str, *, state: Mapping[str, Any],
                       details: Mapping[str, Any], actor: Actor, version: int | None = None,
                       reason: str | None = None) -> AuditEvent:
        """A rollout's decision: its new state kept in the deployment's options (what the
        workers follow) and an audit event with its figures, in one transaction."""
        def work(conn: Connection) -> AuditEvent:
            row = conn.execute(select(deployments_t.c.name, deployments_t.c.model,
                                      deployments_t.c.alias, deployments_t.c.options)
                               .where(deployments_t.c.id == deployment_id)).one_or_none()
            if row is None:
                raise DeploymentError(f"no deployment has id {deployment_id!r}")
            options = json.loads(row.options or "{}")
            options["rollout"] = dict(state)
            conn.execute(update(deployments_t).where(deployments_t.c.id == deployment_id)
                         .values(options=json.dumps(options, sort_keys=True)))
            return audit(conn, actor, action, row.model, alias=row.alias, version=version,
                         reason=reason, deployment=deployment_id,
                         details={"deployment": row.name, **details})

        return self._write(work)

    def end_deployment(self, deployment_id: str, status: DeploymentStatus, *, actor: Actor,
                       error: str | None = None) -> Deployment:
        """A deployment stopped (or failed): it no longer holds its name."""
        def work(conn: Connection) -> Deployment:
            current = self._deployment(conn, deployment_id)
            if current.status == "running":
                conn.execute(update(deployments_t).where(deployments_t.c.id == deployment_id)
                             .values(status=status, active_name=None, stopped_at=time.time(),
                                     error=error))
                audit(conn, actor, "undeploy", current.model, alias=current.alias,
                      version=current.version,
                      deployment=deployment_id,
                      details={"deployment": current.name, "status": status})
            return self._deployment(conn, deployment_id)

        return self._write(work)

    def deployment_heartbeat(self, deployment_id: str, now: float) -> None:
        self._write(lambda c: c.execute(update(deployments_t).where(
            deployments_t.c.id == deployment_id, deployments_t.c.status == "running")
            .values(heartbeat_at=now)))

    def get_deployment(self, name_or_id: str) -> Deployment:
        """The latest deployment by that name (or the one with that id)."""
        self.reap_deployments(time.time())

        def work(conn: Connection) -> Deployment:
            found = conn.execute(select(deployments_t.c.id).where(or_(
                deployments_t.c.id == name_or_id, deployments_t.c.name == name_or_id))
                .order_by(deployments_t.c.started_at.desc()).limit(1)).scalar()
            if found is None:
                raise DeploymentError(
                    f"no deployment is named {name_or_id!r}; list them with `%deploy --list` "
                    "or `nbmlops deploy --list`", name=name_or_id)
            return self._deployment(conn, found)

        return self._read(work)

    def list_deployments(self, *, running: bool = False) -> list[Deployment]:
        """Deployments, newest first (only live ones with ``running``)."""
        self.reap_deployments(time.time())
        stmt = select(deployments_t.c.id).order_by(deployments_t.c.started_at.desc())
        if running:
            stmt = stmt.where(deployments_t.c.status == "running")
        return self._read(lambda c: [self._deployment(c, i) for i in c.execute(stmt).scalars()])

    def reap_deployments(self, now: float, *, name: str | None = None) -> list[str]:
        """Deployments left ``running`` by a process that is gone become ``crashed``."""
        stmt = select(deployments_t.c.id, deployments_t.c.pid, deployments_t.c.process_token,
                      deployments_t.c.heartbeat_at).where(deployments_t.c.status == "running")
        if name is not None:
            stmt = stmt.where(deployments_t.c.name == name)
        dead = []
        for dep_id, pid, token, beat in self._read(lambda c: c.execute(stmt).all()):
            verdict = liveness.owner_is_dead(pid, token)
            if verdict is None:
                verdict = now - (beat or 0.0) > liveness.STALE_AFTER_S
            if verdict:
                dead.append(dep_id)
        for dep_id in dead:
            self.end_deployment(dep_id, "crashed", actor=Actor(user=None, host=None),
                                error="the server process stopped without saying so "
                                      "(killed, or its machine went down)")
        return dead

    def _deployment(self, conn: Connection, deployment_id: str) -> Deployment:
        row = conn.execute(select(deployments_t).where(deployments_t.c.id == deployment_id)
                           ).mappings().one_or_none()
        if row is None:
            raise DeploymentError(f"no deployment has id {deployment_id!r}")
        return Deployment(
            id=row["id"], name=row["name"], model=row["model"], alias=row["alias"],
            version=int(row["version"]), url=row["url"], status=row["status"],
            workers=int(row["workers"]), pid=row["pid"], process_token=row["process_token"],
            host=row["host"], user=row["user"],
            started_at=utc(row["started_at"]),  # type: ignore[arg-type]
            stopped_at=utc(row["stopped_at"]), heartbeat_at=utc(row["heartbeat_at"]),
            token_env=row["token_env"], log_dir=row["log_dir"], server_log=row["server_log"],
            error=row["error"], options=json.loads(row["options"]))
