"""The SQLAlchemy implementation of :class:`nbmlops.store.base.Store`.

Hot paths (start/end of a run, a burst of metrics) use Core statements on the ORM
tables with executemany, so a tracked cell costs two short transactions.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Double,
    Engine,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from nbmlops._types import (
    RUN_KINDS,
    RUN_STATUSES,
    Actor,
    ArtifactRef,
    AuditEvent,
    DatasetFingerprint,
    DatasetLink,
    Deployment,
    DeploymentStatus,
    Environment,
    Experiment,
    Metric,
    ModelVersion,
    NewDeployment,
    NewModelVersion,
    NewRun,
    RegisteredModel,
    RunArtifact,
    RunEnd,
    RunKind,
    RunRecord,
    RunTable,
    StoreInfo,
    utc,
)
from nbmlops.errors import (
    DeploymentError,
    ModelNotFoundError,
    ParamConflictError,
    QueryError,
    RunNotFoundError,
)
from nbmlops.store import liveness
from nbmlops.store.base import same_param
from nbmlops.store.query import And, Compare, Field, Filter, Not, Or, SortKey
from nbmlops.store.sql import summary
from nbmlops.store.sql.engine import redact, run_in_transaction
from nbmlops.store.sql.models import (
    ArtifactRow,
    AuditEventRow,
    DatasetRow,
    DeploymentRow,
    EnvironmentRow,
    ExperimentRow,
    LatestMetricRow,
    MetricRow,
    ModelAliasRow,
    ModelVersionRow,
    ParamRow,
    RegisteredModelRow,
    RunArtifactRow,
    RunDatasetRow,
    RunRow,
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
deployments_t = cast(Table, DeploymentRow.__table__)


# how many of a metric's best values a sorted page reads through its index before it
# takes the matches as sparse and sorts them instead (see _page_by_metric)
_METRIC_WINDOW = 2000
# a metric filter fewer runs than this pass drives a search from the metric's index (see
# _sparse_metric_filters); past it, checking runs one by one finds a page sooner
_SPARSE = 5000
_LISTED = (runs_t.c.id, exp_t.c.name, runs_t.c.name, runs_t.c.kind, runs_t.c.status,
           runs_t.c.start_time, runs_t.c.end_time, runs_t.c.parent_run_id, runs_t.c.summary)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def encode_param(value: Any) -> tuple[str, float | None]:
    """A param value as stored: JSON text, plus a number for numeric comparisons."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    numeric = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            numeric = float(value)
        except OverflowError:  # an int beyond a double's range: compared as text only
            numeric = None
        if numeric is not None and not math.isfinite(numeric):
            numeric = None
    return text, numeric


def _same_param(stored: str, value: Any) -> bool:
    """Is ``value`` the param already stored as JSON ``stored``?"""
    return same_param(json.loads(stored), value)


def _metric_row(run_id: str, m: Metric) -> dict[str, Any]:
    nan = math.isnan(m.value)
    return {"run_id": run_id, "key": m.key, "value": None if nan else m.value, "is_nan": nan,
            "step": m.step, "timestamp": m.timestamp}


def _metric_value(value: float | None, is_nan: bool) -> float:
    return math.nan if is_nan or value is None else float(value)


class _Statements:
    """The write statements, built once per store so SQLAlchemy compiles each once.

    Rows go in with executemany; a statement whose shape depended on its data (a
    multi-row VALUES, an UPDATE with optional columns) would be compiled on every call,
    which costs more than the database work of a whole run.
    """

    def __init__(self, dialect: str) -> None:
        ins: Callable[..., Any] = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.insert_run = insert(runs_t)
        self.insert_params = insert(params_t)
        self.insert_metrics = insert(metrics_t)
        self.insert_experiment = ins(exp_t).on_conflict_do_nothing(index_elements=["name"])
        self.insert_environment = ins(env_t).on_conflict_do_nothing(index_elements=["digest"])
        self.insert_datasets = ins(datasets_t).on_conflict_do_nothing(index_elements=["digest"])
        self.insert_artifacts = ins(artifacts_t).on_conflict_do_nothing(
            index_elements=["sha256"])
        latest = ins(latest_t)
        self.upsert_latest = latest.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={c: latest.excluded[c] for c in ("value", "is_nan", "step", "timestamp")},
            where=or_(latest.excluded.step > latest_t.c.step,
                      and_(latest.excluded.step == latest_t.c.step,
                           latest.excluded.timestamp >= latest_t.c.timestamp)))
        tags = ins(tags_t)
        self.upsert_tags = tags.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": tags.excluded.value})
        links = ins(run_datasets_t)
        self.upsert_run_datasets = links.on_conflict_do_update(
            index_elements=["run_id", "direction", "name"],
            set_={"dataset_digest": links.excluded.dataset_digest})
        arts = ins(run_artifacts_t)
        self.upsert_run_artifacts = arts.on_conflict_do_update(
            index_elements=["run_id", "name"],
            set_={"kind": arts.excluded.kind, "sha256": arts.excluded.sha256})
        rid: Any = bindparam("rid")
        self.summary_inputs = union_all(
            select(literal("p").label("ns"), params_t.c.key, params_t.c.value.label("text"),
                   sql_cast(null(), Double).label("num"), sql_cast(null(), Boolean).label("is_nan"))
            .where(params_t.c.run_id == rid),
            select(literal("m"), latest_t.c.key, sql_cast(null(), Text), latest_t.c.value,
                   latest_t.c.is_nan).where(latest_t.c.run_id == rid),
            select(literal("t"), tags_t.c.key, tags_t.c.value, sql_cast(null(), Double),
                   sql_cast(null(), Boolean)).where(tags_t.c.run_id == rid),
        )
        self.insert_model = ins(models_t).on_conflict_do_nothing(index_elements=["name"])
        alias = ins(aliases_t)
        self.upsert_alias = alias.on_conflict_do_update(
            index_elements=["model_id", "alias"],
            set_={c: alias.excluded[c] for c in ("version", "updated_at", "updated_by")})
        self.set_summary = update(runs_t).where(runs_t.c.id == bindparam("rid")).values(
            summary=bindparam("summary"))
        self.end_run = (
            update(runs_t).where(runs_t.c.id == bindparam("rid")).values(
                status=bindparam("status"), end_time=bindparam("end_time"),
                heartbeat_at=bindparam("end_time"), error=bindparam("error"),
                environment_digest=func.coalesce(bindparam("env", type_=String),
                                                 runs_t.c.environment_digest),
                git_dirty=func.coalesce(bindparam("dirty", type_=Boolean), runs_t.c.git_dirty)))


