"""What ``%register`` and ``nbmlops models`` / ``nbmlops audit`` say about alias moves,
protections, approval requests and the audit trail, alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops._types import AliasProtection, ApprovalRequest, AuditEvent, AuditVerification

if TYPE_CHECKING:
    import pandas as pd


def _needs(request: ApprovalRequest) -> str:
    more = " more" if request.approvals else ""
    return f"needs {request.missing}{more} approval{'s' if request.missing != 1 else ''}"


def _points(version: int | None) -> str:
    return f"version {version}" if version is not None else "nothing"


def opened_line(request: ApprovalRequest) -> str:
    """``request #3 opened: needs 1 approval to move churn@production to version 2``."""
    verb = "roll back" if request.action == "rollback" else "move"
    return (f"request #{request.id} opened: {_needs(request)} to {verb} "
            f"{request.model}@{request.alias} to version {request.version}")


def promote_line(name: str, alias: str, version: int,
                 result: AuditEvent | ApprovalRequest | None) -> str:
    if result is None:
        return f"{name}@{alias} already points at version {version}"
    if isinstance(result, ApprovalRequest):
        return opened_line(result)
    return f"{name}@{alias}: {_points(result.from_version)} -> version {result.to_version}"


def rollback_line(reference: str, result: AuditEvent | ApprovalRequest) -> str:
    if isinstance(result, ApprovalRequest):
        return opened_line(result)
    return f"{reference}: version {result.from_version} -> {result.to_version} (rolled back)"


def decision_line(request: ApprovalRequest) -> str:
    """What an approval or a rejection came to."""
    target = f"{request.model}@{request.alias}"
    last = request.votes[-1] if request.votes else None
    who = f" by {last.user}" if last is not None else ""
    if request.status == "approved":
        return f"request #{request.id} approved{who}: {target} -> version {request.version}"
    if request.status == "rejected":
        return (f"request #{request.id} rejected{who}: {target} stays at "
                f"{_points(request.from_version)}")
    return (f"request #{request.id} approved{who} ({request.approvals} of "
            f"{request.approvals_needed}): {_needs(request)}; {target} has not moved")


def protection_line(found: AliasProtection) -> str:
    gates = f", requires {' and '.join(found.require)}" if found.require else ""
    role = f", approver role {found.role} (enforced by PostgreSQL in team mode; recorded " \
        "only on SQLite)" if found.role else ""
    n = found.approvals
    return (f"{found.model}@{found.alias} is protected: moves need {n} approval"
            f"{'s' if n != 1 else ''} by someone other than the requester{gates}{role}")


def requests_table(requests: list[ApprovalRequest]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([{
        "request": r.id, "status": r.status, "model": r.model, "alias": r.alias,
        "action": r.action, "from_version": r.from_version, "version": r.version,
        "approvals": f"{r.approvals}/{r.approvals_needed}", "requested_by": r.requested_by,
        "requested_at": r.requested_at, "reason": r.reason} for r in requests],
        columns=["request", "status", "model", "alias", "action", "from_version", "version",
                 "approvals", "requested_by", "requested_at", "reason"]).astype(
        {"from_version": "Int64"})


def audit_table(events: list[AuditEvent]) -> pd.DataFrame:
    import pandas as pd

    def target(e: AuditEvent) -> str:
        return e.model + (f"@{e.alias}" if e.alias else "") + (
            f"/{e.version}" if e.version is not None and not e.alias else "")

    return pd.DataFrame([{
        "id": e.id, "time": e.time, "user": e.user, "action": e.action, "target": target(e),
        "from_version": e.from_version, "to_version": e.to_version,
        "request": e.details.get("request"), "reason": e.reason,
        "hash": (e.hash or "")[:12]} for e in events],
        columns=["id", "time", "user", "action", "target", "from_version", "to_version",
                 "request", "reason", "hash"]).astype(
        {"from_version": "Int64", "to_version": "Int64", "request": "Int64"})


def verification_line(found: AuditVerification) -> str:
    if found.ok:
        head = f"; head {found.head}" if found.head else ""
        return f"audit trail ok: {found.events} events, chain intact{head}"
    return f"audit trail TAMPERED: {found.problem}"


__all__ = ["audit_table", "decision_line", "opened_line", "promote_line",
           "protection_line", "requests_table", "rollback_line", "verification_line"]
