"""The SQLAlchemy implementation of :class:`nbmlops.store.base.Store`, composed by concern.

Each concern is a mixin over :class:`~nbmlops.store.sql.plumbing.SqlBase` (the engine and
its transactions) in a module of its own:

- :mod:`~nbmlops.store.sql.runs`: experiments, run writes and reads;
- :mod:`~nbmlops.store.sql.search`: the filter compiler and pages of runs;
- :mod:`~nbmlops.store.sql.registry`: registered models, versions, aliases;
- :mod:`~nbmlops.store.sql.approvals`: protected aliases and their approval requests;
- :mod:`~nbmlops.store.sql.audit`: the hash-chained audit trail, read and verified;
- :mod:`~nbmlops.store.sql.deployments`: model servers from start to stop;
- :mod:`~nbmlops.store.sql.checks`: drift checks and job runs, by the runs that made them;
- :mod:`~nbmlops.store.sql.feedback`: labels attached to served rows by id;
- :mod:`~nbmlops.store.sql.journal`: the cell journal and each run's slice.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from nbmlops._types import RUN_STATUSES, StoreInfo
from nbmlops.store.sql.approvals import SqlApprovals
from nbmlops.store.sql.audit import SqlAudit
from nbmlops.store.sql.checks import SqlDriftChecks, SqlJobRuns
from nbmlops.store.sql.deployments import SqlDeployments
from nbmlops.store.sql.feedback import SqlFeedback
from nbmlops.store.sql.journal import SqlJournal
from nbmlops.store.sql.plumbing import artifacts_t, datasets_t, exp_t, runs_t
from nbmlops.store.sql.runs import SqlRuns
from nbmlops.store.sql.search import SqlSearch

__all__ = ["SqlStore"]


class SqlStore(SqlRuns, SqlSearch, SqlApprovals, SqlAudit, SqlDeployments, SqlDriftChecks,
               SqlJobRuns, SqlJournal, SqlFeedback):
    """A lineage store in a SQL database (SQLite file or PostgreSQL)."""

    def info(self) -> StoreInfo:
        from nbmlops.store.sql.schema import HEAD

        def work(conn: Connection) -> StoreInfo:
            by_status: dict[str, int] = dict.fromkeys(RUN_STATUSES, 0)
            for status, count in conn.execute(
                    select(runs_t.c.status, func.count()).group_by(runs_t.c.status)):
                by_status[status] = int(count)
            art_count, art_bytes = conn.execute(
                select(func.count(), func.coalesce(func.sum(artifacts_t.c.size), 0))).one()
            return StoreInfo(
                url=self.url, revision=self.revision, head_revision=HEAD,
                experiments=int(conn.execute(select(func.count()).select_from(exp_t)).scalar_one()),
                runs_by_status=by_status,
                datasets=int(conn.execute(
                    select(func.count()).select_from(datasets_t)).scalar_one()),
                artifacts=int(art_count), artifact_bytes=int(art_bytes),
            )

        return self._read(work)
