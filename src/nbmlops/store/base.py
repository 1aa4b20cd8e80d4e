"""The lineage store as capabilities see it: typed methods, frozen records, no SQL."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from nbmlops._types import (
    Actor,
    AliasProtection,
    ApprovalRequest,
    AuditEvent,
    AuditVerification,
    DatasetLink,
    Deployment,
    DeploymentStatus,
    DriftCheck,
    Experiment,
    FeedbackLabel,
    HiddenStateFlag,
    JobRun,
    JobRunEnd,
    JournalEntry,
    Metric,
    MetricChart,
    ModelVersion,
    MonitorCheck,
    NewDeployment,
    NewDriftCheck,
    NewJobRun,
    NewModelVersion,
    NewMonitorCheck,
    NewRun,
    RecordPage,
    RegisteredModel,
    RunArtifact,
    RunEnd,
    RunKind,
    RunRecord,
    RunSlice,
    RunTable,
    SliceWrite,
    StoreInfo,
    TeamMember,
)
from nbmlops.store.query import Filter, SortKey


def _same_json(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(_same_json, old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same_json(v, new[k]) for k, v in old.items())
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old):
        return math.isnan(new)
    return bool(old == new)


def same_param(old: Any, new: Any) -> bool:
    """Whether two param values are the same, compared as they are stored (JSON).

    At any depth: 1 == 1.0, NaN == NaN, a tuple equals the list it is stored as, but
    True != 1. Re-logging the same value is a no-op; anything else is a conflict.
    """
    return _same_json(json.loads(json.dumps(old, sort_keys=True)),
                      json.loads(json.dumps(new, sort_keys=True)))


@runtime_checkable
class RunStore(Protocol):
    """Experiments and runs: writing them and reading one back.

    Every write is one transaction: it lands whole or not at all. Methods raise
    :class:`~nbmlops.errors.StoreError` for database failures,
    :class:`~nbmlops.errors.RunNotFoundError` for unknown runs and
    :class:`~nbmlops.errors.ParamConflictError` when a param would change.
    """

    # -- experiments -------------------------------------------------------------
    def list_experiments(self) -> list[Experiment]: ...

    # -- writing runs ------------------------------------------------------------
    def start_run(self, run: NewRun) -> None:
        """Insert a ``running`` run with its params, tags and input datasets."""

    def end_run(self, run_id: str, end: RunEnd) -> None:
        """Record how a run ended, with everything learned at its end."""

    def record_runs(self, runs: Sequence[tuple[NewRun, RunEnd]]) -> None:
        """Write several complete runs (each started and ended) in one transaction."""

    def log_batch(self, run_id: str, *, params: Mapping[str, Any] | None = None,
                  metrics: Sequence[Metric] = (), tags: Mapping[str, str] | None = None,
                  datasets: Sequence[DatasetLink] = ()) -> None:
        """Params, metrics, tags and dataset links of a run, in one transaction."""

    def log_metrics_many(self, items: Sequence[tuple[str, Sequence[Metric]]]) -> None:
        """Metrics of several runs (run id, metrics), in one transaction."""

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

    def metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def metric_series(self, run_id: str, key: str, *, offset: int = 0,
                      limit: int | None = None
                      ) -> tuple[int, list[int], list[float], list[float]]:
        """A page of a metric's history in order of step then time, as columns: (how
        many values it has in all, steps, values, timestamps)."""

    def metric_chart(self, run_id: str, key: str, *, points: int, x: str = "step",
                     low: float | None = None, high: float | None = None,
                     limit: int | None = None) -> MetricChart | None:
        """The values of a metric whose ``x`` (``step`` or ``time``) lies from ``low`` to
        ``high`` (either may be None), in x order: all of them when there are ``points`` or
        fewer, else at most ``points`` chosen in the store, as the server's decimation
        chooses them (the first and the last, and of equal spans of x each one's smallest
        and largest value and first NaN, the first of equal ones). None where the store
        cannot choose them itself (more values than ``limit``, or an x it cannot seek): the
        caller reads the values and chooses."""
        ...

    def metric_keys(self, experiment: str | None = None, *, newest: int = 1000
                    ) -> tuple[int, list[tuple[str, int]]]:
        """The metric names of the newest ``newest`` runs (of one experiment), with how
        many of them have each, the most common first; and how many runs were read."""
        ...


@runtime_checkable
class RunSearch(Protocol):
    """Pages of runs matching a filter (:mod:`nbmlops.store.query`), sorted.

    Raises :class:`~nbmlops.errors.QueryError` for a filter that cannot hold (a metric
    compared with a string, None ordered with ``<``).
    """

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
        count_limit: int | None = None,
    ) -> RunTable:
        """Runs matching every condition given, ordered by ``order_by`` then newest first.

        ``total`` counts the matches; with ``count_limit`` counting stops at that many
        (``total_exact`` False) unless the runs table's indexes answer the count alone.
        """


@runtime_checkable
class RegistryStore(Protocol):
    """The model registry: models, versions, aliases and their audited history.

    Raises :class:`~nbmlops.errors.ModelNotFoundError` for unknown models, versions and
    aliases.
    """

    def create_model_version(self, new: NewModelVersion, *, actor: Actor,
                             alias: str | None = None, reason: str | None = None
                             ) -> ModelVersion:
        """Register the next version of ``new.model`` (creating the model), audited, and
        point ``alias`` at it, in one transaction."""

    def set_alias(self, model: str, alias: str, version: int, *, actor: Actor,
                  reason: str | None = None) -> AuditEvent | ApprovalRequest | None:
        """Point ``model@alias`` at ``version`` (None when it already did), audited; a
        protected alias does not move: the request opened instead is returned."""

    def rollback_alias(self, model: str, alias: str, *, actor: Actor,
                       reason: str | None = None) -> AuditEvent | ApprovalRequest:
        """Point ``model@alias`` back at the version it pointed at before, audited (a
        protected alias: the request opened instead)."""

    def get_model_version(self, model: str, *, version: int | None = None,
                          alias: str | None = None) -> ModelVersion:
        """A version by number or alias (the latest when neither is given)."""

    def list_models(self) -> list[RegisteredModel]: ...

    def list_versions(self, model: str) -> list[ModelVersion]: ...

    def audit_events(self, model: str | None = None, *, alias: str | None = None,
                     deployment: str | None = None, user: str | None = None,
                     since: datetime | None = None, limit: int | None = None
                     ) -> list[AuditEvent]:
        """Events oldest first (the newest ``limit`` of them); ``alias`` leaves out the
        deployments following it."""


@runtime_checkable
class AuditStore(Protocol):
    """The audit trail as a hash chain (see :mod:`nbmlops.store.audit_chain`): every
    writer appends under one lock, so the chain never forks."""

    def verify_audit(self, *, anchor: str | None = None) -> AuditVerification:
        """Re-compute the chain; the first event changed or removed, or ok."""

    def audit_head(self) -> tuple[int, str] | None:
        """The last event's id and hash (None before the first event)."""


