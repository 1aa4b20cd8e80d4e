"""Ground truth: labels that arrive after a prediction, attached to the served row by id.

Every row ``/predict`` answers has its own id (``<request id>-<row>``, in the answer and in
the prediction log's ``_id`` column). A label sent later for that id is joined here to
what was served (the version that answered, when, the prediction and the class
probabilities) and written to the store's feedback table.

Why a table in the store rather than files beside the prediction log: the log is
append-only Parquet parts, bounded (the oldest parts are deleted) and written by every
worker on its own, so attaching a label there would mean rewriting parts another process
may be writing or deleting. The table has a unique (deployment, row id) key, so a label
sent twice is an upsert that keeps the latest and reports the id, atomically under
concurrent senders; and it is indexed by (deployment, serve time), so the labels of a
window are one range scan, joined exactly by id. Because the label row keeps what was
served, realized performance never rereads the log (and survives the log's rotation).

Finding the served rows is one read of the log from the earliest request time the ids
carry (a request id starts with its time in milliseconds), so old parts are skipped.
A server started from the store tags the ids it issues with a key kept in the
deployment's record (:func:`nbmlops.serving.predlog.issued`), so an id missing from the
log is told apart: one the deployment answered whose row is not written yet (another
worker writes every 2 s) is kept **pending** (stored with version 0 and the time its id
carries) and joined when its row is in the log (:func:`resolve_pending`, which every
read of the labels runs first); one whose rows ``--log-sample`` left out is reported as
``unlogged``; any other id (never issued, rotated out: answered more than
:data:`PENDING_S` ago and not in the log, or issued before ids were tagged) is returned as
``unknown``, and a label it had stays as it was. None is dropped silently. Only answered
rows take a label by their id: a shadow challenger's rows (``_shadow``) have ids no answer
gave, and are graded instead by the label of the answered row each shadows (its
``_answered`` id; see :func:`nbmlops.monitoring.performance.by_version`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops._types import FeedbackLabel

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.workspace import Workspace

_SLACK_S = 5.0  # a row's logged time is a moment after its id's


@dataclass(frozen=True)
class FeedbackResult:
    """What happened to a batch of labels."""

    deployment: str
    attached: int  # labels written (new and replaced)
    replaced: tuple[str, ...] = ()  # ids that had a label: the latest now holds
    repeated: tuple[str, ...] = ()  # ids given more than once in this batch: the last kept
    unknown: tuple[str, ...] = ()  # ids not in the prediction log: not written
    pending: tuple[str, ...] = ()  # answered here, row not written yet: kept, joined later
    unlogged: tuple[str, ...] = ()  # answered here, rows sampled out of the log: not written
    versions: Mapping[int, int] = field(default_factory=dict)  # labels attached per version

    def summary(self) -> str:
        parts = [f"{self.attached:,} label{'s' if self.attached != 1 else ''} attached to "
                 f"{self.deployment}'s predictions"]
        if self.versions:
            parts[0] += " (" + ", ".join(f"version {v}: {n:,}"
                                         for v, n in sorted(self.versions.items())) + ")"
        if self.replaced:
            parts.append(f"{len(self.replaced):,} replaced an earlier label (the latest is "
                         f"kept): {_some(self.replaced)}")
        if self.repeated:
            parts.append(f"{len(self.repeated):,} id(s) given more than once (the last is "
                         f"kept): {_some(self.repeated)}")
        if self.pending:
            parts.append(f"{len(self.pending):,} label(s) kept pending: {self.deployment} "
                         f"answered these ids but has not written their rows to the "
                         f"prediction log yet; they are joined when it has: "
                         f"{_some(self.pending)}")
        if self.unlogged:
            parts.append(f"{len(self.unlogged):,} id(s) answered but left out of the "
                         f"prediction log by --log-sample, not attached: "
                         f"{_some(self.unlogged)}")
        if self.unknown:
            parts.append(f"{len(self.unknown):,} unknown id(s) not in the prediction log, "
                         f"not attached (never served by {self.deployment}, or rotated "
                         f"out of its log): {_some(self.unknown)}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "attached": self.attached,
                "replaced": list(self.replaced), "repeated": list(self.repeated),
                "unknown": list(self.unknown), "pending": list(self.pending),
                "unlogged": list(self.unlogged),
                "versions": {str(k): v for k, v in sorted(self.versions.items())}}

    def __repr__(self) -> str:
        return f"FeedbackResult({self.summary()})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary())


def _some(ids: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(ids[:n])
    return shown + (f" and {len(ids) - n:,} more" if len(ids) > n else "")


def plain(value: Any) -> Any:
    """A label as JSON keeps it: NumPy scalars as Python values; None for NaN."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        value = item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def log_feedback(ws: Workspace, deployment: str, ids: Sequence[Any], labels: Sequence[Any]
                 ) -> FeedbackResult:
    """Attach ``labels[i]`` to the row ``deployment`` answered with id ``ids[i]``."""
    from nbmlops.serving import predlog

    latest, repeated = _latest(ids, labels)
    found = ws.store.get_deployment(deployment)
    if not found.log_dir:
        raise ValueError(f"deployment {found.name!r} does not log predictions (it was started "
                         "with --no-log), so labels cannot be joined to what it served")
    since = _earliest(latest)
    log = predlog.read(found.log_dir, since=since, options=ws.settings.artifacts_options)
    served = _served(answered_rows(log), latest)
    now = time.time()
    rows = [_label(found.name, found.model, row_id, latest[row_id], row, now, ws.actor.user)
            for row_id, row in served.items()]
    replaced = ws.store.record_feedback(rows)
    versions: dict[int, int] = {}
    for row in rows:
        versions[row.version] = versions.get(row.version, 0) + 1
    keys = id_keys(ws, found.name)
    pending: list[str] = []
    unlogged: list[str] = []
    unknown: list[str] = []
    for row_id in latest:
        if row_id in served:
            continue
        verdict = predlog.issued(row_id, keys)
        if verdict and (predlog.request_time(row_id) or 0.0) < now - PENDING_S:
            verdict = None  # not just answered: written and rotated out (or never will be)
        (unknown if verdict is None else pending if verdict else unlogged).append(row_id)
    if pending:
        replaced += ws.store.record_feedback([_pending(
            found.name, found.model, i, latest[i], now, ws.actor.user) for i in pending])
    return FeedbackResult(deployment=found.name, attached=len(rows),
                          replaced=tuple(sorted(replaced)), repeated=tuple(repeated),
                          unknown=tuple(unknown), pending=tuple(pending),
                          unlogged=tuple(unlogged), versions=versions)


