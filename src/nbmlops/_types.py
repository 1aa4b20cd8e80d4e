"""Typed records that cross the store interface.

Everything a capability hands to the store, and everything the store hands back, is one
of these frozen dataclasses. No SQLAlchemy object ever leaves ``store/``.

Times are seconds since the epoch (UTC) as floats inside the store, and timezone-aware
``datetime`` objects in the records users see.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

RunStatus = Literal["running", "finished", "failed", "interrupted", "crashed"]
RunKind = Literal["cell", "script", "tune", "candidate", "job", "deploy", "drift", "reproduce",
                  "monitor"]
Direction = Literal["input", "output"]
DeploymentStatus = Literal["running", "stopped", "failed", "crashed"]

RUN_STATUSES: tuple[RunStatus, ...] = ("running", "finished", "failed", "interrupted", "crashed")
RUN_KINDS: tuple[RunKind, ...] = ("cell", "script", "tune", "candidate", "job", "deploy",
                                  "drift", "reproduce", "monitor")

JSONScalar = str | int | float | bool | None


def utc(ts: float | None) -> datetime | None:
    """Epoch seconds to an aware UTC datetime (``None`` stays ``None``)."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True, slots=True)
class Metric:
    """One value of a metric. ``value`` may be NaN or ±inf; they round-trip."""

    key: str
    value: float
    step: int = 0
    timestamp: float = 0.0

    def same_as(self, other: Metric) -> bool:
        """Equality that treats NaN as equal to NaN (for tests and de-duplication)."""
        both_nan = math.isnan(self.value) and math.isnan(other.value)
        return (
            self.key == other.key
            and (both_nan or self.value == other.value)
            and self.step == other.step
            and self.timestamp == other.timestamp
        )


@dataclass(frozen=True, slots=True)
class MetricChart:
    """What a chart draws of one metric of a run: how many values it has in all
    (``total``), how many lie in the x range asked for (``in_range``), and of those, all of
    them or (``decimated``) the few a chart of some hundred pixels shows, as columns in x
    order (``values`` as stored: NaN and ±inf included)."""

    total: int
    in_range: int
    decimated: bool
    steps: list[int]
    values: list[float]
    timestamps: list[float]


@dataclass(frozen=True, slots=True)
class DatasetFingerprint:
    """What identifies a piece of data without storing it.

    ``digest`` identifies the fingerprint itself (kind + schema + shape + content), so the
    same data seen by many runs is one dataset in the lineage graph.
    """

    digest: str
    kind: str  # "dataframe" | "series" | "ndarray" | "file"
    shape: tuple[int, ...]
    schema: tuple[tuple[str, str], ...]  # (column or field name, dtype); empty for files
    content_hash: str
    size_bytes: int | None = None
    source: str | None = None  # a file's path, when the data came from a file

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.schema)


@dataclass(frozen=True, slots=True)
class DatasetLink:
    """A dataset used (``input``) or produced (``output``) by a run under a name."""

    name: str
    direction: Direction
    dataset: DatasetFingerprint


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A content-addressed blob in the artifact store."""

    sha256: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class RunArtifact:
    """An artifact attached to a run under a (safe, relative) name."""

    name: str
    kind: str  # "model" | "file"
    artifact: ArtifactRef


@dataclass(frozen=True, slots=True)
class Environment:
    """The software a run ran on, deduplicated by ``digest``."""

    digest: str
    python: str
    implementation: str
    platform: str
    packages: tuple[tuple[str, str], ...]

    def package_versions(self) -> dict[str, str]:
        return dict(self.packages)


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a run was started from: a notebook cell (or a script) and its code."""

    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    """Everything known about a run when it starts; written in one transaction."""

    id: str
    experiment: str
    name: str | None
    kind: RunKind
    start_time: float
    user: str | None = None
    host: str | None = None
    pid: int | None = None
    process_token: str | None = None
    parent_run_id: str | None = None
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code: str | None = None
    code_hash: str | None = None
    git_commit: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetLink, ...] = ()


