"""Engines and transactions: the one place that talks to the database driver.

SQLite is tuned for several kernels and jobs writing one file at once: WAL journal,
``synchronous=NORMAL`` (durable across process crashes; a power cut may lose the last
commit), a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction that writes, so a
read-then-write never fails half-way with "database is locked". On top of that every
transaction is retried a bounded number of times with jittered back-off on lock and
serialization errors. Driver errors leave this module as :class:`StoreError`.

Engines are made with ``hide_parameters=True``: a failing statement's values (a run's
whole source code, a user's params) never appear in an error message or in the
SQLAlchemy error chained under it; the StoreError names the statement's kind and table
and the driver's reason.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from nbmlops.config import sqlite_path
from nbmlops.errors import PermissionDeniedError, StoreError

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
MAX_ATTEMPTS = 8
_BEGIN_OPTION = "nbmlops_begin"
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with nbmlops' connection settings."""
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        # no pre-ping round trip per transaction: stale connections are recycled, and a
        # connection that dropped anyway is retried once (see _retryable)
        return create_engine(url, pool_recycle=1800, pool_size=5, max_overflow=5,
                             hide_parameters=True)
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".")[0]
        if module == "psycopg":
            from nbmlops.errors import MissingExtraError

            raise MissingExtraError(f"the PostgreSQL store at {redact(url)}", extra="postgres",
                                    module=module) from exc
        raise StoreError(f"the store at {redact(url)} needs the database driver {module!r}, "
                         f"which is not installed: pip install {module}", url=redact(url)
                         ) from exc
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreError(
            f"cannot use store URL {redact(url)!r}: {exc}. Set NBMLOPS_STORE (or [tool.nbmlops] "
            "store) to a path, a sqlite:///path/lineage.db URL or a "
            "postgresql+psycopg://user@host/db URL", url=redact(url)) from exc


def _sqlite_engine(url: str) -> Engine:
    memory = ":memory:" in url or url.rstrip("/") in {"sqlite:", "sqlite:/"}
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the store {path}: {exc}; set "
                             "NBMLOPS_STORE to a writable location", url=url) from exc
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=StaticPool if memory else None,
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN (so we choose IMMEDIATE for writes
        # and DDL stays inside the transaction).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def redact(url: str) -> str:
    """The URL with any password hidden, for messages and `db info`."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


def _retryable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text or "busy" in text:
        return True
    return getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


_STATEMENT = re.compile(
    r"\s*(insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from|create\s+(?:unique\s+)?\w+"
    r"(?:\s+if\s+not\s+exists)?|drop\s+\w+(?:\s+if\s+exists)?|alter\s+table)\s+[\"`]?(\w+)",
    re.IGNORECASE)
_FROM = re.compile(r"\bfrom\s+[\"`]?(\w+)", re.IGNORECASE)
_READ_ONLY_SIGNS = ("unable to open database file", "readonly database",
                    "read-only file system", "disk i/o error")


def statement_kind(statement: str | None) -> str | None:
    """``INSERT INTO runs``, ``UPDATE params``, ``SELECT FROM runs``: what a statement
    did, without its values."""
    if not statement:
        return None
    found = _STATEMENT.match(statement)
    if found:
        return f"{' '.join(found.group(1).upper().split())} {found.group(2)}"
    head = statement.lstrip().split(None, 1)
    verb = head[0].upper() if head else ""
    table = _FROM.search(statement)
    if verb in ("SELECT", "WITH") and table:
        return f"SELECT FROM {table.group(1)}"
    return verb or None


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's reason, on one line, without the statement or its parameters."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc).split("\n[SQL:", 1)[0]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _read_only_folder(url: str, reason: str) -> Path | None:
    """The SQLite store's folder if a write failed because it (or the file) is read-only."""
    path = sqlite_path(url)
    if path is None or not any(sign in reason.lower() for sign in _READ_ONLY_SIGNS):
        return None
    folder = path.parent
    if not folder.is_dir():
        return None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)) \
            or _read_only_mount(folder):
        return folder
    return None


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# (what the statement touched, the role that may do it, what it is), most specific first
_NEEDS: tuple[tuple[re.Pattern[str], str | None, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), role, what) for pattern, role, what in (
        (r"append-only|table audit_events", None, "changing the audit trail"),
        (r"security policy for table \W?approval_votes", "approver",
         "approving a request (not one's own)"),
        (r"security policy for table \W?model_aliases", "approver",
         "moving a protected alias (it needs an approved request: `nbmlops models approve`)"),
        (r"table alias_protections", "admin", "protecting or unprotecting an alias"),
        (r"table approval_votes|table approval_requests|security policy for table "
         r"\W?approval_requests", "approver", "approving or rejecting a request"),
        (r"role|function nbmlops_audit_team", "admin", "managing the team"),
        (r"permission denied for (table|sequence)", "writer", "writing to the store"),
        (r"permission denied for schema", "reader", "reading the store"),
    ))