PENDING = 0  # the version of a pending label: its row is not in the log yet
# a row its worker has not written yet is at most a few flushes (2 s each) old: one not in
# the log this long after it was answered was written and rotated out (or its worker died
# before writing it), and a label for it is unknown, not kept pending for ever
PENDING_S = 60.0


def id_keys(ws: Workspace, deployment: str) -> list[bytes]:
    """The keys the deployments of that name tagged their row ids with (newest first)."""
    keys = []
    for found in ws.store.list_deployments():
        key = found.options.get("row_id_key") if found.name == deployment else None
        if isinstance(key, str):
            keys.append(bytes.fromhex(key))
    return keys


def _pending(deployment: str, model: str, row_id: str, label: Any, now: float,
             user: str | None) -> FeedbackLabel:
    from nbmlops.serving import predlog

    when = predlog.request_time(row_id)
    return FeedbackLabel(deployment=deployment, row_id=row_id, model=model, version=PENDING,
                         served_at=now if when is None else when, label=label,
                         received_at=now, user=user)


@dataclass(frozen=True)
class Resolved:
    """What :func:`resolve_pending` did: the labels still pending, and the labels it joined
    that the store could not keep because whoever reads may not write (a team store's
    reader): a read counts them (``unstored``) and the next writer's read stores them."""

    waiting: list[FeedbackLabel]
    unstored: list[FeedbackLabel]