@runtime_checkable
class ApprovalStore(Protocol):
    """Protected aliases and approval requests.

    A protected alias moves only when a request has its approvals (``set_alias`` and
    ``rollback_alias`` open one instead of moving); each step is audited. Raises
    :class:`~nbmlops.errors.ApprovalError` for a vote that cannot be cast (one's own
    request, a second vote, a decided or stale request) and
    :class:`~nbmlops.errors.ModelNotFoundError` for unknown models.
    """

    def protect_alias(self, model: str, alias: str, *, approvals: int,
                      require: Sequence[str] = (), role: str | None = None, actor: Actor
                      ) -> AliasProtection:
        """Protect (or change the protection of) ``model@alias``."""

    def unprotect_alias(self, model: str, alias: str, *, actor: Actor) -> AuditEvent: ...

    def get_protection(self, model: str, alias: str) -> AliasProtection | None: ...

    def list_protections(self, model: str | None = None) -> list[AliasProtection]: ...

    def get_request(self, request_id: int) -> ApprovalRequest: ...

    def list_requests(self, model: str | None = None, *, alias: str | None = None,
                      status: str | None = "open") -> list[ApprovalRequest]:
        """Requests oldest first (``status=None``: whatever their status)."""

    def approve_request(self, request_id: int, *, actor: Actor, reason: str | None = None,
                        require: Sequence[str] = ()) -> ApprovalRequest:
        """Approve; the alias moves when the request has its approvals. ``require``: the
        protection's gates as the caller checked them on the version."""

    def reject_request(self, request_id: int, *, actor: Actor, reason: str | None = None
                       ) -> ApprovalRequest: ...


