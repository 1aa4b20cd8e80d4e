"""The lineage store as capabilities see it: typed methods, frozen records, no SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from nbmlops._types import (
    DatasetLink,
    Experiment,
    Metric,
    NewRun,
    RunArtifact,
    RunEnd,
    RunKind,
    RunRecord,
    RunTable,
    StoreInfo,
)
from nbmlops.store.query import Filter, SortKey


@runtime_checkable
class Store(Protocol):
    """What every lineage-store backend provides (SQLite file, PostgreSQL server, …).

    Every write is one transaction: it lands whole or not at all. Methods raise
    :class:`~nbmlops.errors.StoreError` for database failures,
    :class:`~nbmlops.errors.RunNotFoundError` for unknown runs and
    :class:`~nbmlops.errors.ParamConflictError` when a param would change.
    """

    url: str
    """The store's URL with any password hidden."""

    revision: str
    """The schema revision the store is at."""

    def close(self) -> None: ...

    # -- experiments -------------------------------------------------------------
    def list_experiments(self) -> list[Experiment]: ...

    # -- writing runs ------------------------------------------------------------
    def start_run(self, run: NewRun) -> None:
        """Insert a ``running`` run with its params, tags and input datasets."""

    def end_run(self, run_id: str, end: RunEnd) -> None:
        """Record how a run ended, with everything learned at its end."""

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    def link_datasets(self, run_id: str, links: Sequence[DatasetLink]) -> None: ...

    def add_artifacts(self, run_id: str, artifacts: Sequence[RunArtifact]) -> None: ...

    def set_git_dirty(self, run_id: str, dirty: bool) -> None: ...

    def heartbeat(self, run_ids: Iterable[str], now: float) -> None: ...

    def reap_orphans(self, now: float) -> list[str]:
        """Mark runs whose process is gone as ``crashed``; return their ids."""

    # -- reading -----------------------------------------------------------------
    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the one run whose id is or starts with ``run_id``."""

    def get_run(self, run_id: str) -> RunRecord: ...

    def search_runs(
        self,
        *,
        experiment: str | None = None,
        where: Filter | None = None,
        order_by: Sequence[SortKey] = (),
        kinds: Sequence[RunKind] | None = None,
        parent_run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> RunTable: ...

    def metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def info(self) -> StoreInfo: ...
