"""Schema revisions: check on open, create a fresh store, upgrade an older one.

* a fresh (empty) database is created from the live models and stamped at ``HEAD``;
* an older revision is upgraded through Alembic, under a lock, after re-checking the
  revision inside that lock (so two processes opening an old store migrate it once); a
  SQLite file is first copied to ``<name>.pre-<revision>.bak``;
* a revision this version does not know (a newer nbmlops wrote it) is refused.
"""

from __future__ import annotations

import sqlite3
import sys
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from nbmlops.config import sqlite_path
from nbmlops.errors import SchemaVersionError
from nbmlops.store.sql.engine import redact, run_in_transaction
from nbmlops.store.sql.models import metadata

# Every revision in order, oldest first. A test checks this against Alembic's own history.
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008",
                              "0009", "0010", "0012", "0013")
HEAD = REVISIONS[-1]
VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x6E626D6C  # "nbml": serialises schema changes between processes


class SchemaState:
    EMPTY = "empty"
    CURRENT = "current"
    OLDER = "older"
    UNKNOWN = "unknown"


def read_revision(conn: Connection) -> tuple[str, str | None]:
    """(state, revision) of the database behind ``conn``."""
    names = set(inspect(conn).get_table_names())
    if VERSION_TABLE not in names:
        if not names:
            return SchemaState.EMPTY, None
        return SchemaState.UNKNOWN, None
    revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    if revision == HEAD:
        return SchemaState.CURRENT, revision
    if revision in REVISIONS:
        return SchemaState.OLDER, revision
    return SchemaState.UNKNOWN, revision


def _lock(conn: Connection) -> None:
    """Serialise schema work: SQLite already holds its write lock (BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def ensure_schema(engine: Engine, url: str, *, auto_upgrade: bool, create: bool = True
                  ) -> tuple[str | None, str | None]:
    """Make the store usable at ``HEAD`` or raise; return (revision found, revision now).

    An empty database is created at ``HEAD``, or left alone (revision now None) when
    ``create`` is false.
    """
    state, revision = run_in_transaction(engine, read_revision, write=False, url=url)
    if state == SchemaState.CURRENT:
        return HEAD, HEAD
    if state == SchemaState.EMPTY:
        if not create:
            return None, None
        return None, run_in_transaction(engine, _create_fresh, write=True, url=url)
    if state == SchemaState.OLDER:
        if not auto_upgrade:
            raise SchemaVersionError(
                f"the lineage store at {redact(url)} has schema revision {revision}; this "
                f"nbmlops needs {HEAD}. Run `nbmlops db upgrade` (it keeps a backup of a "
                "SQLite file), or set auto_upgrade = true under [tool.nbmlops]",
                url=redact(url), found=revision, expected=HEAD,
            )
        return revision, upgrade(engine, url)
    raise _unknown(url, revision)


def _unknown(url: str, revision: str | None) -> SchemaVersionError:
    if revision is None:
        what = "holds tables but no nbmlops schema revision: it is not an nbmlops store"
        todo = "point NBMLOPS_STORE at another database, or at an empty one"
    else:
        what = f"has schema revision {revision!r}, which this nbmlops does not know"
        todo = ("it was probably written by a newer nbmlops: upgrade with "
                "`pip install -U nbmlops`, or point NBMLOPS_STORE at another store")
    return SchemaVersionError(f"the lineage store at {redact(url)} {what}; {todo}",
                              url=redact(url), found=revision, expected=HEAD)


def _create_fresh(conn: Connection) -> str:
    _lock(conn)
    state, revision = read_revision(conn)  # another process may have won the race
    if state == SchemaState.CURRENT:
        return HEAD
    if state != SchemaState.EMPTY:
        raise SchemaVersionError("the store changed while it was being created; open it again",
                                 found=revision, expected=HEAD)
    metadata.create_all(conn)
    conn.execute(text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                      f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"))
    conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": HEAD})
    return HEAD


def migrations_location() -> str:
    return str(resources.files("nbmlops.store.sql") / "migrations")


def upgrade(engine: Engine, url: str) -> str:
    """Bring an older store up to ``HEAD`` (a no-op when it is already there)."""
    from alembic import command
    from alembic.config import Config

    def _upgrade(conn: Connection) -> tuple[str | None, Path | None]:
        # may run more than once (retried on lock errors): everything it does is either
        # inside the transaction or idempotent (the backup file)
        _lock(conn)
        state, revision = read_revision(conn)
        if state == SchemaState.CURRENT:
            return None, None  # someone else upgraded it while we waited for the lock
        if state == SchemaState.UNKNOWN:
            raise _unknown(url, revision)
        backup = _backup_sqlite(url, revision)
        cfg = Config()
        cfg.set_main_option("script_location", migrations_location())
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        return revision, backup

    state, _ = run_in_transaction(engine, read_revision, write=False, url=url)
    if state == SchemaState.EMPTY:
        return run_in_transaction(engine, _create_fresh, write=True, url=url)
    migrated_from, backup = run_in_transaction(engine, _upgrade, write=True, url=url)
    if migrated_from is not None:
        where = f" (backup: {backup})" if backup else ""
        print(f"nbmlops: upgraded the lineage store schema {migrated_from} -> {HEAD}{where}",
              file=sys.stderr)
    return HEAD


def _backup_sqlite(url: str, revision: str | None) -> Path | None:
    """Copy a SQLite store aside before migrating it (readers never block in WAL mode).

    One backup per revision: a retried or repeated attempt (the migration is one
    transaction, so a failed one changed nothing) keeps the copy it already made.
    """
    path = sqlite_path(url)
    if path is None or not path.exists():
        return None
    target = path.with_name(f"{path.name}.pre-{revision}.bak")
    if target.exists():
        return target
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target