def resolve_pending(ws: Workspace, deployment: str, *, since: float | None = None,
                    until: float | None = None) -> Resolved:
    """Join the pending labels of rows served in ``[since, until)`` whose rows are now in
    the prediction log, and store them when this workspace may write."""
    from nbmlops.errors import PermissionDeniedError
    from nbmlops.serving import predlog

    waiting = [lb for lb in ws.store.list_feedback(
        deployment, since=None if since is None else since - _SLACK_S,
        until=None if until is None else until + _SLACK_S) if lb.version == PENDING]
    if not waiting:
        return Resolved([], [])
    found = ws.store.get_deployment(deployment)
    if not found.log_dir:
        return Resolved(waiting, [])
    from datetime import UTC, datetime

    start = datetime.fromtimestamp(min(lb.served_at for lb in waiting) - _SLACK_S, tz=UTC)
    log = predlog.read(found.log_dir, since=start, options=ws.settings.artifacts_options)
    served = _served(answered_rows(log), {lb.row_id: lb.label for lb in waiting})
    joined = [_label(lb.deployment, lb.model, lb.row_id, lb.label, served[lb.row_id],
                     lb.received_at, lb.user) for lb in waiting if lb.row_id in served]
    still = [lb for lb in waiting if lb.row_id not in served]
    if not joined:
        return Resolved(still, [])
    try:
        ws.store.record_feedback(joined)
    except PermissionDeniedError:  # a reader: counted in this read, stored by a writer's
        return Resolved(still, joined)
    return Resolved(still, [])


def _latest(ids: Sequence[Any], labels: Sequence[Any]) -> tuple[dict[str, Any], list[str]]:
    """Each id once with its last label, and the ids given more than once."""
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids):,} ids but {len(labels):,} labels: give one label per id")
    latest: dict[str, Any] = {}
    repeated: dict[str, None] = {}
    for raw, label in zip(ids, labels, strict=True):
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or str(raw) == "":
            raise ValueError("an id is missing: every label needs the row id /predict "
                             "answered (its \"ids\")")
        row_id = str(raw)
        value = plain(label)
        if value is None:
            raise ValueError(f"the label of id {row_id} is missing: drop rows without a label")
        if row_id in latest:
            repeated[row_id] = None
            del latest[row_id]  # the last one given keeps its place at the end
        latest[row_id] = value
    return latest, list(repeated)


def _earliest(latest: Mapping[str, Any]) -> Any:
    """The earliest time the ids carry, less a margin (None if an id carries none)."""
    from datetime import UTC, datetime

    from nbmlops.serving import predlog

    times = [predlog.request_time(i) for i in latest]
    if not times or any(t is None for t in times):
        return None
    return datetime.fromtimestamp(min(t for t in times if t is not None) - _SLACK_S, tz=UTC)


def answered_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The log's answered rows: a shadow's rows (scored, never answered) are left out, so
    a label meets only a row an answer gave its id to."""
    if "_shadow" in log.columns:
        return log[~log["_shadow"].eq(True)]
    return log


def _served(log: pd.DataFrame, latest: Mapping[str, Any]) -> dict[str, Any]:
    """The log's rows of the ids asked for, by id (rows as tuples of the log's columns)."""
    if log.empty or "_id" not in log.columns:
        return {}
    hit = log[log["_id"].isin(list(latest))].drop_duplicates("_id", keep="last")
    proba = [c for c in hit.columns if str(c).startswith("proba_")]
    output = _output_column(hit)
    out: dict[str, Any] = {}
    times = hit["_time"].map(lambda t: t.timestamp()).tolist()
    versions = hit["_version"].tolist()
    predictions = hit[output].tolist() if output else [None] * len(hit)
    scores = hit[proba].to_numpy().tolist() if proba else [None] * len(hit)
    for row_id, when, version, prediction, score in zip(hit["_id"].tolist(), times, versions,
                                                         predictions, scores, strict=True):
        has_scores = score is not None and not any(_missing(s) for s in score)
        out[row_id] = (when, int(version), plain(prediction),
                       tuple(float(s) for s in score) if has_scores else None,
                       tuple(str(c)[len("proba_"):] for c in proba) if has_scores else None)
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _output_column(log: pd.DataFrame) -> str | None:
    """The prediction's column (``prediction``, or ``_prediction`` when the model reads a
    column of that name)."""
    names = [c for c in log.columns if str(c).lstrip("_") == "prediction" and c not in
             ("_time", "_version", "_request", "_id")]
    return max(names, key=len) if names else None


def _label(deployment: str, model: str, row_id: str, label: Any, row: Any, now: float,
           user: str | None) -> FeedbackLabel:
    when, version, prediction, scores, classes = row
    return FeedbackLabel(deployment=deployment, row_id=row_id, model=model, version=version,
                         served_at=when, label=label, prediction=prediction, scores=scores,
                         classes=classes, received_at=now, user=user)
