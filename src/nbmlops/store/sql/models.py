"""The lineage store's tables as SQLAlchemy 2 typed ORM models.

These are the *live* models: a fresh store is created from them and stamped at the head
revision. Migrations under ``migrations/versions`` never import this module; a test
proves that upgrading through every revision yields exactly this schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_FK = "runs.id"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ExperimentRow(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[float] = mapped_column(Double)


class EnvironmentRow(Base):
    __tablename__ = "environments"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    python: Mapped[str] = mapped_column(String(64))
    implementation: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(255))
    packages: Mapped[str] = mapped_column(Text)  # JSON object {name: version}
    created_at: Mapped[float] = mapped_column(Double)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_experiment_start", "experiment_id", "start_time"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_start", "start_time"),
        Index("ix_runs_parent", "parent_run_id"),
        Index("ix_runs_kind_start", "kind", "start_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[float] = mapped_column(Double)
    end_time: Mapped[float | None] = mapped_column(Double)
    heartbeat_at: Mapped[float] = mapped_column(Double)
    parent_run_id: Mapped[str | None] = mapped_column(ForeignKey(RUN_FK, ondelete="SET NULL"))
    notebook_path: Mapped[str | None] = mapped_column(Text)
    cell_id: Mapped[str | None] = mapped_column(String(255))
    execution_count: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(Text)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_token: Mapped[str | None] = mapped_column(String(255))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    environment_digest: Mapped[str | None] = mapped_column(ForeignKey("environments.digest"))
    error: Mapped[str | None] = mapped_column(Text)
    # params, latest metrics and tags in one read-optimised blob (store/sql/summary.py),
    # written with the run's end; NULL while it runs (readers use the tables then)
    summary: Mapped[bytes | None] = mapped_column(LargeBinary)


class ParamRow(Base):
    __tablename__ = "params"

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    num_value: Mapped[float | None] = mapped_column(Double)  # for numeric comparisons


class MetricRow(Base):
    __tablename__ = "metrics"
    # covering: a chart's read of a metric's history walks the index alone (0013)
    __table_args__ = (Index("ix_metrics_series", "run_id", "key", "step", "timestamp", "id",
                            "value", "is_nan"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Double)  # NULL when is_nan (SQLite has no NaN)
    is_nan: Mapped[bool] = mapped_column(Boolean)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[float] = mapped_column(Double)


class LatestMetricRow(Base):
    """The value at the highest (step, timestamp) of each metric: what tables and sorts use."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)
    is_nan: Mapped[bool] = mapped_column(Boolean)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[float] = mapped_column(Double)


class TagRow(Base):
    __tablename__ = "tags"

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DatasetRow(Base):
    __tablename__ = "datasets"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    shape: Mapped[str] = mapped_column(Text)  # JSON list
    schema: Mapped[str] = mapped_column(Text)  # JSON list of [name, dtype]
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)


class RunDatasetRow(Base):
    __tablename__ = "run_datasets"
    __table_args__ = (Index("ix_run_datasets_dataset", "dataset_digest"),)

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    dataset_digest: Mapped[str] = mapped_column(ForeignKey("datasets.digest"))


class ArtifactRow(Base):
    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Double)


class RunArtifactRow(Base):
    __tablename__ = "run_artifacts"
    __table_args__ = (Index("ix_run_artifacts_sha256", "sha256"),)

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))



class RegisteredModelRow(Base):
    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(255))


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (Index("ix_model_versions_run", "run_id"),)

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey(RUN_FK, ondelete="SET NULL"))
    flavor: Mapped[str] = mapped_column(String(32))  # "sklearn", ...
    format: Mapped[str] = mapped_column(String(16))  # "skops" | "pickle"
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    source: Mapped[str] = mapped_column(String(512))  # the file, relative to the artifact root
    trusted_types: Mapped[str] = mapped_column(Text)  # JSON list (skops types to trust)
    signature: Mapped[str | None] = mapped_column(Text)  # JSON
    metrics: Mapped[str] = mapped_column(Text)  # JSON {name: value}
    files: Mapped[str] = mapped_column(Text)  # JSON {role: sha256}: card, profile, sample, onnx
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(255))