@dataclass(frozen=True, slots=True)
class RunEnd:
    """Everything learned when a run ends; written in one transaction."""

    status: RunStatus
    end_time: float
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetLink, ...] = ()  # outputs, and inputs logged during the run
    artifacts: tuple[RunArtifact, ...] = ()
    environment: Environment | None = None
    git_dirty: bool | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as users see it, with its lineage (``nbmlops.get_run``)."""

    id: str
    experiment: str
    name: str | None
    kind: RunKind
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
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
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    inputs: tuple[DatasetLink, ...]
    outputs: tuple[DatasetLink, ...]
    artifacts: tuple[RunArtifact, ...]
    environment: Environment | None
    slice: RunSlice | None = None  # what the run stood on, when the journal was on

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def artifact(self, name: str) -> RunArtifact:
        for art in self.artifacts:
            if art.name == name:
                return art
        known = ", ".join(a.name for a in self.artifacts) or "none"
        raise KeyError(f"run {self.id[:8]} has no artifact {name!r} (it has: {known})")


@dataclass(frozen=True, slots=True)
class RunTable:
    """Runs in columnar form, ready to become a DataFrame (``nbmlops.runs``).

    ``rows`` hold (run_id, experiment, name, kind, status, start, end, parent_run_id) in
    the requested order. ``params``, ``metrics`` and ``tags`` hold one column per key,
    aligned with ``rows``: metrics are float64 arrays (NaN where a run has no value);
    params are float64/int64 arrays when every value is a number, else lists; tags are
    lists (None where a run has no value). ``total`` counts every match, beyond a limit;
    when the search capped its count (``count_limit``) and more matched, ``total`` is that
    cap and ``total_exact`` is False: at least ``total`` runs match.
    """

    rows: list[tuple[str, str, str | None, str, str, float, float | None, str | None]]
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]
    tags: Mapping[str, Any]
    total: int
    total_exact: bool = True

    def _index(self, run_id: str) -> int:
        for i, row in enumerate(self.rows):
            if row[0] == run_id:
                return i
        raise KeyError(run_id)

    @staticmethod
    def _present(columns: Mapping[str, Any], i: int) -> dict[str, Any]:
        out = {}
        for key, col in columns.items():
            value = col[i]
            if value is None or (isinstance(value, float) and math.isnan(value)
                                 and not isinstance(col, list)):
                continue
            out[key] = value.item() if hasattr(value, "item") else value
        return out

    def params_of(self, run_id: str) -> dict[str, Any]:
        """The params one run has in this table (numbers as Python numbers)."""
        return self._present(self.params, self._index(run_id))

    def metrics_of(self, run_id: str) -> dict[str, float]:
        """The latest metrics of one run; a NaN metric is indistinguishable from none here,
        so use ``get_run`` when that matters."""
        return self._present(self.metrics, self._index(run_id))

    def tags_of(self, run_id: str) -> dict[str, str]:
        return self._present(self.tags, self._index(run_id))


@dataclass(frozen=True, slots=True)
class StoreInfo:
    url: str
    revision: str | None
    head_revision: str
    experiments: int
    runs_by_status: Mapping[str, int]
    datasets: int
    artifacts: int
    artifact_bytes: int


# -- the model registry -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something to the registry (recorded with every audit event)."""

    user: str | None
    host: str | None


@dataclass(frozen=True, slots=True)
class NewModelVersion:
    """A model version to register: its file is already in the artifact store."""

    model: str
    run_id: str | None
    flavor: str
    format: str  # "skops" | "pickle"
    artifact: ArtifactRef
    source: str  # the file's location relative to the artifact root
    trusted_types: tuple[str, ...] = ()
    signature: Mapping[str, Any] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    files: Mapping[str, ArtifactRef] = field(default_factory=dict)  # card, profile, sample, …
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A registered model version (``nbmlops.register`` returns one)."""

    model: str
    version: int
    run_id: str | None
    flavor: str
    format: str
    sha256: str
    source: str
    trusted_types: tuple[str, ...]
    signature: Mapping[str, Any] | None
    metrics: Mapping[str, float]
    files: Mapping[str, str]  # role -> sha256
    description: str | None
    created_at: datetime
    created_by: str | None
    aliases: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        return f"{self.model}/{self.version}"

    def __str__(self) -> str:
        aliases = f" @{', @'.join(self.aliases)}" if self.aliases else ""
        return f"{self.reference}{aliases}"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str | None
    created_at: datetime
    created_by: str | None
    latest_version: int | None
    versions: int
    aliases: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One change in the registry: who, when, what moved from which version to which."""

    id: int
    time: datetime
    user: str | None
    host: str | None
    action: str  # register | promote | rollback | deploy | switch | undeploy
    model: str
    alias: str | None
    version: int | None
    from_version: int | None
    to_version: int | None
    reason: str | None
    details: Mapping[str, Any]
    deployment: str | None = None  # the deployment's id, for deploy/switch/undeploy
    # the audit chain: sha256 of this event's canonical content and the previous hash
    hash: str | None = None
    prev_hash: str | None = None


