"""A drift check as users ask for it: what to compare (frames, files, a registered
model's training sample, a deployment's prediction log), the check, and its record.

The reference can be a DataFrame, a ``.parquet``/``.csv`` file (read by
:mod:`nbmlops.datafiles`' rule), or a registered version
(``churn@production``, ``churn/3``): its training sample, kept at registration. The
current data can be a DataFrame, a file, or a deployment's prediction log over a window
(``deployment="churn", since="24h"``): the rows one version answered (the version given
as the reference, ``churn/2``, else the one the deployment serves now; rows other versions
answered under the same name are left out, and counted in the label); with a deployment and
no reference, the reference is that version. When the current data holds the model's
predictions and the reference is a registered version, the version predicts its own
training sample, so prediction drift is measured too.

Each check is recorded as a run (kind ``drift``): the verdict as tags and metrics (share
of drifted columns, each column's statistic), the two frames' fingerprints as inputs, the
model version and deployment as tags, and the report as ``drift.json`` and ``drift.html``;
and as the store's drift check of that run (``nbmlops.drift_checks()`` reads them), with
each column's test, statistic, p-value, threshold and verdict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops._types import DriftColumnResult, NewDriftCheck, RunArtifact
from nbmlops.datafiles import format_of, read
from nbmlops.errors import DriftDetected
from nbmlops.monitoring.drift import PREDICTION, ColumnDrift, DriftReport, check
from nbmlops.tracking import finish

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    import pandas as pd

    from nbmlops._types import Deployment, ModelVersion
    from nbmlops.workspace import Workspace

Data = Any  # a DataFrame, a file path, or a model reference (the reference side only)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the frame and how to name it."""

    frame: pd.DataFrame
    label: str
    version: ModelVersion | None = None
    deployment: str | None = None
    serves: str | None = None  # a deployment's window: the version it serves (churn/3)


def run_drift(workspace_of: Callable[[], Workspace], reference: Data = None, current: Data = None, *,
              deployment: str | None = None,
              since: str | datetime | timedelta | None = None,
              until: datetime | None = None, columns: Sequence[str] | None = None,
              tests: str | Mapping[str, str] | None = None,
              threshold: float | Mapping[str, float] | None = None, share: float = 0.5,
              prediction: str | None = None, record: bool = True,
              experiment: str = "drift", name: str | None = None,
              fail_on_drift: bool = False, trusted: bool = False) -> DriftReport:
    """Resolve both sides, check, record; raise DriftDetected after recording if asked.
    ``workspace_of`` opens the store only when it is needed: frames compared without
    recording never touch it."""
    if deployment is not None and current is not None:
        raise ValueError("give the current data or a deployment's window, not both")
    if deployment is None and current is None:
        raise ValueError("name the current data to check (a DataFrame or a file), or a "
                         "deployment whose predictions to check (deployment=, --deployment)")
    if deployment is None and since is not None:
        raise ValueError("since= goes with deployment=: the window of its prediction log")
    ref = None if reference is None else data_side(reference, "reference", workspace_of)
    if deployment is not None:
        # the rows of one version are judged: the version given as the reference (churn/1)
        # when it is one of the deployment's model, else the one it serves now
        asked = ref.version if ref is not None else None
        cur = deployment_window(workspace_of(), deployment, since=since, until=until,
                                version=asked)
        if ref is None:
            ref = data_side(cur.serves, "reference", workspace_of)
    else:
        cur = data_side(current, "current")
    if ref is None:
        raise ValueError("name the reference: a DataFrame, a file, or a registered model "
                         "(churn@production)")
    predicted = prediction or PREDICTION
    if (ref.version is not None and predicted in cur.frame.columns
            and predicted not in ref.frame.columns):
        ref = _with_predictions(workspace_of(), ref, predicted, trusted=trusted)
    report = check(ref.frame, cur.frame, columns=columns, tests=tests, threshold=threshold,
                   share=share, prediction=prediction, reference_label=ref.label,
                   current_label=cur.label,
                   model=ref.version.reference if ref.version is not None else None,
                   deployment=cur.deployment)
    if record:
        report = _record(workspace_of(), report, ref, cur, experiment=experiment, name=name)
    if fail_on_drift and (report.dataset_drift or report.prediction_drift):
        where = f" (run {report.run_id[:8]})" if report.run_id else ""
        raise DriftDetected(f"drift detected{where}: {report.summary()}", report=report)
    return report


