"""Team mode: the people who share a PostgreSQL store, and what each may do.

``init`` (the database owner, once) makes PostgreSQL itself enforce who may do what
(:mod:`nbmlops.store.sql.team` has the roles, grants, policies and triggers): a
``reader`` lists and loads; a ``writer`` tracks, tunes, registers, moves unprotected
aliases and opens approval requests; an ``approver`` approves and rejects; an ``admin``
protects aliases and manages the team. Each role holds the ones before it. A forbidden
action raises :class:`~nbmlops.errors.PermissionDeniedError` naming the role it needs.

On SQLite there is no team mode: the workflow is recorded, but whoever can write the file
can do anything.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nbmlops._types import TeamMember

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

ROLES = ("reader", "writer", "approver", "admin")


def init(ws: Workspace) -> list[str]:
    """Install team mode in the store (idempotent); the group roles made."""
    return ws.store.team_init()


def add(ws: Workspace, name: str, role: str = "writer", *,
        password_env: str | None = None) -> TeamMember:
    """A login role ``name`` in group ``role``; its password from the environment
    variable ``password_env`` (never from an argument, never logged)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise ValueError(f"password-env {password_env}: that environment variable is not "
                             "set (or empty); export it first, or leave the option out for a "
                             "role that logs in without a password")
    return ws.store.team_add(name, role, password=password)


def remove(ws: Workspace, name: str) -> TeamMember:
    gone = ws.store.team_remove(name)
    if gone is None:
        raise ValueError(f"{name} is not a member of the team: see `nbmlops team list`")
    return gone


def members(ws: Workspace) -> list[TeamMember]:
    return ws.store.team_members()


def identity(ws: Workspace) -> str | None:
    """Who the database says this session is (team mode), else None."""
    return ws.store.team_identity()


__all__ = ["ROLES", "add", "identity", "init", "members", "remove"]
