"""The records nbmlops hands back, for annotations: ``from nbmlops.types import RunRecord``."""

from nbmlops._types import (
    ArtifactRef,
    DatasetFingerprint,
    DatasetLink,
    DriftCheck,
    DriftColumnResult,
    Environment,
    Experiment,
    JobRun,
    Lineage,
    LineageEdge,
    LineageNode,
    Metric,
    Origin,
    RecordPage,
    RunArtifact,
    RunKind,
    RunRecord,
    RunStatus,
    StoreInfo,
)
from nbmlops.config import Settings
from nbmlops.tracking.run import ActiveRun
from nbmlops.tracking.summary import RunSummary

__all__ = [
    "ActiveRun",
    "ArtifactRef",
    "DatasetFingerprint",
    "DatasetLink",
    "DriftCheck",
    "DriftColumnResult",
    "Environment",
    "Experiment",
    "JobRun",
    "Lineage",
    "LineageEdge",
    "LineageNode",
    "Metric",
    "Origin",
    "RecordPage",
    "RunArtifact",
    "RunKind",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "Settings",
    "StoreInfo",
]