def data_side(data: Data, what: str, workspace_of: Callable[[], Workspace] | None = None
              ) -> Side:
    """A DataFrame, a file, or (for the reference) a registered model version."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Side(data, f"DataFrame ({len(data):,} × {data.shape[1]})")
    if isinstance(data, pd.Series):
        return Side(data.to_frame(), f"Series {data.name!r} ({len(data):,})")
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if format_of(path) is not None or path.exists():
            return Side(read(path), f"{path.name} ({path})")
        if workspace_of is not None and what == "reference":
            return model_side(workspace_of(), str(data))
        raise FileNotFoundError(f"no file {path}; give a .parquet or .csv file or a DataFrame")
    raise TypeError(f"the {what} must be a DataFrame, a .parquet/.csv file"
                    + (" or a registered model (churn@production)" if what == "reference"
                       else "") + f", not a {type(data).__name__}")


def model_side(ws: Workspace, reference: str) -> Side:
    """A registered version's training sample (kept when it was registered with data)."""
    import json

    from nbmlops.registry import from_parquet_bytes, resolve

    version = resolve(ws, reference)
    sample = version.files.get("sample.parquet")
    if sample is None:
        raise ValueError(f"{version.reference} has no training sample to compare with (it "
                         "was registered without its training data); pass the reference "
                         "data itself")
    frame = from_parquet_bytes(ws.artifacts.read_bytes(sample))
    rows = None
    profile = version.files.get("profile.json")
    if profile is not None:
        rows = json.loads(ws.artifacts.read_bytes(profile)).get("rows")
    of = f" of {rows:,}" if isinstance(rows, int) else ""
    return Side(frame, f"{version.reference} training sample ({len(frame):,}{of} rows)",
                version=version)


def deployment_window(ws: Workspace, name: str, *,
                      since: str | datetime | timedelta | None = None,
                      until: datetime | None = None,
                      version: ModelVersion | None = None, empty_ok: bool = False) -> Side:
    """The rows a deployment's log holds for one version of its model, in the window,
    without the log's own columns: the rows ``version`` served when it is a version of the
    deployment's model, else the rows of the version the deployment serves now. Rows served
    by other versions under the same name (an alias that moved, an earlier deployment) are
    left out, and the label says whose rows were used and how many. ``empty_ok``: a window
    without such rows is an empty frame, not a ValueError (a monitor counts it)."""
    from nbmlops.serving import predlog

    found = ws.store.get_deployment(name)
    if not found.log_dir:
        raise ValueError(f"deployment {found.name!r} does not log predictions (it was started "
                         "with --no-log)")
    judged = version.version if version is not None and version.model == found.model \
        else found.version
    served = f"{found.model}/{judged}"
    log = predlog.read(found.log_dir, since=predlog.window_start(since), until=until,
                       options=ws.settings.artifacts_options)
    window = "all its predictions" if since is None else f"the last {since}" \
        if isinstance(since, str) else f"since {since}"
    if log.empty and empty_ok:
        return Side(log.iloc[:0], f"deployment {found.name}: no rows in {window}",
                    deployment=found.name, serves=served)
    if log.empty:
        raise ValueError(f"deployment {found.name!r} logged no predictions in {window}; "
                         "widen the window (--since)")
    mine = (log["_version"] == judged) & _served_by_model(ws, found, log["_time"])
    if "_shadow" in log.columns:  # a shadow challenger's rows were scored, not served
        mine &= ~log["_shadow"].eq(True)
    if not mine.any() and empty_ok:
        return Side(log.iloc[:0], f"deployment {found.name}: no rows served by {served} in "
                    f"{window}", deployment=found.name, serves=served)
    if not mine.any():
        others = ", ".join(str(v) for v in sorted(set(log["_version"].tolist())))
        raise ValueError(f"deployment {found.name!r} logged {len(log):,} rows in {window}, "
                         f"none served by {served} (the versions logged: {others}); name "
                         f"the version to check as the reference (e.g. {found.model}/"
                         f"{log['_version'].iloc[-1]}) or widen the window (--since)")
    left_out = int((~mine).sum())
    frame = log[mine]
    frame = frame.drop(columns=[c for c in predlog.META if c in frame.columns])
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("proba_")])
    if PREDICTION in frame.columns:  # rows of ?proba=true requests have none
        frame = frame[frame[PREDICTION].notna()] if frame[PREDICTION].notna().any() else \
            frame.drop(columns=[PREDICTION])
    others = f"; {left_out:,} served by other versions left out" if left_out else ""
    return Side(frame.reset_index(drop=True),
                f"deployment {found.name}: rows served by {served}, {window} "
                f"({len(frame):,} rows{others})", deployment=found.name, serves=served)


def _served_by_model(ws: Workspace, found: Deployment, times: pd.Series) -> pd.Series:
    """Which rows were logged while a deployment of ``found``'s model held its name and
    log (all of them, unless another model was deployed under the same name: the log
    records the version, not the model)."""
    import pandas as pd

    same = [d for d in ws.store.list_deployments()
            if d.name == found.name and d.log_dir == found.log_dir]
    if all(d.model == found.model for d in same):
        return pd.Series(True, index=times.index)
    mine = pd.Series(False, index=times.index)
    for d in same:
        if d.model == found.model:
            end = pd.Timestamp.now(tz="UTC") if d.stopped_at is None else \
                pd.Timestamp(d.stopped_at)
            mine |= (times >= pd.Timestamp(d.started_at)) & (times <= end)
    return mine


