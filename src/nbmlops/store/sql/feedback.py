"""Ground truth: labels attached to served rows by id (revision 0010).

A label is written with what was served (found in the prediction log by the caller), so
realized performance reads this one table over a range of serve times (indexed by
deployment and ``served_at``) and never rereads the log. A row id labelled again keeps
the latest label: the write is an upsert on the unique (deployment, row id), and the ids
that already had one are returned so the caller can say so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from nbmlops._types import FeedbackLabel
from nbmlops.store.sql.plumbing import SqlBase, chunks, feedback_t

_UPDATED = ("model", "version", "served_at", "label", "prediction", "scores", "classes",
            "received_at", "user")


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, allow_nan=False, default=str)


def _row(label: FeedbackLabel) -> dict[str, Any]:
    return {"deployment": label.deployment, "row_id": label.row_id, "model": label.model,
            "version": label.version, "served_at": label.served_at,
            "label": json.dumps(label.label, allow_nan=False, default=str),
            "prediction": _dump(label.prediction),
            "scores": _dump(None if label.scores is None else list(label.scores)),
            "classes": _dump(None if label.classes is None else list(label.classes)),
            "received_at": label.received_at, "user": label.user}


def _label(row: Any) -> FeedbackLabel:
    scores = None if row.scores is None else tuple(json.loads(row.scores))
    classes = None if row.classes is None else tuple(json.loads(row.classes))
    return FeedbackLabel(
        deployment=row.deployment, row_id=row.row_id, model=row.model,
        version=int(row.version), served_at=float(row.served_at),
        label=json.loads(row.label),
        prediction=None if row.prediction is None else json.loads(row.prediction),
        scores=scores, classes=classes, received_at=float(row.received_at), user=row.user)


class SqlFeedback(SqlBase):
    """Labels for served rows."""

    def record_feedback(self, labels: Sequence[FeedbackLabel]) -> list[str]:
        """Write ``labels`` (each row id once; the caller keeps the latest of repeats) and
        return the row ids that already had a label, now replaced."""
        if not labels:
            return []
        by_deployment: dict[str, list[str]] = {}
        for label in labels:
            by_deployment.setdefault(label.deployment, []).append(label.row_id)
        ins = self._ins(feedback_t)
        upsert = ins.on_conflict_do_update(
            index_elements=["deployment", "row_id"],
            set_={name: getattr(ins.excluded, name) for name in _UPDATED})
        rows = [_row(label) for label in labels]

        def work(conn: Connection) -> list[str]:
            replaced: list[str] = []
            for deployment, ids in by_deployment.items():
                for part in chunks(ids):
                    replaced += conn.execute(select(feedback_t.c.row_id).where(
                        feedback_t.c.deployment == deployment,
                        feedback_t.c.row_id.in_(part))).scalars().all()
            for batch in chunks(rows):
                conn.execute(upsert, list(batch))
            return replaced

        return self._write(work)

    def list_feedback(self, deployment: str, *, since: float | None = None,
                      until: float | None = None) -> list[FeedbackLabel]:
        """The labels of rows ``deployment`` served in ``[since, until)``, oldest first."""
        query = select(feedback_t).where(feedback_t.c.deployment == deployment)
        if since is not None:
            query = query.where(feedback_t.c.served_at >= since)
        if until is not None:
            query = query.where(feedback_t.c.served_at < until)
        query = query.order_by(feedback_t.c.served_at, feedback_t.c.id)

        def work(conn: Connection) -> list[FeedbackLabel]:
            return [_label(row) for row in conn.execute(query)]

        return self._read(work)
