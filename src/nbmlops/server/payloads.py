"""What the REST API under ``/nbmlops/api/`` sends and accepts, as TypedDicts.

These are the one source of the API's shapes: the OpenAPI document
(:mod:`nbmlops.server.openapi`) is generated from them, and the panel's TypeScript types
are to be generated from that document. Keep them plain: ``str``, ``int``, ``float``,
``bool``, ``None``, ``Any``, ``list[...]``, ``dict[str, ...]``, ``Literal[...]``, unions
and other TypedDicts of this module (the schema generator knows exactly these).

(No ``from __future__ import annotations`` here: ``NotRequired`` must be seen when the
classes are made, or Python 3.11 counts every key as required.)

Times are ISO 8601 strings in UTC. Every list answer is a page::

    {"items": [...], "total": 123, "total_exact": true, "limit": 50, "offset": 0}
"""

from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """One page of a list: ``total`` counts the items the query matched. A long list may
    stop counting a thousand or so past the page (a filtered count costs a read of every
    match): then ``total_exact`` is false and at least ``total`` items match."""

    items: list[T]
    total: int
    total_exact: bool
    limit: int
    offset: int


class Error(TypedDict):
    """Any 4xx/5xx answer: what went wrong and what to do next (never a traceback)."""

    error: str


# -- runs --------------------------------------------------------------------------------

class RunSummary(TypedDict):
    """A run as listed: its latest metric values, params and tags."""

    run_id: str
    experiment: str
    name: str | None
    kind: str
    parent_run_id: str | None
    status: str
    start: str
    duration_s: float | None
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]


class MetricKey(TypedDict):
    """A metric name and how many of the runs looked at have it."""

    key: str
    runs: int


class MetricKeys(TypedDict):
    """The metric names an experiment's runs have, the most common first (read from its
    newest ``looked_at`` runs)."""

    experiment: str | None
    looked_at: int
    keys: list[MetricKey]


class MetricPoint(TypedDict):
    """One value of a metric's history (``value`` is null for NaN or an infinity)."""

    step: int
    value: float | None
    timestamp: float


class MetricSeries(TypedDict):
    """A page of one metric's history as three aligned columns, in order of step then
    time: what a chart draws. Each column is the base64 of little-endian float64 values
    (``encoding`` ``float64-base64``; a value that is NaN or an infinity is NaN): made and
    read without a JSON number per value, what keeps 100,000 points quick to send and to
    decode. ``total`` counts the whole history, ``in_range`` the page's values within the
    x range asked for (all of the page's without one); ``decimated`` says the columns hold
    only the values a chart of ``points`` points needs of them (each span's smallest and
    largest, the first and the last), in x order."""

    key: str
    encoding: str
    steps: str
    values: str
    timestamps: str
    total: int
    limit: int
    offset: int
    decimated: bool
    in_range: int


class MetricCharts(TypedDict):
    """What a run's chart reads when its tab opens, in one answer: each of the run's
    metrics (the first ``MAX_CHARTED`` by name; ``keys`` counts them all) as the
    metric-series route answers it with ``points``: the whole history of a metric logged
    once or a few times, a long one decimated."""

    run_id: str
    points: int
    keys: int
    items: list[MetricSeries]


class DatasetLink(TypedDict):
    """A dataset a run read (``input``) or produced (``output``), by fingerprint."""

    name: str
    direction: Literal["input", "output"]
    digest: str
    kind: str
    shape: list[int]
    columns: list[list[str]]
    size_bytes: int | None
    source: str | None


class RunArtifact(TypedDict):
    name: str
    kind: str
    sha256: str
    size: int
    media_type: str


class RunDetail(TypedDict):
    """One run with everything recorded about it."""

    run_id: str
    experiment: str
    name: str | None
    kind: str
    status: str
    start: str
    end: str | None
    duration_s: float | None
    parent_run_id: str | None
    notebook_path: str | None
    cell_id: str | None
    execution_count: int | None
    code: str | None
    code_hash: str | None
    user: str | None
    host: str | None
    git_commit: str | None
    git_dirty: bool | None
    error: str | None
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    inputs: list[DatasetLink]
    outputs: list[DatasetLink]
    artifacts: list[RunArtifact]
    environment: dict[str, Any] | None


class SliceCell(TypedDict):
    """A journaled execution a run stood on: ``order`` is its place in the order the
    slice's cells really ran (1 first); ``execution_count`` the kernel's ``[n]``."""

    order: int
    seq: int
    execution_count: int | None
    cell_id: str | None
    code: str


class HiddenStateFlag(TypedDict):
    """Why a run may not be what its notebook says (``kind``: edited, deleted,
    out_of_order, data_changed, unseeded)."""

    kind: str
    name: str
    detail: str


class RunSlice(TypedDict):
    """What a tracked run stood on, and its hidden-state flags. ``recorded`` is false for a
    run tracked without the cell journal (then nothing else is known, and it cannot be
    reproduced); ``clean`` is null then. ``reproduce`` is the command that reproduces it."""

    run_id: str
    recorded: bool
    session_id: str | None
    clean: bool | None
    cells: list[SliceCell]
    flags: list[HiddenStateFlag]
    reproduce: str | None