ApprovalAction = Literal["promote", "rollback"]
RequestStatus = Literal["open", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class AliasProtection:
    """``model@alias`` moves only through approved requests: how many approvals (each by
    someone other than the requester), the gates checked again at approval, and the role
    an approver needs (recorded now; enforced by PostgreSQL's roles in team mode)."""

    model: str
    alias: str
    approvals: int
    require: tuple[str, ...]
    role: str | None
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True, slots=True)
class ApprovalVote:
    user: str | None
    decision: Literal["approve", "reject"]
    time: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A move of a protected alias waiting for approval (or decided)."""

    id: int
    model: str
    alias: str
    action: ApprovalAction
    version: int  # where the alias is to point
    from_version: int | None  # where it pointed when the request was opened
    status: RequestStatus
    approvals_needed: int
    requested_by: str | None
    requested_at: datetime
    reason: str | None
    votes: tuple[ApprovalVote, ...] = ()
    closed_at: datetime | None = None

    @property
    def approvals(self) -> int:
        return sum(1 for v in self.votes if v.decision == "approve")

    @property
    def missing(self) -> int:
        """Approvals still needed before the alias moves."""
        return max(self.approvals_needed - self.approvals, 0)

    def __str__(self) -> str:
        was = f"version {self.from_version}" if self.from_version else "nothing"
        return (f"request #{self.id}: {self.action} {self.model}@{self.alias} {was} -> "
                f"version {self.version} ({self.status})")


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """What re-computing the audit chain found: ``ok``, or the first event at fault."""

    ok: bool
    events: int
    head: str | None  # the last event's hash (anchor it elsewhere)
    first_bad: int | None = None  # the id of the first event changed or after a removal
    problem: str | None = None  # one line: what was found, and where


@dataclass(frozen=True, slots=True)
class TeamMember:
    """A login role in team mode and its group: reader, writer, approver or admin."""

    name: str
    role: str

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


@dataclass(frozen=True, slots=True)
class NewDeployment:
    """A model server about to listen: written by the serving process when it starts."""

    id: str
    name: str
    model: str
    alias: str | None  # followed: the server switches when the alias moves
    version: int
    url: str
    workers: int
    pid: int
    process_token: str
    user: str | None
    host: str
    started_at: float
    token_env: str | None = None  # the variable holding the bearer token (never the token)
    log_dir: str | None = None  # the prediction log's folder
    server_log: str | None = None  # the server's own output, when started in the background
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment as the store knows it (``nbmlops.deployments()`` lists them)."""

    id: str
    name: str
    model: str
    alias: str | None
    version: int
    url: str
    status: DeploymentStatus
    workers: int
    pid: int | None
    process_token: str | None
    host: str | None
    user: str | None
    started_at: datetime
    stopped_at: datetime | None
    heartbeat_at: datetime | None
    token_env: str | None
    log_dir: str | None
    server_log: str | None
    error: str | None
    options: Mapping[str, Any]

    @property
    def reference(self) -> str:
        """What it serves: ``churn@production`` (followed) or ``churn/3``."""
        return f"{self.model}@{self.alias}" if self.alias else f"{self.model}/{self.version}"

    def __str__(self) -> str:
        return f"{self.name} ({self.reference}, version {self.version}) {self.status} {self.url}"


# -- drift checks and job runs --------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordPage(Generic[T]):
    """One page of records, newest first; ``total`` counts every match beyond the page."""

    items: tuple[T, ...]
    total: int
    limit: int | None
    offset: int

    def __iter__(self) -> Iterator[T]:
        """The page's records (``for check in nbmlops.drift_checks(): ...``)."""
        return iter(self.items)

    def __len__(self) -> int:
        """The records on this page (``total`` counts every match)."""
        return len(self.items)


@dataclass(frozen=True, slots=True)
class DriftColumnResult:
    """One column's test in a drift check.

    ``statistic`` is the test's statistic (for distance tests, the distance compared with
    the threshold); ``p_value`` is set for tests that have one (``ks``, ``chi2``), which
    compare it with the threshold instead. ``test``, ``p_value``, ``threshold`` and
    ``drifted`` are None only in checks carried over from stores older than revision
    0006, which kept each column's statistic alone (their report, ``drift.json``, has the
    rest). A NaN statistic or p-value is stored as None.
    """

    column: str
    test: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool | None