class SqlStore:
    """A lineage store in a SQL database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine, url: str, revision: str) -> None:
        self._engine = engine
        self._raw_url = url
        self.url = redact(url)
        self.revision = revision
        self._experiment_ids: dict[str, int] = {}
        self._known_environments: set[str] = set()  # written (and committed) by this store
        self._sql = _Statements(engine.dialect.name)

    # -- plumbing ----------------------------------------------------------------
    def _write(self, fn: Callable[[Connection], T]) -> T:
        return run_in_transaction(self._engine, fn, write=True, url=self._raw_url)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        return run_in_transaction(self._engine, fn, write=False, url=self._raw_url)

    def _write_to(self, run_id: str, fn: Callable[[Connection], Any], *,
                  values: bool = False) -> None:
        """One write transaction about an existing run (RunNotFoundError if there is none).

        ``values``: the write changes params, metrics or tags, so an ended run's summary
        is rewritten with it.
        """
        def work(conn: Connection) -> None:
            status = conn.execute(select(runs_t.c.status).where(runs_t.c.id == run_id)).scalar()
            if status is None:
                raise RunNotFoundError(run_id)
            fn(conn)
            if values and status != "running":
                self._refresh_summary(conn, run_id)

        self._write(work)

    def _refresh_summary(self, conn: Connection, run_id: str) -> None:
        params: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        tags: dict[str, str] = {}
        for ns, key, text, num, is_nan in conn.execute(self._sql.summary_inputs,
                                                        {"rid": run_id}):
            if ns == "p":
                params[key] = json.loads(text)
            elif ns == "m":
                metrics[key] = _metric_value(num, bool(is_nan))
            else:
                tags[key] = text
        conn.execute(self._sql.set_summary,
                     [{"rid": run_id, "summary": summary.encode(params, metrics, tags)}])

    def backfill_summaries(self, batch: int = 500) -> int:
        """Write the summary of every ended run that has none (after an upgrade)."""
        done = 0
        while True:
            ids = self._read(lambda c: c.execute(
                select(runs_t.c.id).where(runs_t.c.summary.is_(None),
                                          runs_t.c.status != "running").limit(batch)
            ).scalars().all())
            if not ids:
                return done

            def work(conn: Connection, ids: Sequence[str] = ids) -> None:
                for run_id in ids:
                    self._refresh_summary(conn, run_id)

            self._write(work)
            done += len(ids)

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r}, revision={self.revision!r})"

    # -- experiments -------------------------------------------------------------
    def _experiment_id(self, conn: Connection, name: str) -> int:
        cached = self._experiment_ids.get(name)
        if cached is not None:
            return cached
        query = select(exp_t.c.id).where(exp_t.c.name == name)
        exp_id = conn.execute(query).scalar()
        if exp_id is not None:  # committed already: safe to remember
            self._experiment_ids[name] = int(exp_id)
            return int(exp_id)
        conn.execute(self._sql.insert_experiment, [{"name": name, "created_at": time.time()}])
        return int(conn.execute(query).scalar_one())

    def list_experiments(self) -> list[Experiment]:
        rows = self._read(lambda c: c.execute(
            select(exp_t.c.id, exp_t.c.name, exp_t.c.created_at).order_by(exp_t.c.name)).all())
        return [Experiment(id=r[0], name=r[1], created_at=r[2]) for r in rows]

    # -- writing -----------------------------------------------------------------
    def start_run(self, run: NewRun) -> None:
        self._write(lambda conn: self._start(conn, run))

    def end_run(self, run_id: str, end: RunEnd) -> None:
        self._write(lambda conn: self._end(conn, run_id, end))
        if end.environment is not None:  # committed: later runs skip the insert
            self._known_environments.add(end.environment.digest)

    def record_runs(self, runs: Sequence[tuple[NewRun, RunEnd]]) -> None:
        """Write several complete runs (start and end) in one transaction."""
        if not runs:
            return

        def work(conn: Connection) -> None:
            for new, end in runs:
                self._start(conn, new)
                self._end(conn, new.id, end)

        self._write(work)
        self._known_environments.update(
            end.environment.digest for _, end in runs if end.environment is not None)

    def _start(self, conn: Connection, run: NewRun) -> None:
        exp_id = self._experiment_id(conn, run.experiment)
        conn.execute(self._sql.insert_run, [dict(
            id=run.id, experiment_id=exp_id, name=run.name, kind=run.kind,
            status="running", start_time=run.start_time, end_time=None,
            heartbeat_at=run.start_time, parent_run_id=run.parent_run_id,
            notebook_path=run.notebook_path, cell_id=run.cell_id,
            execution_count=run.execution_count, code=run.code, code_hash=run.code_hash,
            user=run.user, host=run.host, pid=run.pid, process_token=run.process_token,
            git_commit=run.git_commit, git_dirty=None, environment_digest=None, error=None,
        )])
        self._params(conn, run.id, run.params, fresh=True)
        self._tags(conn, run.id, run.tags)
        self._datasets(conn, run.id, run.inputs)

    def _end(self, conn: Connection, run_id: str, end: RunEnd) -> None:
        env = end.environment
        if env is not None and env.digest not in self._known_environments:
            self._environment(conn, env)
        done = conn.execute(self._sql.end_run, [{
            "rid": run_id, "status": end.status, "end_time": end.end_time,
            "error": end.error, "env": env.digest if env is not None else None,
            "dirty": end.git_dirty}])
        if done.rowcount == 0:
            raise RunNotFoundError(run_id)
        self._params(conn, run_id, end.params)
        self._metrics(conn, run_id, end.metrics)
        self._tags(conn, run_id, end.tags)
        self._datasets(conn, run_id, end.datasets)
        self._artifacts(conn, run_id, end.artifacts)
        self._refresh_summary(conn, run_id)

    def log_batch(self, run_id: str, *, params: Mapping[str, Any] | None = None,
                  metrics: Sequence[Metric] = (), tags: Mapping[str, str] | None = None,
                  datasets: Sequence[DatasetLink] = ()) -> None:
        if not (params or metrics or tags or datasets):
            return

        def work(conn: Connection) -> None:
            self._params(conn, run_id, params or {})
            self._metrics(conn, run_id, metrics)
            self._tags(conn, run_id, tags or {})
            self._datasets(conn, run_id, datasets)

        self._write_to(run_id, work, values=True)

    def log_metrics_many(self, items: Sequence[tuple[str, Sequence[Metric]]]) -> None:
        items = [(run_id, metrics) for run_id, metrics in items if metrics]
        if not items:
            return

        def work(conn: Connection) -> None:
            ids = [run_id for run_id, _ in items]
            status: dict[str, str] = {}
            for chunk in _chunks(ids):
                status.update((r, st) for r, st in conn.execute(
                    select(runs_t.c.id, runs_t.c.status).where(runs_t.c.id.in_(chunk))))
            for run_id, metrics in items:
                if run_id not in status:
                    raise RunNotFoundError(run_id)
                self._metrics(conn, run_id, metrics)
                if status[run_id] != "running":
                    self._refresh_summary(conn, run_id)

        self._write(work)

    def reset_after_fork(self) -> None:
        self._engine.dispose(close=False)  # a forked child must not share connections

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if params:
            self._write_to(run_id, lambda c: self._params(c, run_id, params), values=True)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        if metrics:
            self._write_to(run_id, lambda c: self._metrics(c, run_id, metrics), values=True)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        if tags:
            self._write_to(run_id, lambda c: self._tags(c, run_id, tags), values=True)

    def link_datasets(self, run_id: str, links: Sequence[DatasetLink]) -> None:
        if links:
            self._write_to(run_id, lambda c: self._datasets(c, run_id, links))

    def add_artifacts(self, run_id: str, artifacts: Sequence[RunArtifact]) -> None:
        if artifacts:
            self._write_to(run_id, lambda c: self._artifacts(c, run_id, artifacts))

    def set_git_dirty(self, run_id: str, dirty: bool) -> None:
        self._write_to(run_id, lambda c: c.execute(
            update(runs_t).where(runs_t.c.id == run_id).values(git_dirty=dirty)))

    def heartbeat(self, run_ids: Iterable[str], now: float) -> None:
        ids = list(run_ids)
        if not ids:
            return

        def work(conn: Connection) -> None:
            for chunk in _chunks(ids):
                conn.execute(update(runs_t)
                             .where(runs_t.c.id.in_(chunk), runs_t.c.status == "running")
                             .values(heartbeat_at=now))

        self._write(work)

    def reap_orphans(self, now: float) -> list[str]:
        """Runs left ``running`` by a dead process become ``crashed``."""
        cols = (runs_t.c.id, runs_t.c.pid, runs_t.c.process_token, runs_t.c.heartbeat_at)
        running = self._read(lambda c: c.execute(
            select(*cols).where(runs_t.c.status == "running")).all())
        dead: list[tuple[str, float]] = []
        for run_id, pid, token, beat in running:
            verdict = liveness.owner_is_dead(pid, token)
            if verdict is None:
                verdict = now - beat > liveness.STALE_AFTER_S
            if verdict:
                dead.append((run_id, beat))
        if not dead:
            return []

        def work(conn: Connection) -> list[str]:
            reaped = []
            for run_id, beat in dead:
                msg = ("the process running this run stopped without ending it (killed, or "
                       "its kernel died); last heartbeat at " + utc(beat).isoformat())  # type: ignore[union-attr]
                res = conn.execute(update(runs_t)
                                   .where(runs_t.c.id == run_id, runs_t.c.status == "running")
                                   .values(status="crashed", end_time=beat, error=msg))
                if res.rowcount:
                    self._refresh_summary(conn, run_id)
                    reaped.append(run_id)
            return reaped

        return self._write(work)

    # -- write helpers (inside a transaction) -------------------------------------
    def _params(self, conn: Connection, run_id: str, params: Mapping[str, Any],
                fresh: bool = False) -> None:
        if not params:
            return
        if not fresh:
            existing = dict(conn.execute(
                select(params_t.c.key, params_t.c.value)
                .where(params_t.c.run_id == run_id, params_t.c.key.in_(list(params)))).all())
            for key, stored in existing.items():
                if not _same_param(stored, params[key]):
                    raise ParamConflictError(run_id, key, json.loads(stored), params[key])
            params = {k: v for k, v in params.items() if k not in existing}
            if not params:
                return
        rows = []
        for key, value in params.items():
            text, num = encode_param(value)
            rows.append({"run_id": run_id, "key": key, "value": text, "num_value": num})
        conn.execute(self._sql.insert_params, rows)

    def _metrics(self, conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
        if not metrics:
            return
        conn.execute(self._sql.insert_metrics, [_metric_row(run_id, m) for m in metrics])
        latest: dict[str, Metric] = {}
        for m in metrics:
            cur = latest.get(m.key)
            if cur is None or (m.step, m.timestamp) >= (cur.step, cur.timestamp):
                latest[m.key] = m
        conn.execute(self._sql.upsert_latest,
                     [_metric_row(run_id, m) for m in latest.values()])

    def _tags(self, conn: Connection, run_id: str, tags: Mapping[str, str]) -> None:
        if tags:
            conn.execute(self._sql.upsert_tags,
                         [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])

    def _datasets(self, conn: Connection, run_id: str, links: Sequence[DatasetLink]) -> None:
        if not links:
            return
        now = time.time()
        # one row per name (a later link wins): PostgreSQL cannot upsert a row twice at once
        links = list({(ln.direction, ln.name): ln for ln in links}.values())
        seen: dict[str, DatasetFingerprint] = {ln.dataset.digest: ln.dataset for ln in links}
        conn.execute(self._sql.insert_datasets, [
            {"digest": d.digest, "kind": d.kind, "shape": json.dumps(list(d.shape)),
             "schema": json.dumps([list(s) for s in d.schema], ensure_ascii=False),
             "content_hash": d.content_hash, "size_bytes": d.size_bytes, "source": d.source,
             "created_at": now} for d in seen.values()])
        conn.execute(self._sql.upsert_run_datasets, [
            {"run_id": run_id, "direction": ln.direction, "name": ln.name,
             "dataset_digest": ln.dataset.digest} for ln in links])

    def _artifacts(self, conn: Connection, run_id: str, arts: Sequence[RunArtifact]) -> None:
        if not arts:
            return
        now = time.time()
        arts = list({a.name: a for a in arts}.values())  # one row per name; a later one wins
        conn.execute(self._sql.insert_artifacts, [
            {"sha256": a.artifact.sha256, "size": a.artifact.size,
             "media_type": a.artifact.media_type, "created_at": now} for a in arts])
        conn.execute(self._sql.upsert_run_artifacts, [
            {"run_id": run_id, "name": a.name, "kind": a.kind, "sha256": a.artifact.sha256}
            for a in arts])

    def _environment(self, conn: Connection, env: Environment) -> None:
        conn.execute(self._sql.insert_environment, [{
            "digest": env.digest, "python": env.python, "implementation": env.implementation,
            "platform": env.platform, "packages": json.dumps(dict(env.packages), sort_keys=True),
            "created_at": time.time()}])

    # -- reading -----------------------------------------------------------------
    def resolve_run_id(self, run_id: str) -> str:
        wanted = run_id.strip().lower()
        if not wanted or not all(c in "0123456789abcdef" for c in wanted):
            raise RunNotFoundError(run_id, reason="a run id is made of hex digits")
        if len(wanted) == 32:
            found = self._read(lambda c: c.execute(
                select(runs_t.c.id).where(runs_t.c.id == wanted)).scalar())
            if found is None:
                raise RunNotFoundError(run_id)
            return str(found)
        if len(wanted) < 4:
            raise RunNotFoundError(run_id, reason="give at least 4 characters of the id")
        matches = self._read(lambda c: c.execute(
            select(runs_t.c.id).where(runs_t.c.id.startswith(wanted, autoescape=True))
            .limit(2)).scalars().all())
        if not matches:
            raise RunNotFoundError(run_id)
        if len(matches) > 1:
            raise RunNotFoundError(run_id, reason="several runs start with that; give more of it")
        return str(matches[0])

    def get_run(self, run_id: str) -> RunRecord:
        full = self.resolve_run_id(run_id)

        def work(conn: Connection) -> RunRecord:
            row = conn.execute(
                select(runs_t, exp_t.c.name.label("experiment"))
                .join(exp_t, exp_t.c.id == runs_t.c.experiment_id)
                .where(runs_t.c.id == full)).mappings().one()
            params = {k: json.loads(v) for k, v in conn.execute(
                select(params_t.c.key, params_t.c.value).where(params_t.c.run_id == full)
                .order_by(params_t.c.key))}
            metrics = {k: _metric_value(v, n) for k, v, n in conn.execute(
                select(latest_t.c.key, latest_t.c.value, latest_t.c.is_nan)
                .where(latest_t.c.run_id == full).order_by(latest_t.c.key))}
            tags = dict(conn.execute(select(tags_t.c.key, tags_t.c.value)
                                     .where(tags_t.c.run_id == full).order_by(tags_t.c.key)).all())
            links = conn.execute(
                select(run_datasets_t.c.direction, run_datasets_t.c.name, datasets_t)
                .join(datasets_t, datasets_t.c.digest == run_datasets_t.c.dataset_digest)
                .where(run_datasets_t.c.run_id == full)
                .order_by(run_datasets_t.c.direction, run_datasets_t.c.name)).mappings().all()
            arts = conn.execute(
                select(run_artifacts_t.c.name, run_artifacts_t.c.kind, artifacts_t)
                .join(artifacts_t, artifacts_t.c.sha256 == run_artifacts_t.c.sha256)
                .where(run_artifacts_t.c.run_id == full)
                .order_by(run_artifacts_t.c.name)).mappings().all()
            env = None
            if row["environment_digest"]:
                e = conn.execute(select(env_t).where(
                    env_t.c.digest == row["environment_digest"])).mappings().one()
                env = Environment(digest=e["digest"], python=e["python"],
                                  implementation=e["implementation"], platform=e["platform"],
                                  packages=tuple(sorted(json.loads(e["packages"]).items())))
            datasets = [DatasetLink(name=ln["name"], direction=ln["direction"],
                                    dataset=_fingerprint(ln)) for ln in links]
            return RunRecord(
                id=row["id"], experiment=row["experiment"], name=row["name"], kind=row["kind"],
                status=row["status"], start_time=utc(row["start_time"]),  # type: ignore[arg-type]
                end_time=utc(row["end_time"]), parent_run_id=row["parent_run_id"],
                notebook_path=row["notebook_path"], cell_id=row["cell_id"],
                execution_count=row["execution_count"], code=row["code"],
                code_hash=row["code_hash"], user=row["user"], host=row["host"],
                git_commit=row["git_commit"], git_dirty=row["git_dirty"], error=row["error"],
                params=params, metrics=metrics, tags=tags,
                inputs=tuple(d for d in datasets if d.direction == "input"),
                outputs=tuple(d for d in datasets if d.direction == "output"),
                artifacts=tuple(RunArtifact(name=a["name"], kind=a["kind"], artifact=ArtifactRef(
                    sha256=a["sha256"], size=a["size"], media_type=a["media_type"]))
                    for a in arts),
                environment=env,
            )

        return self._read(work)

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
        by_metric = (limit is not None and bool(order_by)
                     and order_by[0].field.namespace == "metrics")

        def statements(conn: Connection) -> tuple[Select[Any], Select[Any], bool]:
            """The page's query, the count's, and whether the count is capped."""
            conds: list[ColumnElement[bool]] = []
            if experiment is not None:
                conds.append(exp_t.c.name == experiment)
            if kinds:
                # "all but candidates" as NOT IN: an IN list would have SQLite take the
                # kind index and sort every run for a page; this way it walks the
                # start-time index and stops at the page's end (100 ms -> 1 ms at 20,000)
                excluded = [k for k in RUN_KINDS if k not in kinds]
                if len(excluded) < len(set(kinds)):
                    if excluded:
                        conds.append(runs_t.c.kind.not_in(excluded))
                else:
                    conds.append(runs_t.c.kind.in_(list(kinds)))
            if parent_run_id is not None:
                conds.append(runs_t.c.parent_run_id == parent_run_id)
            if where is not None:
                conds.append(_compile(where, _sparse_metric_filters(conn, where)))

            def matching(*columns: Any) -> Select[Any]:
                stmt = select(*columns).join(exp_t, exp_t.c.id == runs_t.c.experiment_id)
                return stmt.where(and_(*conds)) if conds else stmt

            if experiment is None and where is None:
                # only the runs table is asked about: a count the (kind, start_time) index
                # answers alone, without reading a row
                count_stmt = select(func.count()).select_from(runs_t)
                return (matching(*_LISTED),
                        count_stmt.where(and_(*conds)) if conds else count_stmt, False)
            counted = matching(runs_t.c.id)
            if count_limit is not None:
                counted = counted.limit(count_limit)
            return (matching(*_LISTED), select(func.count()).select_from(counted.subquery()),
                    count_limit is not None)

        def work(conn: Connection) -> RunTable:
            page, count_stmt, capped = statements(conn)
            fetched = (_page_by_metric(conn, page, order_by, cast(int, limit), offset)
                       if by_metric else None)
            if fetched is None:
                stmt = _ordered(page, order_by)
                if limit is not None:
                    stmt = stmt.limit(limit)
                if offset:
                    stmt = stmt.offset(offset)
                fetched = list(conn.execute(stmt).all())
            if limit is None or (len(fetched) < limit and (fetched or not offset)):
                total, exact = offset + len(fetched), True  # the page reached the last match
            else:
                total = int(conn.execute(count_stmt).scalar_one())
                exact = not capped or total < cast(int, count_limit)
            rows = [tuple(r[:8]) for r in fetched]
            cols = summary.Columns(len(rows))
            with_summary = [(i, r[8]) for i, r in enumerate(fetched) if r[8] is not None]
            if with_summary:
                at, blobs = zip(*with_summary, strict=True)
                cols.add_summaries(at, blobs)
            self._fill_from_tables(conn, cols, {r[0]: i for i, r in enumerate(fetched)
                                                if r[8] is None})
            return RunTable(rows=rows, params=cols.params(), metrics=cols.metrics,
                            tags=cols.tags, total=total, total_exact=exact)

        return self._read(work)

    def _fill_from_tables(self, conn: Connection, cols: summary.Columns,
                          where: dict[str, int]) -> None:
        """Runs without a summary (still running) are read from the tables."""
        ids = list(where)
        for chunk in _chunks(ids):
            for r, k, v in conn.execute(select(params_t.c.run_id, params_t.c.key,
                                               params_t.c.value)
                                        .where(params_t.c.run_id.in_(chunk))):
                cols.set_param(where[r], k, json.loads(v))
            for r, k, v, n in conn.execute(select(latest_t.c.run_id, latest_t.c.key,
                                                  latest_t.c.value, latest_t.c.is_nan)
                                           .where(latest_t.c.run_id.in_(chunk))):
                cols.set_metric(where[r], k, _metric_value(v, n))
            for r, k, v in conn.execute(select(tags_t.c.run_id, tags_t.c.key, tags_t.c.value)
                                        .where(tags_t.c.run_id.in_(chunk))):
                cols.set_tag(where[r], k, v)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        full = self.resolve_run_id(run_id)
        rows = self._read(lambda c: c.execute(
            select(metrics_t.c.value, metrics_t.c.is_nan, metrics_t.c.step, metrics_t.c.timestamp)
            .where(metrics_t.c.run_id == full, metrics_t.c.key == key)
            .order_by(metrics_t.c.step, metrics_t.c.timestamp, metrics_t.c.id)).all())
        return [Metric(key=key, value=_metric_value(v, n), step=s, timestamp=t)
                for v, n, s, t in rows]

    # -- the model registry -----------------------------------------------------------
    def _model_id(self, conn: Connection, name: str, *, actor: Actor | None = None,
                  description: str | None = None) -> int | None:
        """The model's id, its row locked for this transaction (PostgreSQL; SQLite's
        write transactions are serial already); created first when ``actor`` is given."""
        if actor is not None:
            conn.execute(self._sql.insert_model, [{
                "name": name, "description": description, "created_at": time.time(),
                "created_by": actor.user}])
        found = conn.execute(select(models_t.c.id).where(models_t.c.name == name)
                             .with_for_update()).scalar()
        return None if found is None else int(found)

    def _audit(self, conn: Connection, actor: Actor, action: str, model: str, *,
               alias: str | None = None, version: int | None = None,
               from_version: int | None = None, to_version: int | None = None,
               reason: str | None = None, details: Mapping[str, Any] | None = None,
               deployment: str | None = None) -> AuditEvent:
        now = time.time()
        values = dict(time=now, user=actor.user, host=actor.host, action=action, model=model,
                      alias=alias, version=version, from_version=from_version,
                      to_version=to_version, reason=reason,
                      details=json.dumps(dict(details or {}), sort_keys=True),
                      deployment=deployment)
        event_id = conn.execute(insert(audit_t).values(**values).returning(audit_t.c.id)
                                ).scalar_one()
        return _audit_event({**values, "id": event_id})

    def _move_alias(self, conn: Connection, model_id: int, model: str, alias: str,
                    version: int, *, actor: Actor, reason: str | None, action: str
                    ) -> AuditEvent | None:
        current = conn.execute(select(aliases_t.c.version).where(
            aliases_t.c.model_id == model_id, aliases_t.c.alias == alias)).scalar()
        if current == version and action != "rollback":
            return None  # already there: nothing moved, nothing to audit
        row = {"model_id": model_id, "alias": alias, "version": version,
               "updated_at": time.time(), "updated_by": actor.user}
        conn.execute(self._sql.upsert_alias, [row])
        return self._audit(conn, actor, action, model, alias=alias, version=version,
                           from_version=current, to_version=version, reason=reason)

    def create_model_version(self, new: NewModelVersion, *, actor: Actor,
                             alias: str | None = None, reason: str | None = None
                             ) -> ModelVersion:
        def work(conn: Connection) -> ModelVersion:
            model_id = self._model_id(conn, new.model, actor=actor,
                                      description=new.description)
            assert model_id is not None
            version = int(conn.execute(select(func.coalesce(func.max(versions_t.c.version), 0))
                                       .where(versions_t.c.model_id == model_id)).scalar_one()) + 1
            refs = [new.artifact, *new.files.values()]
            conn.execute(self._sql.insert_artifacts, [
                {"sha256": r.sha256, "size": r.size, "media_type": r.media_type,
                 "created_at": time.time()} for r in refs])
            conn.execute(insert(versions_t).values(
                model_id=model_id, version=version, run_id=new.run_id, flavor=new.flavor,
                format=new.format, sha256=new.artifact.sha256, source=new.source,
                trusted_types=json.dumps(list(new.trusted_types)),
                signature=None if new.signature is None else json.dumps(dict(new.signature)),
                metrics=json.dumps(dict(new.metrics), sort_keys=True, allow_nan=True),
                files=json.dumps({k: v.sha256 for k, v in new.files.items()}, sort_keys=True),
                description=new.description, created_at=time.time(),
                created_by=actor.user))
            self._audit(conn, actor, "register", new.model, version=version, reason=reason,
                        details={"run_id": new.run_id, "sha256": new.artifact.sha256,
                                 "format": new.format})
            if alias is not None:
                self._move_alias(conn, model_id, new.model, alias, version, actor=actor,
                                 reason=reason, action="promote")
            return self._version(conn, model_id, new.model, version)

        return self._write(work)

    def set_alias(self, model: str, alias: str, version: int, *, actor: Actor,
                  reason: str | None = None) -> AuditEvent | None:
        def work(conn: Connection) -> AuditEvent | None:
            model_id = self._require_model(conn, model)
            exists = conn.execute(select(versions_t.c.version).where(
                versions_t.c.model_id == model_id, versions_t.c.version == version)).scalar()
            if exists is None:
                raise ModelNotFoundError(f"{model}/{version}", reason="no such version")
            return self._move_alias(conn, model_id, model, alias, version, actor=actor,
                                    reason=reason, action="promote")

        return self._write(work)

    def rollback_alias(self, model: str, alias: str, *, actor: Actor,
                       reason: str | None = None) -> AuditEvent:
        def work(conn: Connection) -> AuditEvent:
            model_id = self._require_model(conn, model)
            stack: list[int] = []
            for action, to_version in conn.execute(
                    select(audit_t.c.action, audit_t.c.to_version)
                    .where(audit_t.c.model == model, audit_t.c.alias == alias,
                           audit_t.c.action.in_(("promote", "rollback")))
                    .order_by(audit_t.c.id)):
                if action == "rollback":
                    stack.pop()
                else:
                    stack.append(int(to_version))
            if len(stack) < 2:
                raise ModelNotFoundError(f"{model}@{alias}", reason=(
                    "has never pointed at another version, so there is nothing to roll "
                    "back to" if stack else "no such alias"))
            event = self._move_alias(conn, model_id, model, alias, stack[-2], actor=actor,
                                     reason=reason, action="rollback")
            assert event is not None
            return event

        return self._write(work)

    def _require_model(self, conn: Connection, model: str) -> int:
        model_id = self._model_id(conn, model)
        if model_id is None:
            raise ModelNotFoundError(model, reason="no registered model has that name")
        return model_id

    def _version(self, conn: Connection, model_id: int, model: str, version: int
                 ) -> ModelVersion:
        row = conn.execute(select(versions_t).where(
            versions_t.c.model_id == model_id, versions_t.c.version == version)
        ).mappings().one()
        aliases = tuple(conn.execute(select(aliases_t.c.alias).where(
            aliases_t.c.model_id == model_id, aliases_t.c.version == version)
            .order_by(aliases_t.c.alias)).scalars())
        return _model_version(row, model, aliases)

    def get_model_version(self, model: str, *, version: int | None = None,
                          alias: str | None = None) -> ModelVersion:
        def work(conn: Connection) -> ModelVersion:
            model_id = self._require_model(conn, model)
            number = version
            if alias is not None:
                number = conn.execute(select(aliases_t.c.version).where(
                    aliases_t.c.model_id == model_id, aliases_t.c.alias == alias)).scalar()
                if number is None:
                    raise ModelNotFoundError(f"{model}@{alias}", reason="no such alias")
            elif number is None:
                number = conn.execute(select(func.max(versions_t.c.version)).where(
                    versions_t.c.model_id == model_id)).scalar()
                if number is None:
                    raise ModelNotFoundError(model, reason="has no versions")
            exists = conn.execute(select(versions_t.c.version).where(
                versions_t.c.model_id == model_id, versions_t.c.version == number)).scalar()
            if exists is None:
                raise ModelNotFoundError(f"{model}/{number}", reason="no such version")
            return self._version(conn, model_id, model, int(number))

        return self._read(work)

    def list_models(self) -> list[RegisteredModel]:
        def work(conn: Connection) -> list[RegisteredModel]:
            stats = {mid: (latest, n) for mid, latest, n in conn.execute(
                select(versions_t.c.model_id, func.max(versions_t.c.version), func.count())
                .group_by(versions_t.c.model_id))}
            aliases: dict[int, dict[str, int]] = defaultdict(dict)
            for mid, alias, version in conn.execute(
                    select(aliases_t.c.model_id, aliases_t.c.alias, aliases_t.c.version)):
                aliases[mid][alias] = int(version)
            out = []
            for row in conn.execute(select(models_t).order_by(models_t.c.name)).mappings():
                latest, n = stats.get(row["id"], (None, 0))
                out.append(RegisteredModel(
                    name=row["name"], description=row["description"],
                    created_at=utc(row["created_at"]),  # type: ignore[arg-type]
                    created_by=row["created_by"], latest_version=latest, versions=int(n),
                    aliases=dict(sorted(aliases[row["id"]].items()))))
            return out

        return self._read(work)

    def list_versions(self, model: str) -> list[ModelVersion]:
        def work(conn: Connection) -> list[ModelVersion]:
            model_id = self._require_model(conn, model)
            aliases: dict[int, list[str]] = defaultdict(list)
            for alias, version in conn.execute(
                    select(aliases_t.c.alias, aliases_t.c.version)
                    .where(aliases_t.c.model_id == model_id).order_by(aliases_t.c.alias)):
                aliases[int(version)].append(alias)
            rows = conn.execute(select(versions_t).where(versions_t.c.model_id == model_id)
                                .order_by(versions_t.c.version)).mappings()
            return [_model_version(r, model, tuple(aliases[int(r["version"])])) for r in rows]

        return self._read(work)

    def audit_events(self, model: str | None = None, *, alias: str | None = None,
                     deployment: str | None = None) -> list[AuditEvent]:
        stmt = select(audit_t).order_by(audit_t.c.id)
        if model is not None:
            stmt = stmt.where(audit_t.c.model == model)
        if alias is not None:
            stmt = stmt.where(audit_t.c.alias == alias)
        if deployment is not None:
            stmt = stmt.where(audit_t.c.deployment == deployment)
        return self._read(lambda c: [_audit_event(r) for r in c.execute(stmt).mappings()])

    # -- deployments ---------------------------------------------------------------------
    def start_deployment(self, new: NewDeployment, *, actor: Actor) -> Deployment:
        """Record a server that is starting; a live deployment of the same name is a
        DeploymentError (one whose process died is marked crashed first)."""
        self.reap_deployments(time.time(), name=new.name)

        def work(conn: Connection) -> Deployment:
            live = conn.execute(select(deployments_t.c.url).where(
                deployments_t.c.active_name == new.name)).scalar()
            if live is not None:
                raise _already_running(new.name, live)
            try:
                with conn.begin_nested():
                    conn.execute(insert(deployments_t).values(
                        id=new.id, name=new.name, active_name=new.name, model=new.model,
                        alias=new.alias, version=new.version, url=new.url, status="running",
                        workers=new.workers, pid=new.pid, process_token=new.process_token,
                        host=new.host, user=new.user, started_at=new.started_at,
                        heartbeat_at=new.started_at, token_env=new.token_env,
                        log_dir=new.log_dir, server_log=new.server_log,
                        options=json.dumps(dict(new.options), sort_keys=True)))
            except IntegrityError:  # another process took the name a moment ago
                raise _already_running(new.name, None) from None
            self._audit(conn, actor, "deploy", new.model, version=new.version,
                        to_version=new.version, deployment=new.id,
                        details={"deployment": new.name, "url": new.url, "alias": new.alias})
            return self._deployment(conn, new.id)

        return self._write(work)

    def switch_deployment(self, deployment_id: str, from_version: int, to_version: int, *,
                          actor: Actor) -> bool:
        """Record that a deployment now serves ``to_version``; False if it did not serve
        ``from_version`` any more (another worker of the same server recorded it)."""
        def work(conn: Connection) -> bool:
            row = conn.execute(select(deployments_t.c.name, deployments_t.c.model,
                                      deployments_t.c.alias)
                               .where(deployments_t.c.id == deployment_id)).one_or_none()
            if row is None:
                raise DeploymentError(f"no deployment has id {deployment_id!r}")
            moved = conn.execute(update(deployments_t).where(
                deployments_t.c.id == deployment_id, deployments_t.c.version == from_version)
                .values(version=to_version)).rowcount
            if moved:
                self._audit(conn, actor, "switch", row.model, version=to_version,
                            from_version=from_version, to_version=to_version,
                            deployment=deployment_id,
                            details={"deployment": row.name, "alias": row.alias})
            return bool(moved)

        return self._write(work)

    def end_deployment(self, deployment_id: str, status: DeploymentStatus, *, actor: Actor,
                       error: str | None = None) -> Deployment:
        """A deployment stopped (or failed): it no longer holds its name."""
        def work(conn: Connection) -> Deployment:
            current = self._deployment(conn, deployment_id)
            if current.status == "running":
                conn.execute(update(deployments_t).where(deployments_t.c.id == deployment_id)
                             .values(status=status, active_name=None, stopped_at=time.time(),
                                     error=error))
                self._audit(conn, actor, "undeploy", current.model, version=current.version,
                            deployment=deployment_id,
                            details={"deployment": current.name, "status": status})
            return self._deployment(conn, deployment_id)

        return self._write(work)

    def deployment_heartbeat(self, deployment_id: str, now: float) -> None:
        self._write(lambda c: c.execute(update(deployments_t).where(
            deployments_t.c.id == deployment_id, deployments_t.c.status == "running")
            .values(heartbeat_at=now)))

    def get_deployment(self, name_or_id: str) -> Deployment:
        """The latest deployment by that name (or the one with that id)."""
        self.reap_deployments(time.time())

        def work(conn: Connection) -> Deployment:
            found = conn.execute(select(deployments_t.c.id).where(or_(
                deployments_t.c.id == name_or_id, deployments_t.c.name == name_or_id))
                .order_by(deployments_t.c.started_at.desc()).limit(1)).scalar()
            if found is None:
                raise DeploymentError(
                    f"no deployment is named {name_or_id!r}; list them with `%deploy --list` "
                    "or `nbmlops deploy --list`", name=name_or_id)
            return self._deployment(conn, found)

        return self._read(work)

    def list_deployments(self, *, running: bool = False) -> list[Deployment]:
        """Deployments, newest first (only live ones with ``running``)."""
        self.reap_deployments(time.time())
        stmt = select(deployments_t.c.id).order_by(deployments_t.c.started_at.desc())
        if running:
            stmt = stmt.where(deployments_t.c.status == "running")
        return self._read(lambda c: [self._deployment(c, i) for i in c.execute(stmt).scalars()])

    def reap_deployments(self, now: float, *, name: str | None = None) -> list[str]:
        """Deployments left ``running`` by a process that is gone become ``crashed``."""
        stmt = select(deployments_t.c.id, deployments_t.c.pid, deployments_t.c.process_token,
                      deployments_t.c.heartbeat_at).where(deployments_t.c.status == "running")
        if name is not None:
            stmt = stmt.where(deployments_t.c.name == name)
        dead = []
        for dep_id, pid, token, beat in self._read(lambda c: c.execute(stmt).all()):
            verdict = liveness.owner_is_dead(pid, token)
            if verdict is None:
                verdict = now - (beat or 0.0) > liveness.STALE_AFTER_S
            if verdict:
                dead.append(dep_id)
        for dep_id in dead:
            self.end_deployment(dep_id, "crashed", actor=Actor(user=None, host=None),
                                error="the server process stopped without saying so "
                                      "(killed, or its machine went down)")
        return dead

    def _deployment(self, conn: Connection, deployment_id: str) -> Deployment:
        row = conn.execute(select(deployments_t).where(deployments_t.c.id == deployment_id)
                           ).mappings().one_or_none()
        if row is None:
            raise DeploymentError(f"no deployment has id {deployment_id!r}")
        return Deployment(
            id=row["id"], name=row["name"], model=row["model"], alias=row["alias"],
            version=int(row["version"]), url=row["url"], status=row["status"],
            workers=int(row["workers"]), pid=row["pid"], process_token=row["process_token"],
            host=row["host"], user=row["user"],
            started_at=utc(row["started_at"]),  # type: ignore[arg-type]
            stopped_at=utc(row["stopped_at"]), heartbeat_at=utc(row["heartbeat_at"]),
            token_env=row["token_env"], log_dir=row["log_dir"], server_log=row["server_log"],
            error=row["error"], options=json.loads(row["options"]))

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


def _model_version(row: Any, model: str, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        model=model, version=int(row["version"]), run_id=row["run_id"], flavor=row["flavor"],
        format=row["format"], sha256=row["sha256"], source=row["source"],
        trusted_types=tuple(json.loads(row["trusted_types"])),
        signature=None if row["signature"] is None else json.loads(row["signature"]),
        metrics=json.loads(row["metrics"]), files=json.loads(row["files"]),
        description=row["description"], created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"], aliases=aliases)


def _already_running(name: str, url: str | None) -> DeploymentError:
    where = f" at {url}" if url else ""
    return DeploymentError(
        f"a deployment named {name!r} is already running{where}; stop it first "
        f"(`%deploy --stop {name}`) or give this one another name (--name)", name=name)


def _audit_event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=int(row["id"]), time=utc(row["time"]), user=row["user"],  # type: ignore[arg-type]
        host=row["host"], action=row["action"], model=row["model"], alias=row["alias"],
        version=row["version"], from_version=row["from_version"],
        to_version=row["to_version"], reason=row["reason"], details=json.loads(row["details"]),
        deployment=row["deployment"])


def _fingerprint(row: Any) -> DatasetFingerprint:
    return DatasetFingerprint(
        digest=row["digest"], kind=row["kind"], shape=tuple(json.loads(row["shape"])),
        schema=tuple((str(n), str(t)) for n, t in json.loads(row["schema"])),
        content_hash=row["content_hash"], size_bytes=row["size_bytes"], source=row["source"])


# -- compiling filters -------------------------------------------------------------------

_ATTR_COLUMNS: dict[str, Any] = {
    "run_id": runs_t.c.id, "experiment": exp_t.c.name, "name": runs_t.c.name,
    "kind": runs_t.c.kind, "status": runs_t.c.status, "start": runs_t.c.start_time,
    "end": runs_t.c.end_time, "user": runs_t.c.user, "host": runs_t.c.host,
    "notebook": runs_t.c.notebook_path, "cell_id": runs_t.c.cell_id,
    "parent": runs_t.c.parent_run_id, "git_commit": runs_t.c.git_commit,
}


def _attr_column(key: str) -> Any:
    if key == "duration_s":
        return runs_t.c.end_time - runs_t.c.start_time
    return _ATTR_COLUMNS[key]


def _apply(col: Any, op: str, value: Any) -> ColumnElement[bool]:
    if value is None:
        if op == "==":
            return col.is_(None)  # type: ignore[no-any-return]
        if op == "!=":
            return col.is_not(None)  # type: ignore[no-any-return]
        raise QueryError(f"None can only be compared with == or != (not {op})",
                         expression=str(value))
    match op:
        case "==":
            return col == value  # type: ignore[no-any-return]
        case "!=":
            return col != value  # type: ignore[no-any-return]
        case "<":
            return col < value  # type: ignore[no-any-return]
        case "<=":
            return col <= value  # type: ignore[no-any-return]
        case ">":
            return col > value  # type: ignore[no-any-return]
        case ">=":
            return col >= value  # type: ignore[no-any-return]
        case "in":
            return col.in_(list(value))  # type: ignore[no-any-return]
        case "not in":
            return col.not_in(list(value))  # type: ignore[no-any-return]
    raise QueryError(f"operator {op} is not supported", expression=op)


def _is_number(value: Any) -> bool:
    values = value if isinstance(value, tuple) else (value,)
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _compile_compare(cmp: Compare, sparse: frozenset[Compare] = frozenset()
                     ) -> ColumnElement[bool]:
    """One comparison. It holds only where the run has a value for the field (so ``not``
    negates exactly); ``== None`` means "not logged", and so does None in a list.

    A metric comparison in ``sparse`` (few runs pass it) is written as ``id IN (the runs
    the metric's index finds)`` so that the database starts from those few runs; any
    other is an ``EXISTS`` checked on each run it reaches, which stops early when many
    runs pass. Both mean the same."""
    field, op, value = cmp.field, cmp.op, cmp.value
    if cmp in sparse:
        return runs_t.c.id.in_(select(latest_t.c.run_id).where(
            latest_t.c.key == field.key, _apply(latest_t.c.value, op, value)))
    if isinstance(value, tuple) and None in value:
        missing = _compile_compare(Compare(field, "==" if op == "in" else "!=", None))
        rest = tuple(v for v in value if v is not None)
        if not rest:
            return missing
        others = _compile_compare(Compare(field, op, rest))
        return or_(missing, others) if op == "in" else and_(missing, others)
    if field.namespace == "attr":
        col = _attr_column(field.key)
        if value is None:
            return _apply(col, op, value)
        return and_(col.is_not(None), _apply(col, op, value))
    if field.namespace == "metrics":
        t = latest_t
        present = exists().where(t.c.run_id == runs_t.c.id, t.c.key == field.key)
        if value is None and op in ("==", "!="):
            return not_(present) if op == "==" else present
        if not _is_number(value):
            raise QueryError(f"metrics are numbers: compare {field} with a number",
                             expression=f"{field} {op} {value!r}")
        cond = _apply(t.c.value, op, value)
        if op in ("!=", "not in"):  # NaN (stored as NULL) differs from every number
            cond = or_(t.c.is_nan, cond)
        return exists().where(t.c.run_id == runs_t.c.id, t.c.key == field.key, cond)
    if field.namespace == "params":
        p = params_t
        base = (p.c.run_id == runs_t.c.id, p.c.key == field.key, p.c.value != "null")
        if value is None and op in ("==", "!="):
            has = exists().where(*base)
            return not_(has) if op == "==" else has
        if _is_number(value):
            cond = _apply(p.c.num_value, op, value)
            if op in ("!=", "not in"):  # a param that is not a number differs from every number
                cond = or_(p.c.num_value.is_(None), cond)
            return exists().where(*base, cond)
        encoded = (tuple(encode_param(v)[0] for v in value) if isinstance(value, tuple)
                   else encode_param(value)[0])
        return exists().where(*base, _apply(p.c.value, op, encoded))
    t2 = tags_t
    base2 = (t2.c.run_id == runs_t.c.id, t2.c.key == field.key)
    if value is None and op in ("==", "!="):
        has2 = exists().where(*base2)
        return not_(has2) if op == "==" else has2
    text = tuple(str(v) for v in value) if isinstance(value, tuple) else str(value)
    return exists().where(*base2, _apply(t2.c.value, op, text))


def _compile(node: Filter, sparse: frozenset[Compare] = frozenset()) -> ColumnElement[bool]:
    if isinstance(node, Compare):
        return _compile_compare(node, sparse)
    if isinstance(node, And):
        return and_(true(), *(_compile(i, sparse) for i in node.items))
    if isinstance(node, Or):
        return or_(*(_compile(i) for i in node.items))
    if isinstance(node, Not):
        return not_(_compile(node.item))
    raise TypeError(f"not a filter: {node!r}")


def _conjuncts(node: Filter) -> Iterator[Compare]:
    """The comparisons every match must pass (those under the top-level ``and``s)."""
    if isinstance(node, Compare):
        yield node
    elif isinstance(node, And):
        for item in node.items:
            yield from _conjuncts(item)


def _sparse_metric_filters(conn: Connection, where: Filter) -> frozenset[Compare]:
    """The metric comparisons every match must pass that fewer than _SPARSE runs pass,
    found by counting (at most that far) in the metric's (key, value) index."""
    sparse = set()
    for cmp in _conjuncts(where):
        values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
        if (cmp.field.namespace != "metrics" or cmp.op in ("!=", "not in")
                or not values or not _is_number(cmp.value)):
            continue  # None (not logged), NaN-aware negations, or a QueryError to come
        passing = select(latest_t.c.run_id).where(
            latest_t.c.key == cmp.field.key, _apply(latest_t.c.value, cmp.op, cmp.value))
        found = conn.execute(select(func.count()).select_from(
            passing.limit(_SPARSE).subquery())).scalar_one()
        if found < _SPARSE:
            sparse.add(cmp)
    return frozenset(sparse)


def _order(stmt: Select[Any], key: SortKey, i: int) -> Select[Any]:
    field: Field = key.field

    def by(col: Any) -> Any:
        return (col.desc() if key.descending else col.asc()).nulls_last()

    if field.namespace == "attr":
        return stmt.order_by(by(_attr_column(field.key)))
    if field.namespace == "metrics":
        lm = aliased(LatestMetricRow, name=f"sort_m{i}")
        stmt = stmt.outerjoin(lm, and_(lm.run_id == runs_t.c.id, lm.key == field.key))
        return stmt.order_by(by(lm.value))
    if field.namespace == "params":
        pm = aliased(ParamRow, name=f"sort_p{i}")
        stmt = stmt.outerjoin(pm, and_(pm.run_id == runs_t.c.id, pm.key == field.key))
        return stmt.order_by(by(pm.num_value), by(pm.value))
    tg = aliased(TagRow, name=f"sort_t{i}")
    stmt = stmt.outerjoin(tg, and_(tg.run_id == runs_t.c.id, tg.key == field.key))
    return stmt.order_by(by(tg.value))


def _ordered(stmt: Select[Any], order_by: Sequence[SortKey], first: int = 0) -> Select[Any]:
    """``stmt`` sorted by ``order_by``, then newest first (and by id, for a total order)."""
    for i, key in enumerate(order_by, start=first):
        stmt = _order(stmt, key, i)
    return stmt.order_by(runs_t.c.start_time.desc(), runs_t.c.id)


def _page_by_metric(conn: Connection, page: Select[Any], order_by: Sequence[SortKey],
                    limit: int, offset: int) -> list[Any] | None:
    """A page sorted first by a metric, driven by the (key, value) index: the runs with a
    value for the metric are read in the index's order and the read stops at the page's
    end, instead of sorting every matching run (1.4 s -> a few ms at 100,000 runs).

    The walk is bounded: it reads only the ``_METRIC_WINDOW`` best values (and their ties);
    when the runs there that match the filter do not fill the page, the matches are sparse
    and ``None`` says to sort them the usual way. When every value fits the window, the
    runs without one (no value, or NaN) follow, as they sort last either way."""
    first, rest = order_by[0], order_by[1:]
    key = aliased(LatestMetricRow, name="sort_key")
    has_value = and_(key.run_id == runs_t.c.id, key.key == first.field.key,
                     key.value.is_not(None))
    best = key.value.desc() if first.descending else key.value.asc()
    window = max(_METRIC_WINDOW, 4 * (offset + limit))
    edge = conn.execute(select(key.value).where(key.key == first.field.key,
                                                key.value.is_not(None))
                        .order_by(best).limit(1).offset(window - 1)).scalar()
    valued = page.join(key, has_value)
    if edge is not None:
        valued = valued.where(key.value >= edge if first.descending else key.value <= edge)
    head = _ordered(valued.order_by(best), rest, first=1)
    rows = list(conn.execute(head.limit(limit).offset(offset)).all())
    if len(rows) == limit:
        return rows
    if edge is not None:
        return None
    before = (offset + len(rows) if rows else
              int(conn.execute(select(func.count()).select_from(valued.subquery()))
                  .scalar_one()))
    tail = _ordered(page.where(~exists().where(has_value)), rest, first=1)
    rows += conn.execute(tail.limit(limit - len(rows)).offset(max(0, offset - before))).all()
    return rows
