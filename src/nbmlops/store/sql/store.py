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
- :mod:`~nbmlops.store.sql.monitors`: monitor checks, by the runs that made them;
- :mod:`~nbmlops.store.sql.feedback`: labels attached to served rows by id;
- :mod:`~nbmlops.store.sql.journal`: the cell journal and each run's slice;
- :mod:`~nbmlops.store.sql.team`: team mode on PostgreSQL (roles, policies, audit triggers).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from nbmlops._types import RUN_STATUSES, StoreInfo, TeamMember
from nbmlops.errors import StoreError
from nbmlops.store.sql import team
from nbmlops.store.sql.approvals import SqlApprovals
from nbmlops.store.sql.audit import SqlAudit
from nbmlops.store.sql.checks import SqlDriftChecks, SqlJobRuns
from nbmlops.store.sql.deployments import SqlDeployments
from nbmlops.store.sql.feedback import SqlFeedback
from nbmlops.store.sql.journal import SqlJournal
from nbmlops.store.sql.monitors import SqlMonitorChecks
from nbmlops.store.sql.plumbing import artifacts_t, datasets_t, exp_t, runs_t
from nbmlops.store.sql.runs import SqlRuns
from nbmlops.store.sql.search import SqlSearch

__all__ = ["SqlStore"]


class SqlStore(SqlRuns, SqlSearch, SqlApprovals, SqlAudit, SqlDeployments, SqlDriftChecks,
               SqlJobRuns, SqlMonitorChecks, SqlJournal, SqlFeedback):
    """A lineage store in a SQL database (SQLite file or PostgreSQL)."""

    # -- team mode (PostgreSQL) ---------------------------------------------------------
    def _postgres_only(self) -> None:
        if self._engine.dialect.name != "postgresql":
            raise StoreError(
                f"team mode needs a PostgreSQL store; {self.url} is a SQLite file, where "
                "protections and approvals are a recorded workflow, not a security boundary",
                url=self.url)

    def team_init(self) -> list[str]:
        self._postgres_only()
        groups = self._write(team.init)
        team.forget_mode(self._engine)
        return groups

    def team_add(self, name: str, role: str, *, password: str | None = None) -> TeamMember:
        self._postgres_only()
        team.check_member_name(name)
        team.check_group(role)
        self._write(lambda c: team.add(c, name, role, password))
        return TeamMember(name=name, role=role)

    def team_remove(self, name: str) -> TeamMember | None:
        self._postgres_only()
        team.check_member_name(name)
        role = self._write(lambda c: team.remove(c, name))
        return None if role is None else TeamMember(name=name, role=role)

    def team_members(self) -> list[TeamMember]:
        self._postgres_only()
        return [TeamMember(name=n, role=r) for n, r in self._read(team.members)]

    def team_identity(self) -> str | None:
        if self._engine.dialect.name != "postgresql":
            return None
        return self._read(lambda c: team.session_user(c) if team.team_mode(c) else None)

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