_ASKED = re.compile(r"the protection of (?P<alias>\S+) asks for the "
                    r"nbmlops_(?P<role>reader|writer|approver|admin) role")


def _permission_error(exc: SQLAlchemyError, url: str, reason: str) -> StoreError:
    """PostgreSQL's insufficient_privilege, said as the role the action needs."""
    from sqlalchemy.engine import make_url


    statement = getattr(exc, "statement", None) or ""
    kind = statement_kind(statement) or ""
    locking = re.search(r"\bfor\s+(update|share)\b", statement, re.IGNORECASE)
    try:
        user = make_url(url).username
    except Exception:
        user = None
    asked = _ASKED.search(reason)
    if asked:  # a protection's own role (the vote trigger, store/sql/team.py)
        return permission_denied(url, asked["role"], "approving or rejecting a request for "
                                 f"{asked['alias']} (its protection asks for it)", user)
    role: str | None = "writer"
    what = "this"
    for pattern, needed, described in _NEEDS:
        if pattern.search(reason):
            role, what = needed, described
            break
    if kind.startswith("SELECT") and role == "writer" and not locking:
        role, what = "reader", "reading the store"
    return permission_denied(url, role, what, user)


_RANKS = ("nbmlops_reader", "nbmlops_writer", "nbmlops_approver", "nbmlops_admin")


def permission_denied(url: str, role: str | None, what: str, user: str | None
                      ) -> PermissionDeniedError:
    """The one-line refusal: ``what`` needs ``role`` (None: the database owner)."""
    from nbmlops.errors import PermissionDeniedError

    who = f" (you are {user})" if user else ""
    if role is None:
        return PermissionDeniedError(
            f"permission denied: {what} is for the database owner only{who}; the trail is "
            "append-only", url=redact(url), role=None, user=user)
    return PermissionDeniedError(
        f"permission denied: {what} needs the nbmlops_{role} role{who}; an admin grants it "
        f"with `nbmlops team add NAME --role {role}`; nothing was written",
        url=redact(url), role=f"nbmlops_{role}", user=user)


def at_least(exc: PermissionDeniedError, role: str, what: str) -> PermissionDeniedError:
    """``exc`` said as the action's own role when the statement refused needed less (a
    reader approving is refused at the first row it locks, which a writer could lock)."""
    if exc.role is None or _RANKS.index(exc.role) >= _RANKS.index(f"nbmlops_{role}"):
        return exc
    return permission_denied(exc.url or "", role, what, exc.user)


def _store_error(exc: SQLAlchemyError, url: str) -> StoreError:
    reason = _reason(exc)
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501":
        return _permission_error(exc, url, reason)
    folder = _read_only_folder(url, reason)
    if folder is not None:
        return StoreError(
            f"the lineage store at {redact(url)} cannot be used: its folder {folder} is "
            f"read-only (sqlite: {reason}); make the folder writable, or set NBMLOPS_STORE "
            "to a .db file in a writable folder", url=redact(url))
    kind = statement_kind(getattr(exc, "statement", None))
    during = f" during {kind}" if kind else ""
    return StoreError(f"the lineage store at {redact(url)} failed{during}: {reason}; nothing "
                      "from this operation was written", url=redact(url))


def run_in_transaction(
    engine: Engine, fn: Callable[[Connection], T], *, write: bool, url: str
) -> T:
    """Run ``fn(conn)`` in one transaction; commit, or roll back and retry/raise.

    ``fn`` may run more than once (after a lock timeout or serialization failure), so it
    must not have side effects outside the connection.
    """
    delay = 0.02
    # SQLite already waits up to BUSY_TIMEOUT_MS for a lock inside each attempt; retries
    # add jittered attempts for errors that come back sooner, within one deadline overall
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with engine.connect() as conn:
                if write and engine.dialect.name == "sqlite":
                    conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    return fn(conn)
        except (OperationalError, DBAPIError) as exc:
            if attempt < MAX_ATTEMPTS and _retryable(exc) and time.monotonic() < deadline:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            raise _store_error(exc, url) from exc
        except SQLAlchemyError as exc:
            raise _store_error(exc, url) from exc
    raise AssertionError("unreachable")  # pragma: no cover
