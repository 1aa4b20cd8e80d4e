"""What each route answers, read through :mod:`nbmlops.api` and shaped as the payloads of
:mod:`nbmlops.server.payloads`. No tornado here: each function is testable on its own and
raises nbmlops' own errors (or ``ValueError`` for bad input), which the handlers map to
HTTP statuses in one place.

Every read is an API call returning typed records (a page of runs as the store lists them,
drift checks, the lineage graph, the registry's models and versions, deployments); this
module only maps them to payloads. The server only looks (``api.look_only()``): where there
is no store yet, a listing says so (a 503 naming where it would be) instead of showing an
empty panel, and nothing is created.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from nbmlops import _types as t
from nbmlops import api
from nbmlops.server import payloads as p

if TYPE_CHECKING:
    import pandas as pd


def _looking() -> None:
    """Open the store to read (once per process): NoStoreError where there is none yet."""
    api.workspace("read")


# -- conversions -------------------------------------------------------------------------

def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _iso(value: datetime) -> str:
    return value.isoformat()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON-ready dicts: NaN/NA become None, times ISO strings."""
    rows: list[dict[str, Any]] = json.loads(
        frame.to_json(orient="records", date_format="iso", date_unit="us", default_handler=str))
    return rows


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _dataset(link: t.DatasetLink) -> p.DatasetLink:
    d = link.dataset
    return p.DatasetLink(name=link.name, direction=link.direction, digest=d.digest,
                         kind=d.kind, shape=list(d.shape),
                         columns=[[name, dtype] for name, dtype in d.schema],
                         size_bytes=d.size_bytes, source=d.source)


def run_detail(run: t.RunRecord) -> p.RunDetail:
    end = run.end_time
    return p.RunDetail(
        run_id=run.id, experiment=run.experiment, name=run.name, kind=run.kind,
        status=run.status, start=_iso(run.start_time), end=iso(end),
        duration_s=None if end is None else (end - run.start_time).total_seconds(),
        parent_run_id=run.parent_run_id, notebook_path=run.notebook_path, cell_id=run.cell_id,
        execution_count=run.execution_count, code=run.code, code_hash=run.code_hash,
        user=run.user, host=run.host, git_commit=run.git_commit, git_dirty=run.git_dirty,
        error=run.error, params=json.loads(json.dumps(dict(run.params), default=str)),
        metrics={k: v for k, v in run.metrics.items() if _number(v) is not None},
        tags=dict(run.tags), inputs=[_dataset(d) for d in run.inputs],
        outputs=[_dataset(d) for d in run.outputs],
        artifacts=[p.RunArtifact(name=a.name, kind=a.kind, sha256=a.artifact.sha256,
                                 size=a.artifact.size, media_type=a.artifact.media_type)
                   for a in run.artifacts],
        environment=None if run.environment is None else {
            "digest": run.environment.digest, "python": run.environment.python,
            "implementation": run.environment.implementation,
            "platform": run.environment.platform,
            "packages": dict(run.environment.packages)})


def model_summary(m: t.RegisteredModel) -> p.ModelSummary:
    return p.ModelSummary(name=m.name, description=m.description, created_at=_iso(m.created_at),
                          created_by=m.created_by, latest_version=m.latest_version,
                          versions=m.versions, aliases=dict(m.aliases))


def model_version(v: t.ModelVersion) -> p.ModelVersion:
    return p.ModelVersion(model=v.model, version=v.version, run_id=v.run_id, flavor=v.flavor,
                          format=v.format, metrics=dict(v.metrics),
                          signature=None if v.signature is None else dict(v.signature),
                          description=v.description, created_at=_iso(v.created_at),
                          created_by=v.created_by, aliases=list(v.aliases))


def audit_event(e: t.AuditEvent) -> p.AuditEvent:
    return p.AuditEvent(time=_iso(e.time), action=e.action, model=e.model, alias=e.alias,
                        version=e.version, from_version=e.from_version,
                        to_version=e.to_version, user=e.user, host=e.host, reason=e.reason)


def deployment(d: t.Deployment, records: int = 1) -> p.Deployment:
    return p.Deployment(id=d.id, name=d.name, status=d.status, url=d.url, model=d.model,
                        alias=d.alias, version=d.version, workers=d.workers, pid=d.pid,
                        host=d.host, started_at=_iso(d.started_at),
                        stopped_at=iso(d.stopped_at), records=records, error=d.error)