@dataclass(frozen=True, slots=True)
class NewDriftCheck:
    """A drift check to record, by the run (kind ``drift``) that made it; the run must
    exist. ``time`` is when the check was made (epoch seconds)."""

    run_id: str
    time: float
    reference: str  # what was compared, in words ("churn/2 training sample (400 rows)")
    current: str
    dataset_drift: bool
    drift_share: float  # share of the checked columns that drifted
    drifted_columns: int
    columns_checked: int
    share_threshold: float | None = None  # the share that makes the dataset drifted
    model: str | None = None  # the version compared against, "churn/2"
    deployment: str | None = None  # whose prediction log was the current data
    prediction_drift: bool | None = None  # None: the model's predictions were not checked
    columns: tuple[DriftColumnResult, ...] = ()  # in the check's order
    prediction: DriftColumnResult | None = None  # the prediction column's own test


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """A recorded drift check (the fields of :class:`NewDriftCheck`, ``time`` as a UTC
    datetime). ``prediction`` is None for checks carried over from stores older than
    revision 0006 (their run keeps the statistic as its ``prediction_drift`` metric)."""

    run_id: str
    time: datetime
    reference: str
    current: str
    model: str | None
    deployment: str | None
    dataset_drift: bool
    prediction_drift: bool | None
    drift_share: float
    drifted_columns: int
    columns_checked: int
    share_threshold: float | None
    columns: tuple[DriftColumnResult, ...]
    prediction: DriftColumnResult | None

    @property
    def drifted(self) -> list[str]:
        """The columns known to have drifted, in the check's order."""
        return [c.column for c in self.columns if c.drifted]

    def column(self, name: str) -> DriftColumnResult:
        for c in (*self.columns, *([self.prediction] if self.prediction else [])):
            if c.column == name:
                return c
        raise KeyError(f"no column {name!r} in drift check {self.run_id[:8]}")


@dataclass(frozen=True, slots=True)
class NewJobRun:
    """A job run starting, by its run (kind ``job``, already started); the run must exist."""

    run_id: str
    job: str  # the job's name (job.yaml)
    job_dir: str  # the job folder
    parameters: Mapping[str, Any] = field(default_factory=dict)  # the values it ran with


@dataclass(frozen=True, slots=True)
class JobRunEnd:
    """What a job run came to. Its status, end time and error are its run's (written by
    ending the run), so a runner killed outright is reaped as ``crashed`` like any run."""

    child_runs: int  # the runs its notebook recorded (its children)
    gate_failed: str | None = None  # the first gate that did not pass ("metrics.acc >= 0.8")
    failure: str | None = None  # why it failed: cell | gate | action | stopped
    executed: str | None = None  # the executed notebook's path


@dataclass(frozen=True, slots=True)
class NewMonitorCheck:
    """One check of a monitor, by its run (kind ``monitor``, already started).

    ``status``: ``ok`` (nothing wrong), ``alert`` (a condition holds: ``reasons`` says
    which) or ``skipped`` (too few rows to judge; the window stays open). ``incident``: the
    number of the incident a failing check belongs to (a new one when the previous check
    was fine), None when fine; ``alerted``: this check opened the incident and delivered
    its alerts. ``details``: the figures (drift, performance, health, deliveries) as JSON.
    """

    run_id: str
    monitor: str
    model: str  # the version judged: churn/2
    deployment: str | None
    window_start: float | None  # epoch seconds; None: from the first row logged
    window_end: float
    rows: int
    status: Literal["ok", "alert", "skipped"]
    reasons: tuple[str, ...] = ()
    incident: int | None = None
    alerted: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MonitorCheck:
    """A recorded monitor check (see :class:`NewMonitorCheck`), times as UTC datetimes."""

    run_id: str
    monitor: str
    time: datetime
    model: str
    deployment: str | None
    window_start: datetime | None
    window_end: datetime
    rows: int
    status: Literal["ok", "alert", "skipped"]
    reasons: tuple[str, ...]
    incident: int | None
    alerted: bool
    details: Mapping[str, Any]

    @property
    def failing(self) -> bool:
        return self.status == "alert"


@dataclass(frozen=True, slots=True)
class JobRun:
    """A job run: the job's record of one execution, and its run's status and times."""

    run_id: str
    job: str
    job_dir: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    parameters: Mapping[str, Any]
    child_runs: int
    gate_failed: str | None
    failure: str | None
    error: str | None  # the run's error: the message naming the cell or gate
    executed: str | None  # None for job runs carried over from before revision 0006
    notebook_path: str | None  # the job's notebook

    @property
    def ok(self) -> bool:
        return self.status == "finished"

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


# -- lineage ----------------------------------------------------------------------------------