ReproductionState = Literal["idle", "running", "reproduced", "differs", "failed"]


class ReproduceRequest(TypedDict):
    """Reproduce the run in the path in a fresh kernel: metrics must be equal, or within
    ``rtol`` (a relative tolerance, 0 or more; default 0)."""

    rtol: NotRequired[float]


class Reproduction(TypedDict):
    """A run's reproduction started from this server: ``idle`` (none started here),
    ``running`` (``elapsed_s`` so far), then ``reproduced``, ``differs`` (``differences``
    and their likely ``causes``) or ``failed`` (``error``: the notebook raised, or the
    reproduction could not run). ``frames_loaded``: frames built in memory, loaded from the
    run's snapshot rather than rebuilt. ``summary`` is what ``nbmlops reproduce`` prints;
    ``reproduction_run_id`` the run (kind ``reproduce``) that records it."""

    run_id: str
    state: ReproductionState
    rtol: float | None
    started: str | None
    finished: str | None
    elapsed_s: float | None
    summary: str | None
    differences: list[str]
    causes: list[str]
    packages: list[str]
    error: str | None
    reproduction_run_id: str | None
    reproduced_run_id: str | None
    notebook: str | None
    frames_loaded: list[str]


class Experiment(TypedDict):
    id: int
    name: str
    created_at: str


class Differing(TypedDict):
    """The param and metric keys whose values are not the same in every run compared."""

    params: list[str]
    metrics: list[str]


class ComparedRun(TypedDict):
    """A run as Compare shows it: its name, params and latest metric values (what a run
    lacks is left out; metrics that are not finite numbers too)."""

    run_id: str
    name: str | None
    params: dict[str, Any]
    metrics: dict[str, float]


class Comparison(TypedDict):
    """Runs side by side, in the order asked for."""

    runs: list[ComparedRun]
    params: list[str]
    metrics: list[str]
    differing: Differing


class MetricCurve(TypedDict):
    """One run's values of a metric, in order of step then time (null: not finite)."""

    run_id: str
    steps: list[int]
    values: list[float | None]
    times: list[float]


class MetricCurves(TypedDict):
    """A metric's history in each of the runs asked for, in that order."""

    metric: str
    curves: list[MetricCurve]


# -- the model registry --------------------------------------------------------------------

class ModelSummary(TypedDict):
    name: str
    description: str | None
    created_at: str
    created_by: str | None
    latest_version: int | None
    versions: int
    aliases: dict[str, int]


class ModelVersion(TypedDict):
    model: str
    version: int
    run_id: str | None
    flavor: str
    format: str
    metrics: dict[str, float]
    signature: dict[str, Any] | None
    description: str | None
    created_at: str
    created_by: str | None
    aliases: list[str]


class ModelDetail(TypedDict):
    """A registered model with its versions (newest first) and where its aliases point."""

    model: ModelSummary
    versions: list[ModelVersion]


class ModelCard(TypedDict):
    """A version's model card as a self-contained HTML page (null: the version has none);
    shown in a sandboxed frame."""

    model: str
    version: int
    html: str | None


class Changes(TypedDict):
    """A marker that changes whenever the registry or the deployments change (the hash of
    the newest audit event; null before the first): poll it, reload on a change."""

    marker: str | None


class AuditEvent(TypedDict):
    time: str
    action: str
    model: str
    alias: str | None
    version: int | None
    from_version: int | None
    to_version: int | None
    user: str | None
    host: str | None
    reason: str | None


class PromoteRequest(TypedDict):
    """Point ``alias`` at ``version`` of the model in the path."""

    version: int
    alias: str
    reason: NotRequired[str | None]


class RollbackRequest(TypedDict):
    """Point ``alias`` back at the version it pointed at before its last move."""

    alias: str
    reason: NotRequired[str | None]


class AliasMove(TypedDict):
    """Where the alias points now; ``changed`` is false when it already pointed there, or
    when it is protected: then ``request`` is the approval request opened instead (and
    ``version`` the one requested)."""

    model: str
    alias: str
    version: int
    changed: bool
    event: AuditEvent | None
    request: int | None


# -- protected aliases and approvals -----------------------------------------------------------

class AliasProtection(TypedDict):
    """``model@alias`` moves only through approved requests."""

    model: str
    alias: str
    approvals: int  # approvals a request needs, each from someone other than the requester
    require: list[str]  # gates the version must pass, checked again at each approval
    role: str | None  # the role an approver needs (enforced by PostgreSQL in team mode)
    created_at: str
    created_by: str | None


class ApprovalVote(TypedDict):
    user: str | None
    decision: Literal["approve", "reject"]
    time: str
    reason: str | None


class ApprovalRequest(TypedDict):
    """A move of a protected alias waiting for approval (or decided). ``failing_gates``:
    the protection's gates the version fails now, one line each (an approval would be
    refused with the first)."""

    id: int
    model: str
    alias: str
    action: Literal["promote", "rollback"]
    version: int
    from_version: int | None
    status: Literal["open", "approved", "rejected"]
    approvals: int
    approvals_needed: int
    requested_by: str | None
    requested_at: str
    reason: str | None
    votes: list[ApprovalVote]
    closed_at: str | None
    failing_gates: list[str]