# -- runs ----------------------------------------------------------------------------------

def _column(values: Any) -> list[Any]:
    """A RunTable column as Python values (a NumPy array converted in one call)."""
    return values if isinstance(values, list) else values.tolist()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _start(seconds: float) -> str:
    """A run's start as listed: ISO 8601 in UTC, cut to the microsecond, with a ``Z``; the
    instant ``nbmlops.runs()`` shows (pandas rounds the fraction to the nanosecond first)."""
    whole = math.floor(seconds)
    nanoseconds = whole * 10**9 + int(round(seconds - whole, 9) * 1e9)
    return (_EPOCH + timedelta(microseconds=nanoseconds // 1000)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def _given(value: Any) -> bool:
    """Whether a RunTable cell holds a value (numeric columns mark a missing one NaN)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def summaries(table: t.RunTable) -> list[p.RunSummary]:
    """The table's runs as listed, in its order. A run's missing params, metrics and tags
    are left out, and so are metrics that are not finite numbers (JSON has none)."""
    params = [(k, _column(v)) for k, v in sorted(table.params.items())]
    metrics = [(k, _column(v)) for k, v in sorted(table.metrics.items())]
    tags = [(k, _column(v)) for k, v in sorted(table.tags.items())]
    return [p.RunSummary(
        run_id=run_id, experiment=experiment, name=name, kind=kind, parent_run_id=parent,
        status=status, start=_start(start),
        duration_s=None if end is None else end - start,
        params={k: col[i] for k, col in params if _given(col[i])},
        metrics={k: col[i] for k, col in metrics if math.isfinite(col[i])},
        tags={k: col[i] for k, col in tags if col[i] is not None})
        for i, (run_id, experiment, name, kind, status, start, end, parent)
        in enumerate(table.rows)]


def runs(*, experiment: str | None = None, status: str | None = None, name: str | None = None,
         where: str | None = None, sort: str | None = None, parent: str | None = None,
         limit: int = 50, offset: int = 0) -> p.Page[p.RunSummary]:
    """A page of the runs listings show, newest first unless sorted (see
    :func:`nbmlops.api.run_page`: a filtered ``total`` may be a lower bound); with
    ``parent``, that run's children (a search's candidates) of every kind."""
    _looking()
    table = api.run_page(experiment=experiment, status=status, name=name, where=where,
                         sort=sort, parent=parent, limit=limit, offset=offset)
    return p.Page(items=summaries(table), total=table.total, total_exact=table.total_exact,
                  limit=limit, offset=offset)


def run(run_id: str) -> p.RunDetail:
    return run_detail(api.get_run(run_id))


def metric_keys(experiment: str | None = None) -> p.MetricKeys:
    """The metric names of an experiment's runs (of every run without one), most common
    first: what the runs table shows as its columns by default."""
    _looking()
    looked_at, counts = api.metric_keys(experiment)
    return p.MetricKeys(experiment=experiment, looked_at=looked_at,
                        keys=[p.MetricKey(key=k, runs=n) for k, n in counts])


def metric_history(run_id: str, key: str, *, limit: int, offset: int
                   ) -> p.Page[p.MetricPoint]:
    """A page of one metric's values, in order of step then time."""
    total, steps, values, times = _series(run_id, key, limit=limit, offset=offset)
    items = [p.MetricPoint(step=step, value=value if math.isfinite(value) else None,
                           timestamp=when)
             for step, value, when in zip(steps, values, times, strict=True)]
    return p.Page(items=items, total=total, total_exact=True, limit=limit, offset=offset)


@contextlib.contextmanager
def _no_collection() -> Any:
    """No garbage collection while a long history is read: its 100,000 rows make 500,000
    objects, none of them cyclic, and in the server's large heap the collections that many
    allocations set off cost more than the read (over HTTP: 0.7 s -> 0.3 s)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _series(run_id: str, key: str, *, limit: int, offset: int
            ) -> tuple[int, list[int], list[float], list[float]]:
    _looking()
    with _no_collection():
        total, steps, values, times = api.metric_series(run_id, key, offset=offset, limit=limit)
    if not total and key not in api.get_run(run_id).metrics:
        raise ValueError(f"run {run_id[:8]} has no metric {key!r}")
    return total, steps, values, times


def _chart(run_id: str, key: str, *, points: int, x: str, low: float | None,
           high: float | None, limit: int) -> t.MetricChart | None:
    _looking()
    chart = api.metric_chart(run_id, key, points=points, x=x, low=low, high=high,
                             limit=limit)
    if chart is not None and not chart.total and key not in api.get_run(run_id).metrics:
        raise ValueError(f"run {run_id[:8]} has no metric {key!r}")
    return chart


def _float64_base64(numbers: list[Any], *, finite: bool = False) -> str:
    """Little-endian float64, base64; with ``finite``, what is not finite as NaN."""
    import numpy as np

    packed = np.asarray(numbers, dtype="<f8")
    if finite:
        packed = np.where(np.isfinite(packed), packed, np.nan).astype("<f8")
    return base64.b64encode(packed.tobytes()).decode("ascii")


def metric_series(run_id: str, key: str, *, limit: int, offset: int,
                  points: int | None = None, x: str = "step", low: float | None = None,
                  high: float | None = None) -> p.MetricSeries:
    """A page of one metric's values as columns of packed float64, in order of step then
    time (a value that is not finite as NaN).

    With ``low``/``high``, only the page's values whose ``x`` (``step`` or ``time``) lies
    between them; with ``points``, at most that many of them, chosen by :func:`decimation`
    (what a chart of a few hundred pixels needs of 100,000 values) when there are more.
    ``in_range`` says how many values there were before that choice, ``decimated`` whether
    it was made."""
    if x not in ("step", "time"):
        raise ValueError(f"x must be step or time, not {x!r}")
    chart = None if points is None or offset else _chart(
        run_id, key, points=points, x=x, low=low, high=high, limit=limit)
    if chart is not None:  # chosen in the store: ~1,800 rows read, not 100,000
        return p.MetricSeries(
            key=key, encoding="float64-base64", steps=_float64_base64(chart.steps),
            values=_float64_base64(chart.values, finite=True),
            timestamps=_float64_base64(chart.timestamps), total=chart.total, limit=limit,
            offset=offset, decimated=chart.decimated, in_range=chart.in_range)
    total, steps, values, times = _series(run_id, key, limit=limit, offset=offset)
    if points is None and low is None and high is None:
        return p.MetricSeries(
            key=key, encoding="float64-base64", steps=_float64_base64(steps),
            values=_float64_base64(values, finite=True),
            timestamps=_float64_base64(times), total=total, limit=limit, offset=offset,
            decimated=False, in_range=len(values))
    import numpy as np

    columns: list[Any] = [np.asarray(steps, dtype="<f8"), _finite(values),
                          np.asarray(times, dtype="<f8")]
    along = columns[0] if x == "step" else columns[2]
    if not _ascending(along):  # times logged out of step order: charted in time order
        order = np.argsort(along, kind="stable")
        columns = [c[order] for c in columns]
        along = along[order]
    start = 0 if low is None else int(np.searchsorted(along, low, side="left"))
    stop = len(along) if high is None else int(np.searchsorted(along, high, side="right"))
    columns = [c[start:stop] for c in columns]
    in_range = len(columns[0])
    chosen = None if points is None or in_range <= points else decimation(
        along[start:stop], columns[1], points)
    if chosen is not None:
        columns = [c[chosen] for c in columns]
    packed = [base64.b64encode(c.astype("<f8").tobytes()).decode("ascii") for c in columns]
    return p.MetricSeries(
        key=key, encoding="float64-base64", steps=packed[0], values=packed[1],
        timestamps=packed[2], total=total, limit=limit, offset=offset,
        decimated=chosen is not None, in_range=in_range)


MAX_CHARTED = 24  # metrics a run's tab reads the history of (its table lists them all)


def metric_charts(run_id: str, *, points: int, limit: int) -> p.MetricCharts:
    """Each of a run's metrics (the first MAX_CHARTED by name) as :func:`metric_series`
    answers it with ``points``: what the run's chart reads, asked for as the run's tab
    opens, before the run's own record says which metrics it has."""
    run = api.get_run(run_id)
    keys = sorted(run.metrics)
    return p.MetricCharts(
        run_id=run.id, points=points, keys=len(keys),
        items=[metric_series(run.id, key, limit=limit, offset=0, points=points)
               for key in keys[:MAX_CHARTED]])


def _finite(numbers: list[float]) -> Any:
    import numpy as np

    values = np.asarray(numbers, dtype="<f8")
    return np.where(np.isfinite(values), values, np.nan)


def _ascending(xs: Any) -> bool:
    import numpy as np

    return bool(len(xs) < 2 or np.all(xs[1:] >= xs[:-1]))


def decimation(xs: Any, values: Any, points: int) -> Any:
    """Which of ``values`` (at ascending ``xs``) a chart of ``points`` points draws: the
    first and the last, and in each of equal spans of x the smallest and the largest value
    (a spike shows however narrow) and, where the span has NaN, its first NaN (a gap stays
    a gap). Indices in x order, at most ``points`` of them (the min/max-per-bucket of W&B's
    and TensorBoard's charts, about two per pixel)."""
    import numpy as np

    n = len(xs)
    gaps = np.isnan(values)
    per_bucket = 3 if gaps.any() else 2
    buckets = max(1, (points - 2) // per_bucket)
    lo, hi = float(xs[0]), float(xs[-1])
    if hi > lo:
        bucket = np.minimum(((xs - lo) * (buckets / (hi - lo))).astype(np.int64), buckets - 1)
    else:  # one x for all: equal counts
        bucket = np.arange(n, dtype=np.int64) * buckets // n
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    segment = np.cumsum(np.r_[True, bucket[1:] != bucket[:-1]]) - 1  # contiguous: xs ascend

    def first_of_each(hits: Any) -> Any:
        at = np.flatnonzero(hits)
        seg = segment[at]
        return at[np.r_[True, seg[1:] != seg[:-1]]] if len(at) else at

    kept = [np.array([0, n - 1]), first_of_each(gaps)]
    finite = ~gaps
    if finite.any():
        for extreme in (np.fmin, np.fmax):  # NaN only where a span has nothing else
            per_span = extreme.reduceat(values, starts)
            kept.append(first_of_each(finite & (values == per_span[segment])))
    return np.unique(np.concatenate(kept))


def artifact(run_id: str, name: str) -> tuple[bytes, str]:
    """One artifact's bytes (verified against its sha256) and media type."""
    _looking()
    return api.read_artifact(run_id, name)


def run_slice(run_id: str) -> p.RunSlice:
    """The run's slice (its cells in the order they ran, with their code) and flags."""
    run = api.get_run(run_id)
    sl = run.slice
    if sl is None:
        return p.RunSlice(run_id=run.id, recorded=False, session_id=None, clean=None,
                          cells=[], flags=[], reproduce=None)
    return p.RunSlice(
        run_id=run.id, recorded=True, session_id=sl.session_id, clean=sl.clean,
        cells=[p.SliceCell(order=k, seq=c.seq, execution_count=c.execution_count,
                           cell_id=c.cell_id, code=c.code)
               for k, c in enumerate(sl.cells, start=1)],
        flags=[p.HiddenStateFlag(kind=f.kind, name=f.name, detail=f.detail)
               for f in sl.flags],
        reproduce=f"nbmlops reproduce {run.id[:8]}")


def experiments() -> list[p.Experiment]:
    _looking()
    return [p.Experiment(id=e.id, name=e.name,
                         created_at=datetime.fromtimestamp(e.created_at, tz=UTC).isoformat())
            for e in api.list_experiments()]


def _differing(items: Sequence[p.ComparedRun], part: Literal["params", "metrics"]
               ) -> tuple[list[str], list[str]]:
    """The keys of ``part`` any run has, sorted, and those whose values differ between
    the runs that have one: a run without the key is missing there, not different (a
    param only one run sets is no difference)."""
    values: list[dict[str, Any]] = [dict(item[part]) for item in items]
    keys = sorted({k for v in values for k in v})
    differ = [k for k in keys if len({_same_key(v[k]) for v in values if k in v}) > 1]
    return keys, differ


def _same_key(value: Any) -> Any:
    """What two values equal as JSON share (1 is not 1.0 nor true): the value with its type
    for strings, whole numbers, booleans and finite numbers, JSON text for anything else
    (lists, mappings, NaN). A thousand runs' values are compared without a JSON encoding
    each (which was three quarters of a comparison's time)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or (kind is float and math.isfinite(value)):
        return kind, value
    return None, json.dumps(value, sort_keys=True, default=str)


def compare(ids: Sequence[str]) -> p.Comparison:
    """Runs side by side, in the order asked for (each once)."""
    _looking()
    table = api.runs_by_id(ids)
    params_of = [(k, _column(v)) for k, v in sorted(table.params.items())]
    metrics_of = [(k, _column(v)) for k, v in sorted(table.metrics.items())]
    items = [p.ComparedRun(
        run_id=row[0], name=row[2],
        params={k: col[i] for k, col in params_of if _given(col[i])},
        metrics={k: col[i] for k, col in metrics_of if math.isfinite(col[i])})
        for i, row in enumerate(table.rows)]
    params, params_differ = _differing(items, "params")
    metrics, metrics_differ = _differing(items, "metrics")
    return p.Comparison(runs=items, params=params, metrics=metrics,
                        differing=p.Differing(params=params_differ, metrics=metrics_differ))


def metric_curves(ids: Sequence[str], metric: str) -> p.MetricCurves:
    """Each run's history of ``metric`` (step, value, time), in the order asked; a run
    that never logged it has an empty curve. Values that are not finite are null."""
    _looking()
    table = api.runs_by_id(ids)
    curves = []
    for run_id in (row[0] for row in table.rows):
        history = api.metric_history(run_id, metric)
        curves.append(p.MetricCurve(
            run_id=run_id, steps=[m.step for m in history],
            values=[m.value if math.isfinite(m.value) else None for m in history],
            times=[m.timestamp for m in history]))
    return p.MetricCurves(metric=metric, curves=curves)


# -- the model registry ----------------------------------------------------------------------

def models() -> list[p.ModelSummary]:
    _looking()
    return [model_summary(m) for m in api.list_models()]


def model(name: str) -> p.ModelDetail:
    _looking()
    found = api.get_model(name)
    return p.ModelDetail(model=model_summary(found),
                         versions=[model_version(v) for v in api.list_versions(name)])


def model_card(name: str, version: int) -> p.ModelCard:
    _looking()
    found = api.model_version(f"{name}/{version}")
    return p.ModelCard(model=found.model, version=found.version,
                       html=api.model_card_html(found))


def changes() -> p.Changes:
    """Null before there is a store (polling it is no error)."""
    return p.Changes(marker=api.audit_head())


def model_history(name: str) -> list[p.AuditEvent]:
    _looking()
    api.get_model(name)
    return [p.AuditEvent(**row)  # type: ignore[typeddict-item]
            for row in records(api.model_history(name))]


def protection(found: t.AliasProtection) -> p.AliasProtection:
    return p.AliasProtection(model=found.model, alias=found.alias, approvals=found.approvals,
                             require=list(found.require), role=found.role,
                             created_at=_iso(found.created_at), created_by=found.created_by)


def approval_request(r: t.ApprovalRequest) -> p.ApprovalRequest:
    return p.ApprovalRequest(
        id=r.id, model=r.model, alias=r.alias, action=r.action, version=r.version,
        from_version=r.from_version, status=r.status, approvals=r.approvals,
        approvals_needed=r.approvals_needed, requested_by=r.requested_by,
        requested_at=_iso(r.requested_at), reason=r.reason,
        votes=[p.ApprovalVote(user=v.user, decision=v.decision, time=_iso(v.time),
                              reason=v.reason) for v in r.votes],
        closed_at=iso(r.closed_at),
        failing_gates=api.failing_gates(r) if r.status == "open" else [])


DECIDED_SHOWN = 20  # decided requests listed under the open ones


def approvals(name: str) -> p.Approvals:
    """The model's protected aliases, its open requests (oldest first) and the newest
    decided ones."""
    _looking()
    api.get_model(name)  # a clear 404 for an unknown model
    every = api.approval_requests(name, status=None)
    open_ = [r for r in every if r.status == "open"]
    decided = sorted((r for r in every if r.status != "open"),
                     key=lambda r: r.closed_at or r.requested_at, reverse=True)
    return p.Approvals(user=api.whoami(),
                       protections=[protection(f) for f in api.protections(name)],
                       requests=[approval_request(r)
                                 for r in [*open_, *decided[:DECIDED_SHOWN]]])


def approve(name: str, body: p.ApprovalDecision) -> p.ApprovalRequest:
    return approval_request(api.approve(name, body["alias"], request=body.get("request"),
                                        reason=body.get("reason")))


def reject(name: str, body: p.ApprovalDecision) -> p.ApprovalRequest:
    return approval_request(api.reject(name, body["alias"], request=body.get("request"),
                                       reason=body.get("reason")))


def promote(name: str, body: p.PromoteRequest) -> p.AliasMove:
    result = api.promote(name, body["version"], body["alias"], reason=body.get("reason"))
    return _alias_move(name, body["alias"], body["version"], result)


def rollback(name: str, body: p.RollbackRequest) -> p.AliasMove:
    result = api.rollback(f"{name}@{body['alias']}", reason=body.get("reason"))
    version = result.version if isinstance(result, t.ApprovalRequest) else (
        result.to_version if result.to_version is not None else result.version)
    assert version is not None
    return _alias_move(name, body["alias"], version, result)


def _alias_move(name: str, alias: str, version: int,
                result: t.AuditEvent | t.ApprovalRequest | None) -> p.AliasMove:
    moved = isinstance(result, t.AuditEvent)
    return p.AliasMove(model=name, alias=alias, version=version, changed=moved,
                       event=audit_event(result) if isinstance(result, t.AuditEvent) else None,
                       request=result.id if isinstance(result, t.ApprovalRequest) else None)


# -- operations ----------------------------------------------------------------------------------

def deployments() -> list[p.Deployment]:
    """One item per deployment name: its newest record (a restart under the same name is
    the same deployment), with how many records it has; newest first."""
    _looking()
    newest: dict[str, t.Deployment] = {}
    counts: dict[str, int] = {}
    for d in api.list_deployments():
        newest.setdefault(d.name, d)
        counts[d.name] = counts.get(d.name, 0) + 1
    return [deployment(d, counts[name]) for name, d in newest.items()]


def deployment_detail(name: str) -> p.DeploymentDetail:
    _looking()
    history = api.deployment_history(name)
    return p.DeploymentDetail(deployment=deployment(history[0], len(history)),
                              history=[deployment(d, len(history)) for d in history])


def deployment_traffic(name: str) -> p.DeploymentTraffic:
    _looking()
    answer: p.DeploymentTraffic = p.DeploymentTraffic(
        **api.deployment_traffic(name))  # type: ignore[typeddict-item]
    return answer


def deployment_logs(name: str, lines: int) -> p.DeploymentLogs:
    _looking()
    found = api.get_deployment(name)
    text = api.deployment_logs(found.name, lines)
    return p.DeploymentLogs(name=found.name, lines=text.splitlines()[-lines:])


def stop_deployment(name: str) -> p.Deployment:
    _looking()
    found = api.get_deployment(name)
    stopped = api.stop_deployment(found.name, timeout=10.0)
    return deployment(stopped, len(api.deployment_history(stopped.name)))


def jobs() -> list[p.Job]:
    return [p.Job(**row) for row in records(api.jobs())]  # type: ignore[typeddict-item]


def job_run(r: t.JobRun, executed_artifact: str | None) -> p.JobRun:
    return p.JobRun(run_id=r.run_id, job=r.job, job_dir=r.job_dir, status=r.status,
                    start=_iso(r.start_time), end=iso(r.end_time), duration_s=r.duration_s,
                    parameters=json.loads(json.dumps(dict(r.parameters), default=str)),
                    child_runs=r.child_runs, gate_failed=r.gate_failed, failure=r.failure,
                    error=r.error, executed=r.executed, executed_artifact=executed_artifact,
                    notebook_path=r.notebook_path)


def job_runs(*, job: str | None = None, limit: int = 50, offset: int = 0
             ) -> p.Page[p.JobRun]:
    """A page of every recorded job run (wherever its job was exported), newest first."""
    _looking()
    page = api.job_runs(job, limit=limit, offset=offset)
    items = []
    for r in page:
        kept = [a.name for a in api.get_run(r.run_id).artifacts if a.name.endswith(".ipynb")]
        items.append(job_run(r, kept[0] if kept else None))
    return p.Page(items=items, total=page.total, total_exact=True, limit=limit, offset=offset)


def _drift_column(c: t.DriftColumnResult) -> p.DriftColumn:
    return p.DriftColumn(column=c.column, test=c.test, statistic=c.statistic,
                         p_value=c.p_value, threshold=c.threshold, drifted=c.drifted)


def drift_detail(run_id: str) -> p.DriftDetail:
    """One drift check, its drifted columns first (then in the check's order)."""
    _looking()
    run_record = api.get_run(run_id)
    c = api.get_drift_check(run_record.id)
    report = next((a.name for a in run_record.artifacts if a.name.endswith(".html")), None)
    ordered = sorted(c.columns, key=lambda col: not col.drifted)  # stable: check's order
    return p.DriftDetail(
        run_id=c.run_id, name=run_record.name, time=_iso(c.time), reference=c.reference,
        current=c.current, model=c.model, deployment=c.deployment,
        dataset_drift=c.dataset_drift, prediction_drift=c.prediction_drift,
        drift_share=_number(c.drift_share), drifted_columns=c.drifted_columns,
        columns_checked=c.columns_checked, share_threshold=c.share_threshold,
        columns=[_drift_column(col) for col in ordered],
        prediction=None if c.prediction is None else _drift_column(c.prediction),
        report=report)


def monitor_checks(*, monitor: str | None = None, limit: int = 50, offset: int = 0
                   ) -> p.Page[p.MonitorCheck]:
    """A page of monitor checks (of one monitor), newest first."""
    _looking()
    page = api.monitor_checks(monitor, limit=limit, offset=offset)
    items = []
    for m in page:
        drift_info = m.details.get("drift")
        drift_run = drift_info.get("run_id") if isinstance(drift_info, dict) else None
        items.append(p.MonitorCheck(
            run_id=m.run_id, monitor=m.monitor, time=_iso(m.time), model=m.model,
            deployment=m.deployment, window_start=iso(m.window_start),
            window_end=_iso(m.window_end), rows=m.rows, status=m.status,
            reasons=list(m.reasons), incident=m.incident, alerted=m.alerted,
            drift_run=str(drift_run) if drift_run else None))
    return p.Page(items=items, total=page.total, total_exact=True, limit=limit, offset=offset)


def drift(*, model: str | None = None, deployment: str | None = None, limit: int = 50,
          offset: int = 0) -> p.Page[p.DriftRun]:
    """A page of the recorded drift checks, newest first (only a model's or a deployment's
    when asked), each with its run's name, status, start, params and metrics."""
    _looking()
    page = api.drift_checks(model=model, deployment=deployment, limit=limit, offset=offset)
    ran = {r["run_id"]: r for r in summaries(api.runs_by_id([c.run_id for c in page]))}
    items = [p.DriftRun(
        run_id=c.run_id, name=ran[c.run_id]["name"], status=ran[c.run_id]["status"],
        start=ran[c.run_id]["start"], dataset_drift=c.dataset_drift,
        prediction_drift=c.prediction_drift, drift_share=_number(c.drift_share),
        drifted_columns=c.drifted_columns, model=c.model, deployment=c.deployment,
        metrics=ran[c.run_id]["metrics"], params=ran[c.run_id]["params"]) for c in page]
    return p.Page(items=items, total=page.total, total_exact=True, limit=limit, offset=offset)


# -- lineage ------------------------------------------------------------------------------------

def _node_data(node: t.LineageNode) -> dict[str, Any]:
    record = node.record
    if isinstance(record, t.DatasetFingerprint):
        return {"digest": record.digest, "kind": record.kind, "shape": list(record.shape),
                "source": record.source}
    if isinstance(record, t.RunRecord):
        return {"run_id": record.id, "experiment": record.experiment, "kind": record.kind,
                "status": record.status, "start": _iso(record.start_time)}
    if isinstance(record, t.ModelVersion):
        return {"model": record.model, "version": record.version,
                "aliases": list(record.aliases), "run_id": record.run_id}
    return {"name": record.name, "status": record.status, "url": record.url,
            "model": record.model, "version": record.version, "alias": record.alias,
            "restarts": max(len(node.history) - 1, 0),
            "history": [{"id": d.id, "status": d.status, "version": d.version,
                         "started_at": _iso(d.started_at), "stopped_at": iso(d.stopped_at)}
                        for d in node.history]}


def lineage(*, run: str | None = None, model: str | None = None,
            deployment: str | None = None) -> p.Lineage:
    """The graph around one run, model version or deployment (:func:`nbmlops.lineage`)."""
    _looking()
    graph = api.lineage(run=run, model=model, deployment=deployment)
    return p.Lineage(
        root=graph.root,
        nodes=[p.LineageNode(id=n.id, type=n.type, label=n.label, data=_node_data(n))
               for n in graph.nodes],
        edges=[p.LineageEdge(source=e.source, target=e.target, relation=e.relation)
               for e in graph.edges])
