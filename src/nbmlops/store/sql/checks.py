"""Drift checks and job runs: records of their own, each keyed by the run that made it.

A drift check is written once, whole (the check and its column results in one
transaction), by the run of kind ``drift`` that made it. A job run is written when the job
starts and completed when it ends; its status, times and error are read from its run (kind
``job``), so a job whose runner was killed outright shows ``crashed`` as soon as its run
is reaped, like any run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, insert, select, update
from sqlalchemy.engine import Connection

from nbmlops._types import (
    DriftCheck,
    DriftColumnResult,
    JobRun,
    JobRunEnd,
    NewDriftCheck,
    NewJobRun,
    RecordPage,
    utc,
)
from nbmlops.errors import QueryError, RunNotFoundError
from nbmlops.store.sql.plumbing import (
    SqlBase,
    chunks,
    drift_checks_t,
    drift_columns_t,
    job_runs_t,
    runs_t,
)

_FEATURE, _PREDICTION = "feature", "prediction"
T = TypeVar("T")


def _number(value: float | None) -> float | None:
    """A statistic as stored: NaN (no value; SQLite cannot hold it) is NULL."""
    return None if value is None or math.isnan(value) else float(value)


def model_name(model: str) -> str:
    """``churn`` of ``churn/2``."""
    name, sep, version = model.rpartition("/")
    return name if sep and version.isdigit() else model


def _check_model(model: str | None, what: str) -> None:
    if model is not None and (model.count("/") != 1 or not model.rpartition("/")[2].isdigit()
                              or "@" in model):
        raise QueryError(f"{what} {model!r}: give a registered version as name/number "
                         "(churn/2)", expression=model)


def _page_args(limit: int | None, offset: int) -> None:
    if limit is not None and limit < 0:
        raise QueryError(f"limit {limit}: give a number of records, 0 or more (or None "
                         "for all)", expression=str(limit))
    if offset < 0:
        raise QueryError(f"offset {offset}: give 0 or more", expression=str(offset))


def _run_kind(conn: Connection, run_id: str) -> str:
    kind = conn.execute(select(runs_t.c.kind).where(runs_t.c.id == run_id)).scalar()
    if kind is None:
        raise RunNotFoundError(run_id)
    return str(kind)


class SqlDriftChecks(SqlBase):
    """Drift checks and their column results."""

    def record_drift_check(self, check: NewDriftCheck) -> DriftCheck:
        """Record a drift check made by run ``check.run_id`` (of kind ``drift``), with its
        column results, in one transaction; return it as read back.

        Raises RunNotFoundError when the run does not exist or is not a drift run, or
        already has a check (a check is never rewritten), and QueryError for a ``model``
        that is not a version (``churn/2``) or counts that cannot hold.
        """
        _check_model(check.model, "model")
        if not 0 <= check.drifted_columns <= check.columns_checked:
            raise QueryError(
                f"drifted_columns {check.drifted_columns} of columns_checked "
                f"{check.columns_checked}: give 0 ≤ drifted ≤ checked",
                expression=str(check.drifted_columns))

        def work(conn: Connection) -> DriftCheck:
            made_by(conn, check.run_id, "drift", drift_checks_t)
            conn.execute(insert(drift_checks_t).values(
                run_id=check.run_id, time=check.time, reference=check.reference,
                current=check.current, model=check.model,
                model_name=None if check.model is None else model_name(check.model),
                deployment=check.deployment, dataset_drift=check.dataset_drift,
                prediction_drift=check.prediction_drift, drift_share=check.drift_share,
                drifted_columns=check.drifted_columns, columns_checked=check.columns_checked,
                share_threshold=check.share_threshold))
            rows = [(_FEATURE, c) for c in check.columns]
            if check.prediction is not None:
                rows.append((_PREDICTION, check.prediction))
            values = [{"run_id": check.run_id, "position": i, "role": role,
                       "column": c.column, "test": c.test, "statistic": _number(c.statistic),
                       "p_value": _number(c.p_value), "threshold": _number(c.threshold),
                       "drifted": c.drifted} for i, (role, c) in enumerate(rows)]
            for part in chunks(values):
                conn.execute(insert(drift_columns_t), list(part))
            return self._drift_checks(conn, [check.run_id])[0]

        return self._write(work)

    def get_drift_check(self, run_id: str) -> DriftCheck:
        """The drift check recorded by run ``run_id`` (its full id);
        RunNotFoundError when that run recorded none."""
        def work(conn: Connection) -> DriftCheck:
            found = self._drift_checks(conn, [run_id])
            if not found:
                raise RunNotFoundError(run_id, reason="no drift check was recorded by that "
                                       "run")
            return found[0]

        return self._read(work)

    def list_drift_checks(self, *, model: str | None = None, deployment: str | None = None,
                          limit: int | None = 50, offset: int = 0) -> RecordPage[DriftCheck]:
        """A page of drift checks, newest first, with the count of all that match.

        ``model``: a name (``churn``: checks against any of its versions) or a version
        (``churn/2``: just that one); ``deployment``: checks of what that deployment
        served. ``limit=None`` returns every match.
        """
        _page_args(limit, offset)
        if model is not None and ("@" in model or not model.strip()):
            raise QueryError(f"model {model!r}: give a model name (churn) or a version "
                             "(churn/2); an alias moves, so checks are kept by version",
                             expression=model)
        where: list[ColumnElement[bool]] = []
        if model is not None:
            where.append(drift_checks_t.c.model == model if "/" in model
                         else drift_checks_t.c.model_name == model)
        if deployment is not None:
            where.append(drift_checks_t.c.deployment == deployment)
        cond = and_(*where) if where else None

        def work(conn: Connection) -> RecordPage[DriftCheck]:
            return newest_page(conn, drift_checks_t, drift_checks_t.c.time, cond, limit,
                               offset, lambda ids: self._drift_checks(conn, ids))

        return self._read(work)

    def _drift_checks(self, conn: Connection, run_ids: Sequence[str]) -> list[DriftCheck]:
        """The checks of ``run_ids``, in that order (missing ones left out)."""
        rows: dict[str, Any] = {}
        columns: dict[str, list[Any]] = {}
        for part in chunks(run_ids):
            for row in conn.execute(select(drift_checks_t).where(
                    drift_checks_t.c.run_id.in_(part))).mappings():
                rows[row["run_id"]] = row
            for col in conn.execute(select(drift_columns_t).where(
                    drift_columns_t.c.run_id.in_(part))
                    .order_by(drift_columns_t.c.run_id, drift_columns_t.c.position)
                    ).mappings():
                columns.setdefault(col["run_id"], []).append(col)
        out = []
        for run_id in run_ids:
            found = rows.get(run_id)
            if found is None:
                continue
            row = found
            results = [(c["role"], DriftColumnResult(
                column=c["column"], test=c["test"], statistic=c["statistic"],
                p_value=c["p_value"], threshold=c["threshold"],
                drifted=None if c["drifted"] is None else bool(c["drifted"])))
                for c in columns.get(run_id, [])]
            out.append(DriftCheck(
                run_id=run_id, time=utc(row["time"]),  # type: ignore[arg-type]
                reference=row["reference"], current=row["current"], model=row["model"],
                deployment=row["deployment"], dataset_drift=bool(row["dataset_drift"]),
                prediction_drift=None if row["prediction_drift"] is None
                else bool(row["prediction_drift"]),
                drift_share=float(row["drift_share"]),
                drifted_columns=int(row["drifted_columns"]),
                columns_checked=int(row["columns_checked"]),
                share_threshold=row["share_threshold"],
                columns=tuple(r for role, r in results if role == _FEATURE),
                prediction=next((r for role, r in results if role == _PREDICTION), None)))
        return out


def made_by(conn: Connection, run_id: str, kind: str, table: Any) -> None:
    """Check that run ``run_id`` is of ``kind`` and has no record in ``table`` yet (a
    check is recorded once, by the run that made it); RunNotFoundError saying which not."""
    found = _run_kind(conn, run_id)
    if found != kind:
        raise RunNotFoundError(run_id, reason=f"it is a {found} run, not a {kind} run: "
                               "record the check by the run that made it")
    if conn.execute(select(table.c.run_id).where(table.c.run_id == run_id)
                    ).scalar() is not None:
        raise RunNotFoundError(run_id, reason=f"that run has its {kind} check already; a "
                               "new check is a new run")


def _paged(stmt: Select[Any], limit: int | None, offset: int) -> Select[Any]:
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt.offset(offset) if offset else stmt


def newest_page(conn: Connection, table: Any, time: Any, cond: ColumnElement[bool] | None,
                limit: int | None, offset: int, load: Callable[[list[str]], list[T]]
                ) -> RecordPage[T]:
    """A page of ``table``'s records keyed by ``run_id``, newest first by ``time`` (then
    by id), with the count of all that match ``cond``; ``load`` reads the page's ids."""
    ids = select(table.c.run_id).order_by(time.desc(), table.c.run_id.desc())
    count = select(func.count()).select_from(table)
    if cond is not None:
        ids, count = ids.where(cond), count.where(cond)
    page = conn.execute(_paged(ids, limit, offset)).scalars().all()
    return RecordPage(items=tuple(load(list(page))),
                      total=int(conn.execute(count).scalar_one()), limit=limit, offset=offset)