class Approvals(TypedDict):
    """A model's protected aliases and its approval requests (open ones first, then the
    decided ones, newest first); ``user``: who the panel acts as (Jupyter's logged-in user;
    in team mode the database role)."""

    user: str | None
    protections: list[AliasProtection]
    requests: list[ApprovalRequest]


class ApprovalDecision(TypedDict):
    """Approve or reject the open request to move ``alias`` (``request``: which one, when
    several are open)."""

    alias: str
    request: NotRequired[int | None]
    reason: NotRequired[str | None]


# -- operations ------------------------------------------------------------------------------

class Deployment(TypedDict):
    id: str
    name: str
    status: str
    url: str
    model: str
    alias: str | None
    version: int
    workers: int
    pid: int | None
    host: str | None
    started_at: str
    stopped_at: str | None
    records: int  # its records by this name: 1, plus one per restart
    error: str | None


class DeploymentDetail(TypedDict):
    """A deployment (its newest record) and its history: the first start and every
    restart under the same name, newest first."""

    deployment: Deployment
    history: list[Deployment]


class DeploymentTraffic(TypedDict):
    """``/predict`` as the model server's ``/metrics`` counts it since it started (read by
    the Jupyter server, not the browser). ``reachable`` false: ``detail`` says why."""

    name: str
    reachable: bool
    detail: str | None
    requests: int | None
    client_errors: int | None
    server_errors: int | None
    rows: int | None
    version: int | None
    mean_ms: float | None
    p50_ms: float | None
    p99_ms: float | None


class DeploymentLogs(TypedDict):
    """The last lines of a deployment's server log."""

    name: str
    lines: list[str]


class JobRun(TypedDict):
    """One execution of a job: its run's status and times, and why it failed
    (``failure``: cell, gate, action or stopped; ``gate_failed``; ``error``). ``executed``
    is the executed notebook's path; ``executed_artifact`` the run's artifact holding it."""

    run_id: str
    job: str
    job_dir: str
    status: str
    start: str
    end: str | None
    duration_s: float | None
    parameters: dict[str, Any]
    child_runs: int
    gate_failed: str | None
    failure: str | None
    error: str | None
    executed: str | None
    executed_artifact: str | None
    notebook_path: str | None


class Job(TypedDict):
    """An exported job folder with its last run."""

    job: str
    schedule: str | None
    targets: str
    parameters: str
    last_status: str | None
    last_start: str | None
    last_run: str | None
    folder: str
    error: str | None


class DriftRun(TypedDict):
    """A recorded drift check: its verdict and per-column statistics (``drift.<column>``)."""

    run_id: str
    name: str | None
    status: str
    start: str
    dataset_drift: bool | None
    prediction_drift: bool | None
    drift_share: float | None
    drifted_columns: int | None
    model: str | None
    deployment: str | None
    metrics: dict[str, float]
    params: dict[str, Any]


class DriftColumn(TypedDict):
    """One column's test: ``statistic`` (the distance, for distance tests), ``p_value``
    (for tests that have one: ks, chi2), the ``threshold`` it is compared with."""

    column: str
    test: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool | None


class DriftDetail(TypedDict):
    """A recorded drift check: what was compared, the verdict, each column's test (the
    drifted columns first) and the prediction's; ``report`` names its HTML artifact."""

    run_id: str
    name: str | None
    time: str
    reference: str
    current: str
    model: str | None
    deployment: str | None
    dataset_drift: bool
    prediction_drift: bool | None
    drift_share: float | None
    drifted_columns: int
    columns_checked: int
    share_threshold: float | None
    columns: list[DriftColumn]
    prediction: DriftColumn | None
    report: str | None


class MonitorCheck(TypedDict):
    """One check of a monitor: ``status`` ok, alert or skipped; the ``incident`` a failing
    check belongs to; ``reasons``; the window and its rows; ``drift_run`` the drift check
    it made (null: none)."""

    run_id: str
    monitor: str
    time: str
    model: str
    deployment: str | None
    window_start: str | None
    window_end: str
    rows: int
    status: str
    reasons: list[str]
    incident: int | None
    alerted: bool
    drift_run: str | None


# -- lineage ---------------------------------------------------------------------------------

NodeType = Literal["dataset", "run", "model_version", "deployment"]
EdgeRelation = Literal["input", "output", "registered", "deployed", "child", "triggered",
                       "monitored"]


class LineageNode(TypedDict):
    """``id`` is ``<type>:<key>``: ``run:<run id>``, ``dataset:<digest>``,
    ``model_version:<name>/<version>``, ``deployment:<id>``."""

    id: str
    type: NodeType
    label: str
    data: dict[str, Any]


class LineageEdge(TypedDict):
    """data -input-> run -output-> data; run -registered-> model version -deployed->
    deployment."""

    source: str
    target: str
    relation: EdgeRelation


class Lineage(TypedDict):
    root: str
    nodes: list[LineageNode]
    edges: list[LineageEdge]
