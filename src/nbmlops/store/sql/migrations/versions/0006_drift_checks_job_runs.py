"""Drift checks and job runs as records of their own, carried over from tagged runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Frozen: this file never imports nbmlops' live models.

Until 0005 a drift check and a job run were ordinary runs (kind ``drift``, ``job``) whose
meaning was in tags, params and metrics. The runs stay as they are; each also becomes a
row of its own, from what the tables hold (the report artifacts are not read):

- a run of kind ``drift`` with a ``drift_share`` metric becomes a drift check: time = the
  run's start; reference, current, share_threshold, columns_checked = params
  ``reference``, ``current``, ``share``, ``columns`` (else the ``columns`` metric, else
  the count of columns below); model, deployment = tags; dataset_drift,
  prediction_drift = tags ``"true"``/``"false"`` (no tag: false, None); drift_share,
  drifted_columns = metrics. Each ``drift.<column>`` metric becomes a column result with
  its latest value as the statistic, in the order the metrics were first written; its
  test, p-value and threshold were not kept (NULL), and it is marked drifted only when
  that follows from the counts (none drifted: false; all drifted: true; else NULL). A
  drift run without a ``drift_share`` metric failed before its results were logged: it
  stays a run only.
- a run of kind ``job`` becomes a job run: job, job_dir, gate_failed, failure = tags
  (no ``job`` tag: the run's name without its ``job `` prefix); parameters = the run's
  params; child_runs = tag ``runs`` once the run ended, else NULL (counted when read);
  start_time = the run's; the executed notebook's path was not kept (NULL).
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_runs = sa.table("runs", sa.column("id"), sa.column("kind"), sa.column("name"),
                 sa.column("status"), sa.column("start_time"))
_params = sa.table("params", sa.column("run_id"), sa.column("key"), sa.column("value"))
_tags = sa.table("tags", sa.column("run_id"), sa.column("key"), sa.column("value"))
_metrics = sa.table("metrics", sa.column("id"), sa.column("run_id"), sa.column("key"))
_latest = sa.table("latest_metrics", sa.column("run_id"), sa.column("key"),
                   sa.column("value"))
_checks = sa.table(
    "drift_checks", sa.column("run_id"), sa.column("time"), sa.column("reference"),
    sa.column("current"), sa.column("model"), sa.column("model_name"),
    sa.column("deployment"), sa.column("dataset_drift"), sa.column("prediction_drift"),
    sa.column("drift_share"), sa.column("drifted_columns"), sa.column("columns_checked"),
    sa.column("share_threshold"))
_columns = sa.table(
    "drift_check_columns", sa.column("run_id"), sa.column("position"), sa.column("role"),
    sa.column("column"), sa.column("test"), sa.column("statistic"), sa.column("p_value"),
    sa.column("threshold"), sa.column("drifted"))
_jobs = sa.table(
    "job_runs", sa.column("run_id"), sa.column("job"), sa.column("job_dir"),
    sa.column("start_time"), sa.column("parameters"), sa.column("child_runs"),
    sa.column("gate_failed"), sa.column("failure"), sa.column("executed"))


def upgrade() -> None:
    op.create_table(
        "drift_checks",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("current", sa.Text(), nullable=False),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("model_name", sa.String(255), nullable=True),
        sa.Column("deployment", sa.String(255), nullable=True),
        sa.Column("dataset_drift", sa.Boolean(), nullable=False),
        sa.Column("prediction_drift", sa.Boolean(), nullable=True),
        sa.Column("drift_share", sa.Double(), nullable=False),
        sa.Column("drifted_columns", sa.Integer(), nullable=False),
        sa.Column("columns_checked", sa.Integer(), nullable=False),
        sa.Column("share_threshold", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_drift_checks_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", name="pk_drift_checks"),
    )
    op.create_index("ix_drift_checks_time", "drift_checks", ["time"])
    op.create_index("ix_drift_checks_model_name", "drift_checks", ["model_name", "time"])
    op.create_index("ix_drift_checks_model", "drift_checks", ["model", "time"])
    op.create_index("ix_drift_checks_deployment", "drift_checks", ["deployment", "time"])
    op.create_table(
        "drift_check_columns",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("column", sa.Text(), nullable=False),
        sa.Column("test", sa.String(32), nullable=True),
        sa.Column("statistic", sa.Double(), nullable=True),
        sa.Column("p_value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["drift_checks.run_id"], ondelete="CASCADE",
                                name="fk_drift_check_columns_run_id_drift_checks"),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_drift_check_columns"),
    )
    op.create_table(
        "job_runs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("job_dir", sa.Text(), nullable=False),
        sa.Column("start_time", sa.Double(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("child_runs", sa.Integer(), nullable=True),
        sa.Column("gate_failed", sa.Text(), nullable=True),
        sa.Column("failure", sa.String(32), nullable=True),
        sa.Column("executed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_job_runs_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job_start", "job_runs", ["job", "start_time"])
    op.create_index("ix_job_runs_start", "job_runs", ["start_time"])
    conn = op.get_bind()
    _carry_drift_checks(conn)
    _carry_job_runs(conn)


def _of_kind(conn: sa.Connection, table: sa.TableClause, kind: str,
             *cols: str) -> dict[str, dict[str, Any]]:
    """{run id: {key: value}} of one key/value table, for the runs of one kind."""
    out: dict[str, dict[str, Any]] = {}
    stmt = (sa.select(table.c.run_id, *(table.c[c] for c in cols))
            .join(_runs, _runs.c.id == table.c.run_id).where(_runs.c.kind == kind))
    if "id" in table.c:
        stmt = stmt.order_by(table.c.id)
    for run_id, key, *value in conn.execute(stmt):
        out.setdefault(run_id, {}).setdefault(key, value[0] if value else None)
    return out


def _json(text: Any) -> Any:
    return None if text is None else json.loads(str(text))


def _flag(text: Any) -> bool | None:
    return None if text is None else text == "true"


def _model_name(model: str | None) -> str | None:
    if model is None:
        return None
    name, sep, version = model.rpartition("/")
    return name if sep and version.isdigit() else model


def _carry_drift_checks(conn: sa.Connection) -> None:
    params = _of_kind(conn, _params, "drift", "key", "value")
    tags = _of_kind(conn, _tags, "drift", "key", "value")
    latest = _of_kind(conn, _latest, "drift", "key", "value")
    order = _of_kind(conn, _metrics, "drift", "key")  # keys in the order first written
    runs = conn.execute(sa.select(_runs.c.id, _runs.c.start_time)
                        .where(_runs.c.kind == "drift").order_by(_runs.c.start_time)).all()
    for run_id, start in runs:
        metrics = latest.get(run_id, {})
        if "drift_share" not in metrics:
            continue
        p, t = params.get(run_id, {}), tags.get(run_id, {})
        keys = [k for k in order.get(run_id, {}) if str(k).startswith("drift.")]
        drifted = int(metrics.get("drifted_columns") or 0)
        checked = _json(p.get("columns"))
        if not isinstance(checked, int):
            checked = int(metrics["columns"]) if metrics.get("columns") is not None \
                else len(keys)
        known = False if drifted == 0 else (True if drifted == checked else None)
        model = t.get("model")
        conn.execute(sa.insert(_checks).values(
            run_id=run_id, time=start, reference=str(_json(p.get("reference")) or ""),
            current=str(_json(p.get("current")) or ""), model=model,
            model_name=_model_name(None if model is None else str(model)),
            deployment=t.get("deployment"), dataset_drift=bool(_flag(t.get("dataset_drift"))),
            prediction_drift=_flag(t.get("prediction_drift")),
            drift_share=metrics["drift_share"], drifted_columns=drifted,
            columns_checked=checked, share_threshold=_json(p.get("share"))))
        if keys:
            conn.execute(sa.insert(_columns), [
                {"run_id": run_id, "position": i, "role": "feature",
                 "column": str(key)[len("drift."):], "test": None,
                 "statistic": metrics.get(str(key)), "p_value": None, "threshold": None,
                 "drifted": known} for i, key in enumerate(keys)])


def _carry_job_runs(conn: sa.Connection) -> None:
    params = _of_kind(conn, _params, "job", "key", "value")
    tags = _of_kind(conn, _tags, "job", "key", "value")
    runs = conn.execute(sa.select(_runs.c.id, _runs.c.name, _runs.c.status,
                                  _runs.c.start_time).where(_runs.c.kind == "job")).all()
    rows = []
    for run_id, name, status, start in runs:
        t = tags.get(run_id, {})
        job = t.get("job") or (name[len("job "):] if name and name.startswith("job ")
                               else name or run_id)
        count = t.get("runs")
        rows.append({
            "run_id": run_id, "job": job, "job_dir": t.get("job_dir") or "",
            "start_time": start,
            "parameters": json.dumps({k: _json(v) for k, v in
                                      sorted(params.get(run_id, {}).items())},
                                     sort_keys=True, ensure_ascii=False),
            "child_runs": int(str(count)) if count is not None and str(count).isdigit()
            and status != "running" else None,
            "gate_failed": t.get("gate_failed"), "failure": t.get("failure"),
            "executed": None})
    if rows:
        conn.execute(sa.insert(_jobs), rows)


def downgrade() -> None:
    for table in ("job_runs", "drift_check_columns", "drift_checks"):
        op.drop_table(table)