class ModelAliasRow(Base):
    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Double)
    updated_by: Mapped[str | None] = mapped_column(String(255))


class AuditEventRow(Base):
    """Who changed what in the registry, when and why: append-only."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_model_alias", "model", "alias", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Double)
    user: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # register | promote | rollback
    model: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer)
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)  # JSON
    deployment: Mapped[str | None] = mapped_column(String(32))  # a deployment's id (rev 0004)
    # the chain (rev 0007): sha256 of the canonical content, which covers prev_hash
    hash: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))


class AliasProtectionRow(Base):
    """An alias that moves only through approved requests (rev 0007)."""

    __tablename__ = "alias_protections"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    approvals: Mapped[int] = mapped_column(Integer)
    gates: Mapped[str] = mapped_column(Text)  # JSON list of gate expressions
    role: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(255))


class ApprovalRequestRow(Base):
    """A move of a protected alias, open until approved or rejected (rev 0007)."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_alias", "model_id", "alias", "status"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"))
    alias: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback
    version: Mapped[int] = mapped_column(Integer)
    from_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # open | approved | rejected
    approvals_needed: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str | None] = mapped_column(String(255))
    requested_at: Mapped[float] = mapped_column(Double)
    reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[float | None] = mapped_column(Double)


class ApprovalVoteRow(Base):
    """One person's approval or rejection of a request (rev 0007)."""

    __tablename__ = "approval_votes"

    request_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("approval_requests.id", ondelete="CASCADE"), primary_key=True)
    user: Mapped[str] = mapped_column(String(255), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject
    time: Mapped[float] = mapped_column(Double)
    reason: Mapped[str | None] = mapped_column(Text)


class DeploymentRow(Base):
    """A model server: what it serves, where, and whether it is still up."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_name", "name", "started_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # the name while the deployment runs, NULL once it ended: at most one live per name
    active_name: Mapped[str | None] = mapped_column(String(255), unique=True)
    model: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))  # running | stopped | failed | crashed
    workers: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    process_token: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    user: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[float] = mapped_column(Double)
    stopped_at: Mapped[float | None] = mapped_column(Double)
    heartbeat_at: Mapped[float | None] = mapped_column(Double)
    token_env: Mapped[str | None] = mapped_column(String(255))
    log_dir: Mapped[str | None] = mapped_column(Text)
    server_log: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text)  # JSON


class FeedbackRow(Base):
    """A label for one served row, by its id, with what was served (revision 0010)."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_deployment_row", "deployment", "row_id", unique=True),
        Index("ix_feedback_deployment_served", "deployment", "served_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(String(255))
    row_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    served_at: Mapped[float] = mapped_column(Double)
    label: Mapped[str] = mapped_column(Text)  # JSON
    prediction: Mapped[str | None] = mapped_column(Text)  # JSON
    scores: Mapped[str | None] = mapped_column(Text)  # JSON list, in ``classes`` order
    classes: Mapped[str | None] = mapped_column(Text)  # JSON list
    received_at: Mapped[float] = mapped_column(Double)
    user: Mapped[str | None] = mapped_column(String(255))


class DriftCheckRow(Base):
    """A drift check, recorded by the run (kind ``drift``) that made it (revision 0006)."""

    __tablename__ = "drift_checks"
    __table_args__ = (
        Index("ix_drift_checks_time", "time"),
        Index("ix_drift_checks_model_name", "model_name", "time"),
        Index("ix_drift_checks_model", "model", "time"),
        Index("ix_drift_checks_deployment", "deployment", "time"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    time: Mapped[float] = mapped_column(Double)
    reference: Mapped[str] = mapped_column(Text)
    current: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(255))  # churn/2
    model_name: Mapped[str | None] = mapped_column(String(255))  # churn: filters by model
    deployment: Mapped[str | None] = mapped_column(String(255))
    dataset_drift: Mapped[bool] = mapped_column(Boolean)
    prediction_drift: Mapped[bool | None] = mapped_column(Boolean)
    drift_share: Mapped[float] = mapped_column(Double)
    drifted_columns: Mapped[int] = mapped_column(Integer)
    columns_checked: Mapped[int] = mapped_column(Integer)
    share_threshold: Mapped[float | None] = mapped_column(Double)


class DriftColumnRow(Base):
    """One column's test in a drift check; ``role`` is ``feature`` or ``prediction``."""

    __tablename__ = "drift_check_columns"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("drift_checks.run_id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    column: Mapped[str] = mapped_column(Text)
    test: Mapped[str | None] = mapped_column(String(32))
    statistic: Mapped[float | None] = mapped_column(Double)
    p_value: Mapped[float | None] = mapped_column(Double)
    threshold: Mapped[float | None] = mapped_column(Double)
    drifted: Mapped[bool | None] = mapped_column(Boolean)


class JobRunRow(Base):
    """A job run, by its run (kind ``job``), whose status and times it reads (rev. 0006)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        Index("ix_job_runs_job_start", "job", "start_time"),
        Index("ix_job_runs_start", "start_time"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    job: Mapped[str] = mapped_column(String(255))
    job_dir: Mapped[str] = mapped_column(Text)
    start_time: Mapped[float] = mapped_column(Double)  # the run's, kept here for the indexes
    parameters: Mapped[str] = mapped_column(Text)  # JSON object
    child_runs: Mapped[int | None] = mapped_column(Integer)  # NULL until it ends
    gate_failed: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(String(32))
    executed: Mapped[str | None] = mapped_column(Text)


class MonitorCheckRow(Base):
    """A monitor's check, by its run (kind ``monitor``) (revision 0012)."""

    __tablename__ = "monitor_checks"
    __table_args__ = (Index("ix_monitor_checks_monitor_time", "monitor", "time"),)

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"), primary_key=True)
    monitor: Mapped[str] = mapped_column(String(255))
    time: Mapped[float] = mapped_column(Double)  # the run's start, kept here for the index
    model: Mapped[str] = mapped_column(String(255))  # the version judged: churn/2
    deployment: Mapped[str | None] = mapped_column(String(255))
    window_start: Mapped[float | None] = mapped_column(Double)
    window_end: Mapped[float] = mapped_column(Double)
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[str] = mapped_column(Text)  # JSON list
    incident: Mapped[int | None] = mapped_column(Integer)
    alerted: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[str] = mapped_column(Text)  # JSON object


class JournalSourceRow(Base):
    """The code of journaled cells, once per distinct source (revision 0007)."""

    __tablename__ = "journal_sources"

    source_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(Text)


class JournalEntryRow(Base):
    """One executed cell of a kernel session, in the order the session ran them."""

    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_time", "time"),)

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[float] = mapped_column(Double)
    source_hash: Mapped[str] = mapped_column(ForeignKey("journal_sources.source_hash"))
    cell_id: Mapped[str | None] = mapped_column(String(255))
    execution_count: Mapped[int | None] = mapped_column(Integer)
    notebook_path: Mapped[str | None] = mapped_column(Text)
    reads: Mapped[str] = mapped_column(Text)  # JSON list
    binds: Mapped[str] = mapped_column(Text)  # JSON list
    files: Mapped[str] = mapped_column(Text)  # JSON {path: [size, mtime_ns]}
    ok: Mapped[bool] = mapped_column(Boolean)


class RunSliceRow(Base):
    """That a run was recorded with the journal on, in which kernel session."""

    __tablename__ = "run_slices"

    run_id: Mapped[str] = mapped_column(ForeignKey(RUN_FK, ondelete="CASCADE"),
                                        primary_key=True)
    session_id: Mapped[str] = mapped_column(String(32))


class RunSliceCellRow(Base):
    """The journaled executions a run stood on, in the order they ran."""

    __tablename__ = "run_slice_cells"

    run_id: Mapped[str] = mapped_column(ForeignKey("run_slices.run_id", ondelete="CASCADE"),
                                        primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)


class RunFlagRow(Base):
    """A hidden-state flag of a run."""

    __tablename__ = "run_flags"

    run_id: Mapped[str] = mapped_column(ForeignKey("run_slices.run_id", ondelete="CASCADE"),
                                        primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)


metadata = Base.metadata