class SqlJobRuns(SqlBase):
    """Job runs: the job's own record of each execution, read with its run."""

    def start_job_run(self, new: NewJobRun) -> JobRun:
        """Record that run ``new.run_id`` (of kind ``job``, already started) runs job
        ``new.job``; call it right after starting the run. Its start time is the run's.

        Raises RunNotFoundError when the run does not exist, is not a job run, or already
        has its job run.
        """
        parameters = json.dumps(dict(new.parameters), sort_keys=True, ensure_ascii=False)

        def work(conn: Connection) -> JobRun:
            run = conn.execute(select(runs_t.c.kind, runs_t.c.start_time).where(
                runs_t.c.id == new.run_id)).one_or_none()
            if run is None:
                raise RunNotFoundError(new.run_id)
            if run.kind != "job":
                raise RunNotFoundError(new.run_id, reason=f"it is a {run.kind} run, not a "
                                       "job run: start the job's run first")
            if conn.execute(select(job_runs_t.c.run_id).where(
                    job_runs_t.c.run_id == new.run_id)).scalar() is not None:
                raise RunNotFoundError(new.run_id, reason="that run has its job run already")
            conn.execute(insert(job_runs_t).values(
                run_id=new.run_id, job=new.job, job_dir=new.job_dir,
                start_time=run.start_time, parameters=parameters))
            return self._job_runs(conn, [new.run_id])[0]

        return self._write(work)

    def end_job_run(self, run_id: str, end: JobRunEnd) -> JobRun:
        """Record what job run ``run_id`` came to (children, failed gate, failure reason,
        executed notebook). Its status, end time and error come from ending its run
        (before or after this call). Calling it again replaces these fields.

        Raises RunNotFoundError when ``run_id`` has no job run.
        """
        if end.child_runs < 0:
            raise QueryError(f"child_runs {end.child_runs}: give 0 or more",
                             expression=str(end.child_runs))

        def work(conn: Connection) -> JobRun:
            done = conn.execute(update(job_runs_t).where(job_runs_t.c.run_id == run_id).values(
                child_runs=end.child_runs, gate_failed=end.gate_failed, failure=end.failure,
                executed=end.executed)).rowcount
            if not done:
                raise RunNotFoundError(run_id, reason="no job run was started by that run")
            return self._job_runs(conn, [run_id])[0]

        return self._write(work)

    def get_job_run(self, run_id: str) -> JobRun:
        """The job run of run ``run_id`` (its full id); RunNotFoundError if none."""
        def work(conn: Connection) -> JobRun:
            found = self._job_runs(conn, [run_id])
            if not found:
                raise RunNotFoundError(run_id, reason="no job run was started by that run")
            return found[0]

        return self._read(work)

    def list_job_runs(self, *, job: str | None = None, limit: int | None = 50,
                      offset: int = 0) -> RecordPage[JobRun]:
        """A page of job runs (of one job, by name, when ``job`` is given), newest first,
        with the count of all that match. ``limit=None`` returns every match."""
        _page_args(limit, offset)

        def work(conn: Connection) -> RecordPage[JobRun]:
            return newest_page(conn, job_runs_t, job_runs_t.c.start_time,
                               None if job is None else job_runs_t.c.job == job, limit,
                               offset, lambda ids: self._job_runs(conn, ids))

        return self._read(work)

    def last_job_runs(self, jobs: Sequence[str] | None = None) -> Mapping[str, JobRun]:
        """The newest job run of each job (of the ``jobs`` named, when given), by job
        name; a job that never ran is absent."""
        def work(conn: Connection) -> dict[str, JobRun]:
            newest = select(job_runs_t.c.job, func.max(job_runs_t.c.start_time).label("at")
                            ).group_by(job_runs_t.c.job)
            if jobs is not None:
                newest = newest.where(job_runs_t.c.job.in_(list(jobs)))
            sub = newest.subquery()
            stmt = (select(job_runs_t.c.job, job_runs_t.c.run_id)
                    .join(sub, and_(sub.c.job == job_runs_t.c.job,
                                    sub.c.at == job_runs_t.c.start_time))
                    .order_by(job_runs_t.c.job, job_runs_t.c.run_id.desc()))
            chosen: dict[str, str] = {}
            for name, run_id in conn.execute(stmt):
                chosen.setdefault(name, run_id)  # two started at one instant: either
            found = {r.run_id: r for r in self._job_runs(conn, list(chosen.values()))}
            return {name: found[run_id] for name, run_id in sorted(chosen.items())}

        return self._read(work)

    def _job_runs(self, conn: Connection, run_ids: Sequence[str]) -> list[JobRun]:
        """The job runs of ``run_ids``, in that order (missing ones left out); a running
        one's children are counted now."""
        child = runs_t.alias("child")
        children = (select(func.count()).select_from(child)
                    .where(child.c.parent_run_id == job_runs_t.c.run_id)
                    .correlate(job_runs_t).scalar_subquery())
        rows: dict[str, Any] = {}
        for part in chunks(run_ids):
            stmt = (select(job_runs_t, runs_t.c.status, runs_t.c.end_time, runs_t.c.error,
                           runs_t.c.notebook_path,
                           func.coalesce(job_runs_t.c.child_runs, children).label("children"))
                    .join(runs_t, runs_t.c.id == job_runs_t.c.run_id)
                    .where(job_runs_t.c.run_id.in_(part)))
            for row in conn.execute(stmt).mappings():
                rows[row["run_id"]] = row
        return [JobRun(
            run_id=r["run_id"], job=r["job"], job_dir=r["job_dir"], status=r["status"],
            start_time=utc(r["start_time"]),  # type: ignore[arg-type]
            end_time=utc(r["end_time"]), parameters=json.loads(r["parameters"]),
            child_runs=int(r["children"]), gate_failed=r["gate_failed"],
            failure=r["failure"], error=r["error"], executed=r["executed"],
            notebook_path=r["notebook_path"]) for i in run_ids if (r := rows.get(i)) is not None]

