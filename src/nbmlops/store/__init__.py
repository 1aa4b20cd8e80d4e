"""The lineage store: the only package that speaks SQL.

``open_store(url)`` opens (and, for a new database, creates) a store, checks its schema
revision, and marks runs left ``running`` by dead processes as ``crashed``.
"""

from __future__ import annotations

import time

from nbmlops.store.base import (
    ApprovalStore,
    AuditStore,
    DeploymentStore,
    DriftCheckStore,
    FeedbackStore,
    JobRunStore,
    JournalStore,
    MonitorCheckStore,
    RegistryStore,
    RunSearch,
    RunStore,
    Store,
    TeamStore,
)

__all__ = ["ApprovalStore", "AuditStore", "DeploymentStore", "DriftCheckStore", "FeedbackStore",
           "JobRunStore", "JournalStore", "MonitorCheckStore", "RegistryStore", "RunSearch",
           "RunStore", "Store", "TeamStore", "open_store", "upgrade_store"]


def open_store(url: str, *, create: bool = True, auto_upgrade: bool = True,
               reap: bool = True) -> Store:
    """Open the lineage store at ``url`` (a SQLAlchemy URL).

    A new database is created at the current schema (with ``create=False``, a missing or
    empty one is a StoreError instead). An older schema is upgraded when ``auto_upgrade``
    is true (a SQLite file is backed up first) and refused otherwise with a
    :class:`~nbmlops.errors.SchemaVersionError` saying what to do.
    """
    from nbmlops.config import sqlite_path
    from nbmlops.errors import NoStoreError, PermissionDeniedError
    from nbmlops.store.sql.engine import make_engine, redact
    from nbmlops.store.sql.schema import ensure_schema
    from nbmlops.store.sql.store import SqlStore

    missing = NoStoreError(f"there is no lineage store at {redact(url)} yet: track a run first "
                         "(%%track, or with nbmlops.track()), or point NBMLOPS_STORE at an "
                         "existing store", url=redact(url))
    path = sqlite_path(url)
    if not create and path is not None and not path.exists():
        raise missing
    engine = make_engine(url)
    try:
        before, revision = ensure_schema(engine, url, auto_upgrade=auto_upgrade,
                                         create=create)
        if revision is None:
            raise missing
        store = SqlStore(engine, url, revision)
        if before is not None and before != revision:
            store.backfill_summaries()  # the named step after an upgrade
        if reap:
            try:
                store.reap_orphans(time.time())
            except PermissionDeniedError:  # a reader (team mode): a writer will mark them
                pass
    except BaseException:
        engine.dispose()
        raise
    return store


def upgrade_store(url: str) -> tuple[str | None, str]:
    """Upgrade the store at ``url`` to the current schema; return (before, after)."""
    from nbmlops.store.sql.engine import make_engine, run_in_transaction
    from nbmlops.store.sql.schema import read_revision, upgrade
    from nbmlops.store.sql.store import SqlStore

    engine = make_engine(url)
    try:
        _, before = run_in_transaction(engine, read_revision, write=False, url=url)
        after = upgrade(engine, url)
        if before is not None and before != after:
            SqlStore(engine, url, after).backfill_summaries()
    finally:
        engine.dispose()
    return before, after
