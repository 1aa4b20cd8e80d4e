"""What each route answers, read through :mod:`nbmlops.api` and shaped as the payloads of
:mod:`nbmlops.server.payloads`. No tornado here: each function is testable on its own and
raises nbmlops' own errors (or ``ValueError`` for bad input), which the handlers map to
HTTP statuses in one place.

Some reads need more than the API's DataFrames give, so they read the store the API opened
(``api.tracker().store``) with its public, read-only methods: the runs list and compare
(a page of a store of 100,000 runs is one query with a limit, its rows shaped straight
from the store's columns: no DataFrame on that path), model details and lineage (the
registry's typed records: aliases as a mapping, versions' source runs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from nbmlops import api
from nbmlops._types import RUN_STATUSES
from nbmlops.errors import ModelNotFoundError
from nbmlops.server import payloads as p
from nbmlops.store.query import And, Compare, Field, Filter, parse_filter, parse_sort

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops import _types as t
    from nbmlops.store import Store


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


def deployment(d: t.Deployment) -> p.Deployment:
    return p.Deployment(id=d.id, name=d.name, status=d.status, url=d.url, model=d.model,
                        alias=d.alias, version=d.version, workers=d.workers, pid=d.pid,
                        host=d.host, started_at=_iso(d.started_at),
                        stopped_at=iso(d.stopped_at))


# -- runs ----------------------------------------------------------------------------------

def _column(values: Any) -> list[Any]:
    """A RunTable column as Python values (a NumPy array converted in one call)."""
    return values if isinstance(values, list) else values.tolist()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COUNT_STEP = 1000  # a filtered runs listing counts in steps of this many (see runs())


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
        run_id=run_id, experiment=experiment, name=name, status=status, start=_start(start),
        duration_s=None if end is None else end - start,
        params={k: col[i] for k, col in params if _given(col[i])},
        metrics={k: col[i] for k, col in metrics if math.isfinite(col[i])},
        tags={k: col[i] for k, col in tags if col[i] is not None})
        for i, (run_id, experiment, name, _, status, start, end, _) in enumerate(table.rows)]


def _equals(attribute: str, value: str | None) -> Filter | None:
    return None if value is None else Compare(Field("attr", attribute), "==", value)


def runs(*, experiment: str | None = None, status: str | None = None, name: str | None = None,
         where: str | None = None, sort: str | None = None, limit: int = 50,
         offset: int = 0) -> p.Page[p.RunSummary]:
    """A page of the runs of the kinds listings show (not a search's candidates), newest
    first unless sorted. The store filters, sorts and pages. A filtered ``total`` counts
    matches only up to the first multiple of COUNT_STEP past the page's end (an exact count
    reads every match: 0.9 s for 50,000 of 100,000 runs), then says it is a lower bound."""
    if status is not None and status not in RUN_STATUSES:
        raise ValueError(f"unknown status {status!r}; statuses are: {', '.join(RUN_STATUSES)}")
    found = [f for f in (parse_filter(where), _equals("status", status), _equals("name", name))
             if f is not None]
    table = _store().search_runs(
        experiment=experiment, where=(And(tuple(found)) if len(found) > 1 else
                                      next(iter(found), None)),
        order_by=parse_sort(sort), kinds=api.LISTED_KINDS, limit=limit, offset=offset,
        count_limit=((offset + limit) // COUNT_STEP + 1) * COUNT_STEP)
    return p.Page(items=summaries(table), total=table.total, total_exact=table.total_exact,
                  limit=limit, offset=offset)


def run(run_id: str) -> p.RunDetail:
    return run_detail(api.get_run(run_id))


def experiments() -> list[p.Experiment]:
    return [p.Experiment(id=e.id, name=e.name,
                         created_at=datetime.fromtimestamp(e.created_at, tz=UTC).isoformat())
            for e in _store().list_experiments()]


def _differing(items: Sequence[p.RunSummary], part: Literal["params", "metrics"]
               ) -> tuple[list[str], list[str]]:
    """The keys of ``part`` any run has, sorted, and those whose values (a missing one
    counted as a value) are not all the same."""
    values: list[dict[str, Any]] = [dict(item[part]) for item in items]
    keys = sorted({k for v in values for k in v})
    differ = [k for k in keys
              if len({json.dumps(v.get(k), sort_keys=True, default=str) for v in values}) > 1]
    return keys, differ


def _listed(store: Store, ids: Sequence[str]) -> dict[str, p.RunSummary]:
    table = store.search_runs(where=Compare(Field("attr", "run_id"), "in", tuple(ids)))
    return {item["run_id"]: item for item in summaries(table)}


def compare(ids: Sequence[str]) -> p.Comparison:
    """Runs side by side, in the order asked for (each once). Whole ids are read in one
    query; only prefixes, and ids not found, are resolved one by one (which says why)."""
    store = _store()
    asked = [i.strip().lower() for i in ids]
    found = _listed(store, asked)
    wanted = list(dict.fromkeys(i if i in found else store.resolve_run_id(i) for i in asked))
    if missing := [i for i in wanted if i not in found]:
        found.update(_listed(store, missing))
    items = [found[i] for i in wanted]
    params, params_differ = _differing(items, "params")
    metrics, metrics_differ = _differing(items, "metrics")
    return p.Comparison(runs=items, params=params, metrics=metrics,
                        differing=p.Differing(params=params_differ, metrics=metrics_differ))


# -- the model registry ----------------------------------------------------------------------

def _store() -> Store:
    return api.workspace("read").store


def _model(name: str) -> t.RegisteredModel:
    for m in _store().list_models():
        if m.name == name:
            return m
    raise ModelNotFoundError(name, reason="no registered model has that name")


def models() -> list[p.ModelSummary]:
    return [model_summary(m) for m in _store().list_models()]


def model(name: str) -> p.ModelDetail:
    found = _model(name)
    versions = sorted(_store().list_versions(name), key=lambda v: -v.version)
    return p.ModelDetail(model=model_summary(found), versions=[model_version(v)
                                                               for v in versions])


def model_history(name: str) -> list[p.AuditEvent]:
    _model(name)
    return [p.AuditEvent(**row)  # type: ignore[typeddict-item]
            for row in records(api.model_history(name))]


def promote(name: str, body: p.PromoteRequest) -> p.AliasMove:
    event = api.promote(name, body["version"], body["alias"], reason=body.get("reason"))
    return p.AliasMove(model=name, alias=body["alias"], version=body["version"],
                       changed=event is not None,
                       event=None if event is None else audit_event(event))


def rollback(name: str, body: p.RollbackRequest) -> p.AliasMove:
    event = api.rollback(f"{name}@{body['alias']}", reason=body.get("reason"))
    version = event.to_version if event.to_version is not None else event.version
    assert version is not None
    return p.AliasMove(model=name, alias=body["alias"], version=version, changed=True,
                       event=audit_event(event))


# -- operations ----------------------------------------------------------------------------------

def deployments() -> list[p.Deployment]:
    return [deployment(d) for d in _store().list_deployments()]


def jobs() -> list[p.Job]:
    return [p.Job(**row) for row in records(api.jobs())]  # type: ignore[typeddict-item]


def _flag(value: Any) -> bool | None:
    return None if value is None else str(value).lower() == "true"


def drift(*, model: str | None = None, deployment: str | None = None, limit: int = 50,
          offset: int = 0) -> p.Page[p.DriftRun]:
    """A page of the recorded drift checks, newest first (only a model's or a deployment's
    when asked); the store filters and pages, as drift checks pile up on a schedule."""
    store = _store()
    found = [f for f in (_model_filter(store, model), _equals_tag("deployment", deployment))
             if f is not None]
    table = store.search_runs(
        kinds=("drift",), where=And(tuple(found)) if len(found) > 1 else next(iter(found), None),
        limit=limit, offset=offset)
    out = []
    for run in summaries(table):
        tags, metrics = run["tags"], run["metrics"]
        drifted = metrics.get("drifted_columns")
        out.append(p.DriftRun(
            run_id=run["run_id"], name=run["name"], status=run["status"], start=run["start"],
            dataset_drift=_flag(tags.get("dataset_drift")),
            prediction_drift=_flag(tags.get("prediction_drift")),
            drift_share=metrics.get("drift_share"),
            drifted_columns=None if drifted is None else int(drifted),
            model=tags.get("model"), deployment=tags.get("deployment"), metrics=metrics,
            params=run["params"]))
    return p.Page(items=out, total=table.total, total_exact=table.total_exact, limit=limit,
                  offset=offset)


def _equals_tag(key: str, value: str | None) -> Filter | None:
    return None if value is None else Compare(Field("tags", key), "==", value)


def _model_filter(store: Store, model: str | None) -> Filter | None:
    """Checks of a model: a check's ``model`` tag names the version it compared against
    (``churn/2``), so ``churn`` means any of its versions; ``churn/2`` just that one."""
    if model is None:
        return None
    if "/" in model:
        return _equals_tag("model", model)
    try:
        versions = store.list_versions(model)
    except ModelNotFoundError:
        return _equals_tag("model", model)  # no such model: no checks, said as an empty page
    return Compare(Field("tags", "model"), "in", tuple(v.reference for v in versions))


# -- lineage ------------------------------------------------------------------------------------

@dataclass
class _Graph:
    store: Store
    nodes: dict[str, p.LineageNode] = field(default_factory=dict)
    edges: list[p.LineageEdge] = field(default_factory=list)
    todo: list[Callable[[], None]] = field(default_factory=list)

    def node(self, node: p.LineageNode, expand: Callable[[], None] | None = None) -> str:
        if node["id"] not in self.nodes:
            self.nodes[node["id"]] = node
            if expand is not None:
                self.todo.append(expand)
        return node["id"]

    def edge(self, source: str, target: str, relation: p.EdgeRelation) -> None:
        edge = p.LineageEdge(source=source, target=target, relation=relation)
        if edge not in self.edges:
            self.edges.append(edge)

    # datasets are leaves: following them would pull in every run that read the same data
    def dataset(self, link: t.DatasetLink) -> str:
        d = link.dataset
        return self.node(p.LineageNode(
            id=f"dataset:{d.digest}", type="dataset", label=d.source or link.name,
            data={"digest": d.digest, "kind": d.kind, "shape": list(d.shape),
                  "source": d.source}))

    def run(self, run: t.RunRecord) -> str:
        return self.node(p.LineageNode(
            id=f"run:{run.id}", type="run", label=run.name or run.id[:8],
            data={"run_id": run.id, "experiment": run.experiment, "kind": run.kind,
                  "status": run.status, "start": _iso(run.start_time)}),
            lambda: self._expand_run(run))

    def version(self, v: t.ModelVersion) -> str:
        return self.node(p.LineageNode(
            id=f"model_version:{v.model}/{v.version}", type="model_version",
            label=f"{v.model}/{v.version}",
            data={"model": v.model, "version": v.version, "aliases": list(v.aliases),
                  "run_id": v.run_id}),
            lambda: self._expand_version(v))

    def deployment(self, d: t.Deployment) -> str:
        return self.node(p.LineageNode(
            id=f"deployment:{d.id}", type="deployment", label=d.name,
            data={"name": d.name, "status": d.status, "url": d.url, "model": d.model,
                  "version": d.version, "alias": d.alias}),
            lambda: self._expand_deployment(d))

    def _expand_run(self, run: t.RunRecord) -> None:
        me = f"run:{run.id}"
        for link in run.inputs:
            self.edge(self.dataset(link), me, "input")
        for link in run.outputs:
            self.edge(me, self.dataset(link), "output")
        for v in self._versions(lambda v: v.run_id == run.id):
            self.edge(me, self.version(v), "registered")

    def _expand_version(self, v: t.ModelVersion) -> None:
        me = f"model_version:{v.model}/{v.version}"
        if v.run_id is not None:
            self.edge(self.run(self.store.get_run(v.run_id)), me, "registered")
        for d in self.store.list_deployments():
            if d.model == v.model and d.version == v.version:
                self.edge(me, self.deployment(d), "deployed")

    def _expand_deployment(self, d: t.Deployment) -> None:
        v = self.store.get_model_version(d.model, version=d.version)
        self.edge(self.version(v), f"deployment:{d.id}", "deployed")

    def _versions(self, keep: Callable[[t.ModelVersion], bool]) -> Iterable[t.ModelVersion]:
        for m in self.store.list_models():
            yield from (v for v in self.store.list_versions(m.name) if keep(v))

    def build(self, root: str) -> p.Lineage:
        while self.todo:
            self.todo.pop(0)()
        return p.Lineage(root=root, nodes=list(self.nodes.values()), edges=self.edges)


def parse_version_reference(text: str) -> tuple[str, int | None, str | None]:
    """``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS`` → (name, version, alias)."""
    name, version, alias = text, None, None
    if "@" in text:
        name, alias = text.split("@", 1)
    elif "/" in text:
        name, number = text.rsplit("/", 1)
        if (not number.isascii() or not number.isdigit() or len(number) > 19
                or not 1 <= int(number) <= 2**63 - 1):
            shown = text if len(text) <= 60 else f"{text[:40]}…"
            raise ValueError(f"model reference {shown!r}: a version is a number from 1 to "
                             f"{2**63 - 1} in the digits 0-9")
        version = int(number)
    if not name or alias == "":
        raise ValueError(f"model reference {text!r}: write NAME, NAME/VERSION or NAME@ALIAS")
    return name, version, alias


def lineage(*, run: str | None = None, model: str | None = None,
            deployment: str | None = None) -> p.Lineage:
    """The graph around one run, model version or deployment: the datasets each run read
    and wrote, the versions registered from those runs, and where those are deployed."""
    given = [(k, v) for k, v in (("run", run), ("model", model), ("deployment", deployment))
             if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of run=RUN_ID, model=NAME/VERSION or "
                         "deployment=NAME")
    store = _store()
    graph = _Graph(store)
    if run is not None:
        root = graph.run(store.get_run(run))
    elif model is not None:
        name, version, alias = parse_version_reference(model)
        root = graph.version(store.get_model_version(name, version=version, alias=alias))
    else:
        assert deployment is not None
        root = graph.deployment(store.get_deployment(deployment))
    return graph.build(root)
