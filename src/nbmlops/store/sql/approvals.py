"""Protected aliases and their approval requests.

A protected alias never moves directly: :meth:`SqlApprovals._guard` (asked by every move
in :mod:`~nbmlops.store.sql.registry`, inside the move's transaction) opens a request
instead. A request moves the alias once it has the approvals its protection asks for (as the
protection is at approval time), each from someone other than the requester; it is refused when the alias moved since it
was opened. Every step (protect, unprotect, request, approve, reject, the move) is an
audit event in the same transaction as the change.

This is a workflow, recorded: who may protect, approve or reject is not checked here.
In team mode PostgreSQL enforces it (grants, policies, and a trigger checking the voter
holds the protection's ``role``, :mod:`nbmlops.store.sql.team`); elsewhere ``role`` is
recorded only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from nbmlops._types import (
    Actor,
    AliasProtection,
    ApprovalRequest,
    ApprovalVote,
    AuditEvent,
    utc,
)
from nbmlops.errors import ApprovalError, ModelNotFoundError, PermissionDeniedError
from nbmlops.store.sql.audit import audit
from nbmlops.store.sql.engine import at_least
from nbmlops.store.sql.plumbing import models_t, protections_t, requests_t, votes_t
from nbmlops.store.sql.registry import SqlRegistry

T = TypeVar("T")


def _protection(row: Any, model: str) -> AliasProtection:
    return AliasProtection(
        model=model, alias=row["alias"], approvals=int(row["approvals"]),
        require=tuple(json.loads(row["gates"])), role=row["role"],
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"])


class SqlApprovals(SqlRegistry):
    """Alias protections and approval requests, over the registry's moves."""

    def _write_as(self, role: str, what: str, fn: Callable[[Connection], T]) -> T:
        """A write that needs ``role`` in team mode (refusals name it)."""
        try:
            return self._write(fn)
        except PermissionDeniedError as exc:
            raise at_least(exc, role, what) from exc

    # -- protections -----------------------------------------------------------------
    def protect_alias(self, model: str, alias: str, *, approvals: int,
                      require: Sequence[str] = (), role: str | None = None, actor: Actor
                      ) -> AliasProtection:
        def work(conn: Connection) -> AliasProtection:
            model_id = self._require_model(conn, model, lock=True)
            values = {"approvals": approvals, "gates": json.dumps(list(require)),
                      "role": role, "created_at": time.time(), "created_by": actor.user}
            stmt = self._ins(protections_t).values(model_id=model_id, alias=alias, **values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["model_id", "alias"], set_=values))
            audit(conn, actor, "protect", model, alias=alias,
                  details={"approvals": approvals, "require": list(require), "role": role})
            return self._protection_of(conn, model_id, model, alias)  # type: ignore[return-value]

        return self._write_as("admin", "protecting an alias", work)

    def unprotect_alias(self, model: str, alias: str, *, actor: Actor) -> AuditEvent:
        def work(conn: Connection) -> AuditEvent:
            model_id = self._require_model(conn, model, lock=True)
            gone = conn.execute(delete(protections_t).where(
                protections_t.c.model_id == model_id, protections_t.c.alias == alias))
            if not gone.rowcount:
                raise ModelNotFoundError(f"{model}@{alias}", reason="is not protected")
            return audit(conn, actor, "unprotect", model, alias=alias)

        return self._write_as("admin", "unprotecting an alias", work)

    def get_protection(self, model: str, alias: str) -> AliasProtection | None:
        def work(conn: Connection) -> AliasProtection | None:
            model_id = self._model_id(conn, model)
            return None if model_id is None else self._protection_of(conn, model_id, model,
                                                                     alias)

        return self._read(work)

    def list_protections(self, model: str | None = None) -> list[AliasProtection]:
        stmt = (select(protections_t, models_t.c.name)
                .join(models_t, models_t.c.id == protections_t.c.model_id)
                .order_by(models_t.c.name, protections_t.c.alias))
        if model is not None:
            stmt = stmt.where(models_t.c.name == model)
        return self._read(lambda c: [_protection(r, r["name"])
                                     for r in c.execute(stmt).mappings()])

    def _protection_of(self, conn: Connection, model_id: int, model: str, alias: str
                       ) -> AliasProtection | None:
        row = conn.execute(select(protections_t).where(
            protections_t.c.model_id == model_id, protections_t.c.alias == alias)
        ).mappings().first()
        return None if row is None else _protection(row, model)

    def _guard(self, conn: Connection, model_id: int, model: str, alias: str, *,
               action: str, version: int, current: int | None, actor: Actor,
               reason: str | None) -> ApprovalRequest | None:
        protection = self._protection_of(conn, model_id, model, alias)
        if protection is None:
            return None
        request_id = conn.execute(requests_t.insert().values(
            model_id=model_id, alias=alias, action=action, version=version,
            from_version=current, status="open", approvals_needed=protection.approvals,
            requested_by=actor.user, requested_at=time.time(), reason=reason,
        ).returning(requests_t.c.id)).scalar_one()
        audit(conn, actor, "request", model, alias=alias, version=version,
              from_version=current, to_version=version, reason=reason,
              details={"request": int(request_id), "action": action,
                       "approvals_needed": protection.approvals})
        return self._request(conn, int(request_id))

    # -- requests --------------------------------------------------------------------
    def _request(self, conn: Connection, request_id: int, *, lock: bool = False
                 ) -> ApprovalRequest:
        stmt = (select(requests_t, models_t.c.name)
                .join(models_t, models_t.c.id == requests_t.c.model_id)
                .where(requests_t.c.id == request_id))
        row = conn.execute(stmt.with_for_update(of=requests_t) if lock else stmt
                           ).mappings().first()
        if row is None:
            raise ApprovalError(f"there is no approval request #{request_id}: list them with "
                                "`nbmlops models requests`", request=request_id)
        votes = tuple(_vote_record(v) for v in conn.execute(
            select(votes_t).where(votes_t.c.request_id == request_id)
            .order_by(votes_t.c.time)).mappings())
        return _request_record(row, votes)

    def get_request(self, request_id: int) -> ApprovalRequest:
        return self._read(lambda c: self._request(c, request_id))

    def list_requests(self, model: str | None = None, *, alias: str | None = None,
                      status: str | None = "open") -> list[ApprovalRequest]:
        def work(conn: Connection) -> list[ApprovalRequest]:
            stmt = select(requests_t.c.id).join(
                models_t, models_t.c.id == requests_t.c.model_id).order_by(requests_t.c.id)
            if model is not None:
                stmt = stmt.where(models_t.c.name == model)
            if alias is not None:
                stmt = stmt.where(requests_t.c.alias == alias)
            if status is not None:
                stmt = stmt.where(requests_t.c.status == status)
            return [self._request(conn, int(i)) for i in conn.execute(stmt).scalars()]

        return self._read(work)

    def _open_request(self, conn: Connection, request_id: int, actor: Actor, verb: str
                      ) -> ApprovalRequest:
        request = self._request(conn, request_id, lock=True)
        if request.status != "open":
            raise ApprovalError(f"request #{request_id} was already {request.status}: "
                                "nothing to " + verb, request=request_id)
        if any(v.user == actor.user for v in request.votes):
            raise ApprovalError(f"you ({actor.user}) already voted on request #{request_id}",
                                request=request_id)
        return request

    def _vote(self, conn: Connection, request: ApprovalRequest, actor: Actor, decision: str,
              reason: str | None) -> None:
        conn.execute(votes_t.insert().values(request_id=request.id, user=actor.user or "?",
                                             decision=decision, time=time.time(),
                                             reason=reason))

    def approve_request(self, request_id: int, *, actor: Actor, reason: str | None = None,
                        require: Sequence[str] = ()) -> ApprovalRequest:
        """Record ``actor``'s approval; move the alias when enough approvals are in.

        ``require``: the gates the caller checked on the version, which must still be the
        protection's (else the protection changed meanwhile, and nothing is written)."""
        def work(conn: Connection) -> ApprovalRequest:
            request = self._open_request(conn, request_id, actor, "approve")
            if actor.user is not None and actor.user == request.requested_by:
                raise ApprovalError(
                    f"you ({actor.user}) opened request #{request_id}: someone else must "
                    "approve it", request=request_id)
            model_id = self._require_model(conn, request.model, lock=True)
            protection = self._protection_of(conn, model_id, request.model, request.alias)
            gates = protection.require if protection is not None else ()
            if tuple(gates) != tuple(require):
                raise ApprovalError(
                    f"the protection of {request.model}@{request.alias} changed while "
                    f"request #{request_id} was being approved: approve again",
                    request=request_id)
            self._check_not_stale(conn, model_id, request)
            # the protection as it is now (it may have been raised since the request)
            needed = protection.approvals if protection is not None else \
                request.approvals_needed
            self._vote(conn, request, actor, "approve", reason)
            approvals = request.approvals + 1
            audit(conn, actor, "approve", request.model, alias=request.alias,
                  version=request.version, reason=reason,
                  details={"request": request_id, "approvals": approvals,
                           "approvals_needed": needed})
            changes: dict[str, Any] = {"approvals_needed": needed}
            if approvals >= needed:
                self._move_alias(conn, model_id, request.model, request.alias,
                                 request.version, actor=actor, reason=request.reason,
                                 action=request.action,
                                 details={"request": request_id,
                                          "requested_by": request.requested_by})
                changes.update(status="approved", closed_at=time.time())
            conn.execute(update(requests_t).where(requests_t.c.id == request_id)
                         .values(**changes))
            return self._request(conn, request_id)

        return self._write_as("approver", "approving a request", work)

    def reject_request(self, request_id: int, *, actor: Actor, reason: str | None = None
                       ) -> ApprovalRequest:
        def work(conn: Connection) -> ApprovalRequest:
            request = self._open_request(conn, request_id, actor, "reject")
            self._vote(conn, request, actor, "reject", reason)
            audit(conn, actor, "reject", request.model, alias=request.alias,
                  version=request.version, reason=reason, details={"request": request_id})
            conn.execute(update(requests_t).where(requests_t.c.id == request_id).values(
                status="rejected", closed_at=time.time()))
            return self._request(conn, request_id)

        return self._write_as("approver", "rejecting a request", work)

    def _check_not_stale(self, conn: Connection, model_id: int, request: ApprovalRequest
                         ) -> None:
        """The move the request asked for is still the move it would make now."""
        current = self._alias_version(conn, model_id, request.alias)
        if request.action == "rollback":
            try:
                now = self._rollback_target(conn, request.model, request.alias)
            except ModelNotFoundError:
                now = (current, None)  # type: ignore[assignment]
            fresh = now == (request.from_version, request.version)
        else:
            fresh = current == request.from_version
        if not fresh:
            shown = f"version {current}" if current is not None else "nothing"
            raise ApprovalError(
                f"{request.model}@{request.alias} moved since request #{request.id} was "
                f"opened (it now points at {shown}): reject it and open a new one",
                request=request.id)


def _vote_record(row: Any) -> ApprovalVote:
    return ApprovalVote(user=row["user"], decision=row["decision"],
                        time=utc(row["time"]), reason=row["reason"])  # type: ignore[arg-type]


def _request_record(row: Any, votes: tuple[ApprovalVote, ...]) -> ApprovalRequest:
    return ApprovalRequest(
        id=int(row["id"]), model=row["name"], alias=row["alias"], action=row["action"],
        version=int(row["version"]), from_version=row["from_version"], status=row["status"],
        approvals_needed=int(row["approvals_needed"]), requested_by=row["requested_by"],
        requested_at=utc(row["requested_at"]),  # type: ignore[arg-type]
        reason=row["reason"], votes=votes, closed_at=utc(row["closed_at"]))


__all__ = ["SqlApprovals"]
