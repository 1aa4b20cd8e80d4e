"""The lineage graph: data → run → model version → deployment, around one of them.

Read from the store's typed records alone (runs with their datasets, the registry's
versions and their source runs, deployments), so it sits below the capabilities and the
front ends: ``nbmlops.lineage()`` returns it, and the panel draws what that returns.

From the root outwards, each node found is expanded once: a run brings the datasets it
read and wrote and the versions registered from it; a version brings its source run and
the deployments that serve it; a deployment brings the versions it served. A deployment is
one node however often it was restarted under its name (its records are in the node). Datasets are
leaves: following them would pull in every run that read the same data.

The production loop is followed too: a monitor's check brings the deployment it watched
(``monitored``), its drift check (``child``) and the job runs its alert started
(``triggered``); a job run brings the runs its notebook recorded (``child``), and a run
recorded inside a job or a check brings that parent. So the graph around a drift check
reaches the retraining it set off, the version it registered and where that is deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from nbmlops._types import (
    DatasetLink,
    Deployment,
    Lineage,
    LineageEdge,
    LineageNode,
    LineageRelation,
    ModelVersion,
    RunRecord,
)
from nbmlops.errors import DeploymentError, RunNotFoundError
from nbmlops.references import parse_reference
from nbmlops.store.base import DeploymentStore, RegistryStore, RunSearch, RunStore


class LineageStore(RunStore, RunSearch, RegistryStore, DeploymentStore, Protocol):
    """What the graph reads: runs (and a run's children), the registry and deployments."""


_LOOP_KINDS = frozenset({"job", "monitor"})  # runs whose children are part of the story
_CHILDREN = 50


@dataclass
class _Graph:
    store: LineageStore
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: dict[LineageEdge, None] = field(default_factory=dict)  # ordered, each once
    todo: list[Callable[[], None]] = field(default_factory=list)
    _deployments: list[Deployment] | None = None

    def node(self, node: LineageNode, expand: Callable[[], None] | None = None) -> str:
        if node.id not in self.nodes:
            self.nodes[node.id] = node
            if expand is not None:
                self.todo.append(expand)
        return node.id

    def edge(self, source: str, target: str, relation: LineageRelation) -> None:
        self.edges.setdefault(LineageEdge(source=source, target=target, relation=relation))

    def dataset(self, link: DatasetLink) -> str:
        d = link.dataset
        return self.node(LineageNode(id=f"dataset:{d.digest}", type="dataset",
                                     label=d.source or link.name, record=d))

    def run(self, run: RunRecord) -> str:
        return self.node(LineageNode(id=f"run:{run.id}", type="run",
                                     label=run.name or run.id[:8], record=run),
                         lambda: self._expand_run(run))

    def version(self, v: ModelVersion) -> str:
        return self.node(LineageNode(id=f"model_version:{v.reference}", type="model_version",
                                     label=v.reference, record=v),
                         lambda: self._expand_version(v))

    def deployments(self) -> list[Deployment]:
        if self._deployments is None:
            self._deployments = self.store.list_deployments()  # newest first
        return self._deployments

    def deployment(self, d: Deployment) -> str:
        """The node of the deployment called ``d.name``: one per name, whichever of its
        records ``d`` is (a restart is the same deployment), keyed by its newest record."""
        history = tuple(x for x in self.deployments() if x.name == d.name) or (d,)
        newest = history[0]
        return self.node(LineageNode(id=f"deployment:{newest.id}", type="deployment",
                                     label=newest.name, record=newest, history=history),
                         lambda: self._expand_deployment(history))

    def _expand_run(self, run: RunRecord) -> None:
        me = f"run:{run.id}"
        for link in run.inputs:
            self.edge(self.dataset(link), me, "input")
        for link in run.outputs:
            self.edge(me, self.dataset(link), "output")
        for v in self._versions_of_run(run.id):
            self.edge(me, self.version(v), "registered")
        if run.parent_run_id is not None:
            parent = self.store.get_run(run.parent_run_id)
            if parent.kind == "monitor":  # the check that made this one: followed on
                self.edge(self.run(parent), me, "child")
            elif parent.kind == "job":  # the job it ran in: shown, its other runs are not
                self.edge(self.node(LineageNode(id=f"run:{parent.id}", type="run",
                                                label=parent.name or parent.id[:8],
                                                record=parent)), me, "child")
        if run.kind in _LOOP_KINDS:
            table = self.store.search_runs(parent_run_id=run.id, limit=_CHILDREN)
            for row in table.rows:
                self.edge(me, self.run(self.store.get_run(row[0])), "child")
        if run.kind == "monitor":
            for job_id in filter(None, run.tags.get("on_alert_runs", "").split(",")):
                try:
                    job = self.store.get_run(job_id)
                except RunNotFoundError:  # deleted since
                    continue
                self.edge(me, self.run(job), "triggered")
            watched = run.tags.get("deployment")
            if watched:
                try:
                    found = self.store.get_deployment(watched)
                except DeploymentError:
                    found = None
                if found is not None:
                    self.edge(self.deployment(found), me, "monitored")

    def _expand_version(self, v: ModelVersion) -> None:
        me = f"model_version:{v.reference}"
        if v.run_id is not None:
            self.edge(self.run(self.store.get_run(v.run_id)), me, "registered")
        for d in self.deployments():
            if d.model == v.model and d.version == v.version:
                self.edge(me, self.deployment(d), "deployed")

    def _expand_deployment(self, history: tuple[Deployment, ...]) -> None:
        me = f"deployment:{history[0].id}"
        served: dict[tuple[str, int], None] = {}
        for d in history:  # each version it served, over its restarts
            served.setdefault((d.model, d.version))
        for model, version in served:
            v = self.store.get_model_version(model, version=version)
            self.edge(self.version(v), me, "deployed")

    def _versions_of_run(self, run_id: str) -> Iterator[ModelVersion]:
        for m in self.store.list_models():
            yield from (v for v in self.store.list_versions(m.name) if v.run_id == run_id)

    def build(self, root: str) -> Lineage:
        while self.todo:
            self.todo.pop(0)()
        return Lineage(root=root, nodes=tuple(self.nodes.values()), edges=tuple(self.edges))


def lineage(store: LineageStore, *, run: str | None = None, model: str | None = None,
            deployment: str | None = None) -> Lineage:
    """The graph around exactly one of: a run (its id or a unique prefix), a model version
    (``NAME/VERSION``, ``NAME@ALIAS``, or ``NAME`` for its latest version), a deployment
    (its name or id). ValueError unless exactly one is given; the store's not-found errors
    (RunNotFoundError, ModelNotFoundError, DeploymentError) for what does not exist."""
    given = [v for v in (run, model, deployment) if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of run=RUN_ID, model=NAME/VERSION or "
                         "deployment=NAME")
    graph = _Graph(store)
    if run is not None:
        root = graph.run(store.get_run(run))
    elif model is not None:
        ref = parse_reference(model)
        root = graph.version(store.get_model_version(ref.model, version=ref.version,
                                                     alias=ref.alias))
    else:
        assert deployment is not None
        root = graph.deployment(store.get_deployment(deployment))
    return graph.build(root)


__all__ = ["LineageStore", "lineage"]