def _with_predictions(ws: Workspace, ref: Side, column: str, *, trusted: bool) -> Side:
    """The reference sample with what its version predicts for it."""
    from nbmlops.registry import load

    assert ref.version is not None
    loaded = load(ws, ref.version.reference, trusted=trusted)
    frame = ref.frame.copy()
    frame[column] = loaded.predict(ref.frame)
    return replace(ref, frame=frame, label=ref.label + " with its predictions")


def judge(ws: Workspace, ref: Side, cur: Side, *, tests: str | Mapping[str, str] | None = None,
          threshold: float | Mapping[str, float] | None = None, share: float | None = 0.5,
          familywise: float | None = None, experiment: str = "drift",
          name: str | None = None, parent_run_id: str | None = None,
          trusted: bool = False) -> DriftReport:
    """Check a deployment's window (``cur``) against a version's sample (``ref``) and record
    it (the check of a monitor: ``parent_run_id`` is the monitor's run). ``share=None``:
    one drifted column makes the window drifted; ``familywise``: see :func:`check`."""
    if ref.version is not None and PREDICTION in cur.frame.columns \
            and PREDICTION not in ref.frame.columns:
        ref = _with_predictions(ws, ref, PREDICTION, trusted=trusted)
    if share is None:  # any column: 1 of the features the two sides share
        features = [c for c in ref.frame.columns if c in cur.frame.columns and c != PREDICTION]
        share = 1.0 / max(len(features), 1)
    report = check(ref.frame, cur.frame, tests=tests, threshold=threshold, share=share,
                   reference_label=ref.label, current_label=cur.label,
                   model=ref.version.reference if ref.version is not None else None,
                   deployment=cur.deployment, familywise=familywise)
    return _record(ws, report, ref, cur, experiment=experiment, name=name,
                   parent_run_id=parent_run_id)


def _record(ws: Workspace, report: DriftReport, ref: Side, cur: Side, *, experiment: str,
            name: str | None, parent_run_id: str | None = None) -> DriftReport:
    tags: dict[str, Any] = {"dataset_drift": _flag(report.dataset_drift)}
    if report.model:
        tags["model"] = report.model
    if report.deployment:
        tags["deployment"] = report.deployment
    if report.prediction is not None:
        tags["prediction_drift"] = _flag(report.prediction.drifted)
    run = tracking.start_run(ws,
        experiment=experiment, name=name or f"drift {report.current.split(' (')[0]}",
        kind="drift", tags=tags, parent_run_id=parent_run_id,
        params={"reference": report.reference, "current": report.current,
                "share": report.share_threshold, "columns": len(report.columns)})
    try:
        run.log_input(ref.frame, name="reference")
        run.log_input(cur.frame, name="current")
        metrics = {"drift_share": report.share, "drifted_columns": float(len(report.drifted)),
                   "columns": float(len(report.columns))}
        for c in report.columns:
            key = f"drift.{c.column}"
            if c.statistic is not None and _valid_key(key):
                metrics[key] = c.statistic
        if report.prediction is not None and report.prediction.statistic is not None:
            metrics["prediction_drift"] = report.prediction.statistic
        run.log_metrics(metrics)
        report = replace(report, run_id=run.id, _figures=report._figures)
        store = ws.artifacts
        run.add_artifacts([
            RunArtifact(name="drift.json", kind="file", artifact=store.put_bytes(
                report.to_json().encode(), media_type="application/json")),
            RunArtifact(name="drift.html", kind="file", artifact=store.put_bytes(
                report.to_html().encode(), media_type="text/html"))])
        ws.store.record_drift_check(_check_record(run.id, run.start_time, report))
    except BaseException as exc:
        finish(run, exc)
        raise
    finish(run)
    return report


def _check_record(run_id: str, time: float, report: DriftReport) -> NewDriftCheck:
    """The report as the store's drift check of the run that made it."""
    def column(c: ColumnDrift) -> DriftColumnResult:
        return DriftColumnResult(
            column=str(c.column), test=c.test,
            statistic=None if c.statistic is None else float(c.statistic),
            p_value=None if c.p_value is None else float(c.p_value),
            threshold=float(c.threshold), drifted=bool(c.drifted))

    return NewDriftCheck(
        run_id=run_id, time=time, reference=report.reference, current=report.current,
        dataset_drift=bool(report.dataset_drift), drift_share=float(report.share),
        drifted_columns=len(report.drifted), columns_checked=len(report.columns),
        share_threshold=float(report.share_threshold), model=report.model,
        deployment=report.deployment,
        prediction_drift=None if report.prediction is None else bool(report.prediction.drifted),
        columns=tuple(column(c) for c in report.columns),
        prediction=None if report.prediction is None else column(report.prediction))


def _flag(value: bool) -> str:
    return "true" if value else "false"  # as --where "tags.dataset_drift == 'true'" reads


def _valid_key(key: str) -> bool:
    from nbmlops.tracking import check_key

    try:
        check_key("metric", key)
    except ValueError:
        return False  # a column name no metric can carry: it is in drift.json still
    return True


__all__ = ["Side", "data_side", "deployment_window", "judge", "model_side", "run_drift"]
