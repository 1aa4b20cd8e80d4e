"""Protected aliases: protecting one, and approving or rejecting the moves requested.

A protected alias moves only through a request: promoting or rolling it back opens one
(:func:`nbmlops.registry.promote` returns it), and the alias moves when the request has
the approvals its protection asks for, each from someone other than the requester. The
protection's gates are checked on the version when the request is opened and again at
each approval. Who acts is the workspace's actor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from nbmlops import gates
from nbmlops._types import AliasProtection, ApprovalRequest, AuditEvent
from nbmlops.errors import ApprovalError, GateError
from nbmlops.references import check_alias, check_model_name

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

_ROLES = ("reader", "writer", "approver", "admin")


def protect(ws: Workspace, name: str, alias: str, *, approvals: int = 1,
            require: Iterable[str] = (), role: str | None = None) -> AliasProtection:
    """Protect ``name@alias``: it moves only once a request has ``approvals`` approvals
    and the version passes ``require``. ``role``: the role an approver needs (enforced by
    PostgreSQL in team mode, a trigger on the votes; recorded only on SQLite)."""
    check_model_name(name)
    check_alias(alias)
    if isinstance(approvals, bool) or not isinstance(approvals, int) or not 1 <= approvals <= 100:
        raise ValueError(f"approvals {approvals!r}: give a whole number from 1 to 100")
    if role is not None and role not in _ROLES:
        raise ValueError(f"role {role!r}: use one of {', '.join(_ROLES)}")
    parsed = tuple(str(gates.parse(g)) for g in require)
    return ws.store.protect_alias(name, alias, approvals=approvals, require=parsed,
                                  role=role, actor=ws.actor)


def unprotect(ws: Workspace, name: str, alias: str) -> AuditEvent:
    check_model_name(name)
    check_alias(alias)
    return ws.store.unprotect_alias(name, alias, actor=ws.actor)


def protection_gates(ws: Workspace, name: str, alias: str) -> tuple[str, ...]:
    """The gates a move of ``name@alias`` must pass beyond the caller's (none when it is
    not protected)."""
    found = ws.store.get_protection(name, alias)
    return () if found is None else tuple(found.require)


def find_request(ws: Workspace, name: str, alias: str, request: int | None) -> ApprovalRequest:
    """Request ``#request`` of ``name@alias``, or its one open request."""
    check_model_name(name)
    check_alias(alias)
    if request is not None:
        found = ws.store.get_request(request)
        if (found.model, found.alias) != (name, alias):
            raise ApprovalError(f"request #{request} is for {found.model}@{found.alias}, "
                                f"not {name}@{alias}", request=request)
        return found
    ws.store.get_model_version(name)  # a clear error for an unknown model
    open_ = ws.store.list_requests(name, alias=alias, status="open")
    if not open_:
        raise ApprovalError(f"there is no open request for {name}@{alias}: list them with "
                            "`nbmlops models requests`")
    if len(open_) > 1:
        ids = ", ".join(f"#{r.id}" for r in open_)
        raise ApprovalError(f"{len(open_)} requests are open for {name}@{alias} ({ids}): "
                            "name one with --request N (request=N)")
    return open_[0]


def approve(ws: Workspace, name: str, alias: str, *, request: int | None = None,
            reason: str | None = None) -> ApprovalRequest:
    """Approve the open request to move ``name@alias`` (or request ``#request``); the
    alias moves when the request has its approvals. The gates are checked again first."""
    found = find_request(ws, name, alias, request)
    if found.status == "open" and found.requested_by == ws.actor.user:
        raise ApprovalError(f"you ({ws.actor.user}) opened request #{found.id}: someone else "
                            "must approve it", request=found.id)
    required = protection_gates(ws, name, alias)
    metrics, what = _approving(ws, found)
    gates.check(required, metrics, what=what)
    return ws.store.approve_request(found.id, actor=ws.actor, reason=reason, require=required)


def _approving(ws: Workspace, request: ApprovalRequest) -> tuple[Mapping[str, float], str]:
    """The metrics the request's gates are checked on, and what an approval is."""
    version = ws.store.get_model_version(request.model, version=request.version)
    return version.metrics, (f"approving request #{request.id} ({version.reference} to "
                             f"@{request.alias})")


def reject(ws: Workspace, name: str, alias: str, *, request: int | None = None,
           reason: str | None = None) -> ApprovalRequest:
    """Reject the open request to move ``name@alias`` (or request ``#request``): it is
    closed and the alias stays. The requester may reject (withdraw) their own."""
    found = find_request(ws, name, alias, request)
    return ws.store.reject_request(found.id, actor=ws.actor, reason=reason)


def failing_gates(ws: Workspace, request: ApprovalRequest) -> list[str]:
    """The protection's gates the request's version fails now, one line each (what an
    approval would be refused with); empty when it passes them all."""
    required = protection_gates(ws, request.model, request.alias)
    metrics, what = _approving(ws, request)
    failures = []
    for gate in required:
        try:
            gates.check([gate], metrics, what=what)
        except GateError as exc:
            failures.append(str(exc))
    return failures


def requests(ws: Workspace, name: str | None = None, *, alias: str | None = None,
             status: str | None = "open") -> list[ApprovalRequest]:
    if name is not None:
        check_model_name(name)
    if status not in (None, "open", "approved", "rejected"):
        raise ValueError(f"status {status!r}: use open, approved or rejected (or None: all)")
    return ws.store.list_requests(name, alias=alias, status=status)


def protections(ws: Workspace, name: str | None = None) -> list[AliasProtection]:
    return ws.store.list_protections(name)


__all__ = ["approve", "failing_gates", "find_request", "protect", "protection_gates", "protections", "reject",
           "requests", "unprotect"]