@runtime_checkable
class DeploymentStore(Protocol):
    """Deployments (model servers), from start to stop or crash, audited.

    Raises :class:`~nbmlops.errors.DeploymentError` for unknown deployments and for a
    name that a live deployment holds.
    """

    def start_deployment(self, new: NewDeployment, *, actor: Actor) -> Deployment: ...

    def switch_deployment(self, deployment_id: str, from_version: int, to_version: int, *,
                          actor: Actor) -> bool: ...

    def end_deployment(self, deployment_id: str, status: DeploymentStatus, *, actor: Actor,
                       error: str | None = None) -> Deployment: ...

    def record_rollout(self, deployment_id: str, action: str, *, state: Mapping[str, Any],
                       details: Mapping[str, Any], actor: Actor, version: int | None = None,
                       reason: str | None = None) -> AuditEvent:
        """A canary's or shadow's decision (``rollout-promote``, ``rollout-rollback``, …):
        the rollout's state kept in the deployment's options, audited with its figures."""

    def deployment_heartbeat(self, deployment_id: str, now: float) -> None: ...

    def get_deployment(self, name_or_id: str) -> Deployment: ...

    def list_deployments(self, *, running: bool = False) -> list[Deployment]: ...

    def reap_deployments(self, now: float, *, name: str | None = None) -> list[str]: ...


@runtime_checkable
class DriftCheckStore(Protocol):
    """Drift checks, each recorded by the run (kind ``drift``) that made it.

    A writer starts the run, makes the check, then calls :meth:`record_drift_check` once
    (the check and its column results land in one transaction) before ending the run.
    Raises :class:`~nbmlops.errors.RunNotFoundError` for a run that is missing, is not a
    drift run, or has no check (reads), and :class:`~nbmlops.errors.QueryError` for a
    filter, page or model reference that cannot hold.
    """

    def record_drift_check(self, check: NewDriftCheck) -> DriftCheck:
        """Record the check made by ``check.run_id``; return it as stored."""

    def get_drift_check(self, run_id: str) -> DriftCheck:
        """The check recorded by run ``run_id`` (its full id)."""

    def list_drift_checks(self, *, model: str | None = None, deployment: str | None = None,
                          limit: int | None = 50, offset: int = 0) -> RecordPage[DriftCheck]:
        """A page of checks, newest first, and the count of all that match: ``model``
        ``churn`` means any of its versions, ``churn/2`` just that one; ``deployment``
        the checks of what that deployment served."""


@runtime_checkable
class JobRunStore(Protocol):
    """Job runs, each recorded by the run (kind ``job``) of that execution.

    A runner starts the run, calls :meth:`start_job_run`, and when the job is over ends
    the run (its status, end time and error) and calls :meth:`end_job_run` with what the
    job came to. Status and times are always the run's, so a runner killed outright
    leaves a job run that reads ``crashed`` once its run is reaped. Raises
    :class:`~nbmlops.errors.RunNotFoundError` for a run that is missing, is not a job run
    or has no job run, and :class:`~nbmlops.errors.QueryError` for a page that cannot hold.
    """

    def start_job_run(self, new: NewJobRun) -> JobRun:
        """Record that run ``new.run_id`` executes job ``new.job``."""

    def end_job_run(self, run_id: str, end: JobRunEnd) -> JobRun:
        """Record the children it recorded, the gate that failed, why it failed, and the
        executed notebook."""

    def get_job_run(self, run_id: str) -> JobRun: ...

    def list_job_runs(self, *, job: str | None = None, limit: int | None = 50,
                      offset: int = 0) -> RecordPage[JobRun]:
        """A page of job runs (of one job, by name), newest first, and the count of all
        that match."""

    def last_job_runs(self, jobs: Sequence[str] | None = None) -> Mapping[str, JobRun]:
        """The newest job run of each job (of ``jobs``, when named), by job name."""


