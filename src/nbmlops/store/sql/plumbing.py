"""What every part of :class:`~nbmlops.store.sql.store.SqlStore` shares: the tables as
Core statements see them, and the base class holding the engine and its transactions.

The parts (runs, search, registry, deployments, checks) are mixins over :class:`SqlBase`; each
works inside the one transaction helper of :mod:`nbmlops.store.sql.engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from nbmlops.store.sql.engine import redact, run_in_transaction
from nbmlops.store.sql.models import (
    AliasProtectionRow,
    ApprovalRequestRow,
    ApprovalVoteRow,
    ArtifactRow,
    AuditEventRow,
    DatasetRow,
    DeploymentRow,
    DriftCheckRow,
    DriftColumnRow,
    EnvironmentRow,
    ExperimentRow,
    FeedbackRow,
    JobRunRow,
    JournalEntryRow,
    JournalSourceRow,
    LatestMetricRow,
    MetricRow,
    ModelAliasRow,
    ModelVersionRow,
    MonitorCheckRow,
    ParamRow,
    RegisteredModelRow,
    RunArtifactRow,
    RunDatasetRow,
    RunFlagRow,
    RunRow,
    RunSliceCellRow,
    RunSliceRow,
    TagRow,
)

T = TypeVar("T")
_CHUNK = 500  # ids per IN (...) list and rows per multi-row VALUES

runs_t = cast(Table, RunRow.__table__)
exp_t = cast(Table, ExperimentRow.__table__)
params_t = cast(Table, ParamRow.__table__)
metrics_t = cast(Table, MetricRow.__table__)
latest_t = cast(Table, LatestMetricRow.__table__)
tags_t = cast(Table, TagRow.__table__)
datasets_t = cast(Table, DatasetRow.__table__)
run_datasets_t = cast(Table, RunDatasetRow.__table__)
artifacts_t = cast(Table, ArtifactRow.__table__)
run_artifacts_t = cast(Table, RunArtifactRow.__table__)
env_t = cast(Table, EnvironmentRow.__table__)
models_t = cast(Table, RegisteredModelRow.__table__)
versions_t = cast(Table, ModelVersionRow.__table__)
aliases_t = cast(Table, ModelAliasRow.__table__)
audit_t = cast(Table, AuditEventRow.__table__)
protections_t = cast(Table, AliasProtectionRow.__table__)
requests_t = cast(Table, ApprovalRequestRow.__table__)
votes_t = cast(Table, ApprovalVoteRow.__table__)
deployments_t = cast(Table, DeploymentRow.__table__)
drift_checks_t = cast(Table, DriftCheckRow.__table__)
drift_columns_t = cast(Table, DriftColumnRow.__table__)
job_runs_t = cast(Table, JobRunRow.__table__)
monitor_checks_t = cast(Table, MonitorCheckRow.__table__)
feedback_t = cast(Table, FeedbackRow.__table__)
journal_sources_t = cast(Table, JournalSourceRow.__table__)
journal_t = cast(Table, JournalEntryRow.__table__)
run_slices_t = cast(Table, RunSliceRow.__table__)
run_slice_cells_t = cast(Table, RunSliceCellRow.__table__)
run_flags_t = cast(Table, RunFlagRow.__table__)


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (one IN (...) list each)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class SqlBase:
    """The engine, its transactions and the statements every part shares.

    Each part builds its write statements once per store (see ``RunStatements``), so
    SQLAlchemy compiles each once; ``self._ins`` is the dialect's INSERT, the one that
    knows ``ON CONFLICT``. The constructor touches no database.
    """

    def __init__(self, engine: Engine, url: str, revision: str) -> None:
        self._engine = engine
        self._raw_url = url
        self.url = redact(url)
        self.revision = revision
        self._ins: Callable[..., Any] = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)
        # artifacts are content-addressed blobs that runs and model versions both point at
        self._insert_artifacts = self._ins(artifacts_t).on_conflict_do_nothing(
            index_elements=["sha256"])

    def _write(self, fn: Callable[[Connection], T]) -> T:
        return run_in_transaction(self._engine, fn, write=True, url=self._raw_url)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        return run_in_transaction(self._engine, fn, write=False, url=self._raw_url)

    def close(self) -> None:
        self._engine.dispose()

    def reset_after_fork(self) -> None:
        self._engine.dispose(close=False)  # a forked child must not share connections

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r}, revision={self.revision!r})"