LineageNodeType = Literal["dataset", "run", "model_version", "deployment"]
LineageRelation = Literal["input", "output", "registered", "deployed", "child", "triggered",
                          "monitored"]


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One node of a lineage graph, with the record it stands for.

    ``id`` is ``<type>:<key>``: ``dataset:<digest>``, ``run:<run id>``,
    ``model_version:<name>/<version>``, ``deployment:<id>``. ``record`` is a
    :class:`DatasetFingerprint`, :class:`RunRecord`, :class:`ModelVersion` or
    :class:`Deployment`, as ``type`` says; ``label`` is how the panel names it (a dataset by
    its source file, else the name a run gave it; a run by its name, else its short id).
    A deployment is one node per name: ``record`` is its newest record and ``history``
    every record by that name (its start and each restart), newest first.
    """

    id: str
    type: LineageNodeType
    label: str
    record: DatasetFingerprint | RunRecord | ModelVersion | Deployment
    history: tuple[Deployment, ...] = ()


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``dataset -input-> run -output-> dataset``; ``run -registered-> model_version
    -deployed-> deployment``. ``source`` and ``target`` are node ids."""

    source: str
    target: str
    relation: LineageRelation


@dataclass(frozen=True, slots=True)
class Lineage:
    """The lineage graph around one run, model version or deployment (``root``, a node id):
    what ``nbmlops.lineage()`` returns and the panel draws. Nodes in the order found,
    starting with the root; each edge once."""

    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def node(self, node_id: str) -> LineageNode:
        """The node with that id; KeyError if the graph has none."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"no node {node_id!r} in this lineage graph")

    def of_type(self, node_type: LineageNodeType) -> list[LineageNode]:
        """The nodes of one type (``"dataset"``, ``"run"``, ``"model_version"``,
        ``"deployment"``), in the graph's order."""
        return [n for n in self.nodes if n.type == node_type]

    def edges_of(self, node_id: str) -> list[LineageEdge]:
        """The edges into or out of a node."""
        return [e for e in self.edges if node_id in (e.source, e.target)]


# -- the cell journal (reproducibility) ------------------------------------------------

HiddenStateKind = Literal["edited", "deleted", "out_of_order", "unseeded", "data_changed"]
HIDDEN_STATE_KINDS: tuple[HiddenStateKind, ...] = ("edited", "deleted", "out_of_order",
                                                   "unseeded", "data_changed")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One executed cell, as the journal keeps it: ``seq`` orders the cells of one kernel
    session (a restart starts a new session); the code is kept once per ``source_hash``;
    ``files`` are the data files the code names, with (size, mtime in ns) when it ran."""

    session_id: str
    seq: int
    time: float
    source_hash: str
    cell_id: str | None = None
    execution_count: int | None = None
    notebook_path: str | None = None
    reads: tuple[str, ...] = ()
    binds: tuple[str, ...] = ()
    files: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    ok: bool = True


@dataclass(frozen=True, slots=True)
class HiddenStateFlag:
    """Why a run may not be what its notebook says: ``kind`` (see HIDDEN_STATE_KINDS),
    the name or file it concerns, and a sentence saying what happened."""

    kind: HiddenStateKind
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.replace('_', ' ')}: {self.detail}"


@dataclass(frozen=True, slots=True)
class SliceWrite:
    """A run's slice as it is written: the (session id, seq) of each execution it stood on,
    in order, and its hidden-state flags."""

    run_id: str
    session_id: str
    cells: tuple[tuple[str, int], ...]
    flags: tuple[HiddenStateFlag, ...]


@dataclass(frozen=True, slots=True)
class SliceCell:
    """A journaled execution a run stood on, with its exact code."""

    session_id: str
    seq: int
    source_hash: str
    code: str
    cell_id: str | None = None
    execution_count: int | None = None


@dataclass(frozen=True, slots=True)
class RunSlice:
    """What a tracked run stood on: the executions that last bound each name it read,
    followed back transitively, in the order they ran (the run's own cell is not among
    them: its code is the run's), and the hidden-state flags; ``clean`` when none."""

    run_id: str
    session_id: str
    cells: tuple[SliceCell, ...]
    flags: tuple[HiddenStateFlag, ...]

    @property
    def clean(self) -> bool:
        return not self.flags


# -- ground truth ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FeedbackLabel:
    """A label that arrived for one served row, joined to what was served: the row's id
    (``<request id>-<row>``), the deployment and version that answered it, when, what it
    answered (``prediction``; ``scores``, the class probabilities in ``classes`` order when
    the request asked for them) and the label (any JSON value)."""

    deployment: str
    row_id: str
    model: str
    version: int
    served_at: float  # epoch seconds
    label: Any
    prediction: Any = None
    scores: tuple[float | None, ...] | None = None
    classes: tuple[Any, ...] | None = None
    received_at: float = 0.0
    user: str | None = None