@runtime_checkable
class MonitorCheckStore(Protocol):
    """Monitor checks, each recorded by the run (kind ``monitor``) that made it. Raises
    :class:`~nbmlops.errors.RunNotFoundError` for a run that is missing, not a monitor run
    or already has its check, :class:`~nbmlops.errors.QueryError` for a bad page."""

    def record_monitor_check(self, check: NewMonitorCheck) -> MonitorCheck: ...

    def list_monitor_checks(self, *, monitor: str | None = None, limit: int | None = 50,
                            offset: int = 0) -> RecordPage[MonitorCheck]:
        """A page of checks (of one monitor), newest first, and the count of all."""

    def last_monitor_check(self, monitor: str, *, judged: bool = False
                           ) -> MonitorCheck | None:
        """The newest check of ``monitor`` (``judged``: the newest not skipped)."""


@runtime_checkable
class JournalStore(Protocol):
    """The cell journal: executed cells by kernel session, their code once per source, and
    each tracked run's slice (the executions it stood on) with its hidden-state flags.

    Raises :class:`~nbmlops.errors.RunNotFoundError` for a slice of an unknown run.
    """

    def record_journal(self, entries: Sequence[JournalEntry], sources: Mapping[str, str],
                       slices: Sequence[SliceWrite] = ()) -> None:
        """Add journaled executions, the code of new sources (by hash) and run slices (see
        ``record_run_slice``; a slice of a run not in the store is left out), in one
        transaction; an entry or source already there is kept as it is."""

    def session_journal(self, session_id: str) -> list[JournalEntry]:
        """Every journaled execution of a kernel session, in the order they ran."""

    def journal_code(self, source_hashes: Sequence[str]) -> dict[str, str]:
        """The code of each source hash known to the journal."""

    def record_run_slice(self, run_id: str, session_id: str,
                         cells: Sequence[tuple[str, int]],
                         flags: Sequence[HiddenStateFlag]) -> None:
        """What run ``run_id`` stood on: (session id, seq) of each execution, in order."""

    def get_run_slice(self, run_id: str) -> RunSlice | None:
        """The run's slice with each cell's code, or None when it was recorded without
        the journal."""


@runtime_checkable
class TeamStore(Protocol):
    """Team mode (PostgreSQL): roles, grants, policies and the audit triggers, and the
    identity the database gives this session. On SQLite ``team_identity`` is None and the
    others raise :class:`~nbmlops.errors.StoreError` (a file is not a security boundary)."""

    def team_init(self) -> list[str]:
        """Install team mode (the database owner, once; idempotent); the group roles."""

    def team_add(self, name: str, role: str, *, password: str | None = None) -> TeamMember:
        """A login role ``name`` in the group ``role``; an audit event."""

    def team_remove(self, name: str) -> TeamMember | None:
        """Drop the login role ``name`` (None: not a member); an audit event."""

    def team_members(self) -> list[TeamMember]: ...

    def team_identity(self) -> str | None:
        """The role this session logged in as, in team mode; else None."""


@runtime_checkable
class FeedbackStore(Protocol):
    """Labels for served rows, by row id (the ground truth of performance monitoring)."""

    def record_feedback(self, labels: Sequence[FeedbackLabel]) -> list[str]:
        """Write labels (upserts); return the row ids whose earlier label was replaced."""

    def list_feedback(self, deployment: str, *, since: float | None = None,
                      until: float | None = None) -> list[FeedbackLabel]:
        """The labels of rows ``deployment`` served in ``[since, until)``, oldest first."""



@runtime_checkable
class Store(RunStore, RunSearch, RegistryStore, ApprovalStore, AuditStore, DeploymentStore,
            DriftCheckStore, JobRunStore, MonitorCheckStore, JournalStore, TeamStore,
            FeedbackStore, Protocol):
    """What every lineage-store backend provides (SQLite file, PostgreSQL server, …):
    every part above, and the store as a whole.

    A capability that needs only a part declares that part (``RunStore``,
    ``RunSearch``, ``RegistryStore``, ``ApprovalStore``, ``AuditStore``,
    ``DeploymentStore``, ``DriftCheckStore``, ``JobRunStore``, ``MonitorCheckStore``,
    ``JournalStore``, ``TeamStore``, ``FeedbackStore``); a ``Store``
    is each of them.
    Every write is one transaction: it lands whole or not at all. Database failures
    raise :class:`~nbmlops.errors.StoreError`.
    """

    url: str
    """The store's URL with any password hidden."""

    revision: str
    """The schema revision the store is at."""

    def close(self) -> None: ...

    def reset_after_fork(self) -> None:
        """Drop connections inherited from the parent process (call in a forked child)."""

    def info(self) -> StoreInfo: ...
