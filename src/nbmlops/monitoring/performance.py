"""Performance over time: what a deployment's versions achieved on the rows whose labels
came back, window by window, beside their held-out figures; and, for binary classifiers
with probabilities, what they are estimated to achieve on rows without labels yet.

For each window (``window``, e.g. ``1d``, from ``since`` to now) and each version that
served or got labels in it:

* ``served``: rows in the prediction log; ``labelled``: rows with a label (the feedback
  table, by serve time: a label that arrives late counts in the window its row was served);
* realized metrics (classification: accuracy, precision, recall, F1, ROC AUC on rows whose
  request asked for probabilities; regression: MAE, RMSE, R²), beside the version's
  held-out value and its 95% bootstrap interval (kept at registration with
  ``evaluate=(X_test, y_test)``). A metric is ``degraded`` when it is worse than the held-out
  value by more than the two figures' noise allows: both are estimates (the held-out one from
  its interval, the window's from a bootstrap of its labelled rows), and the difference must
  pass a one-sided test at 5% over the number of metrics judged (z above 2.33 for five), so
  a window of a model that is as good as it was alarms on one metric or another at most about
  5% of the time, however small the window. Judged only with at least ``min_labels``
  labelled rows (``few labels`` otherwise);
* estimated accuracy and ROC AUC (CBPE, :func:`nbmlops.evaluation.estimate`) of the rows
  the log holds with probabilities, shown beside the realized values once labels come;
  a window without labels is ``estimated degraded`` by the same test, the estimate's noise
  taken as a proportion's over the rows it covers.

Labels for a version no longer served are judged against that version's own baseline.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nbmlops.formatting import format_number

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops._types import FeedbackLabel
    from nbmlops.workspace import Workspace

MIN_LABELS = 30
_TABLE_COLUMNS = ("start", "end", "version", "served", "labelled", "metric", "realized",
                  "estimated", "held_out", "low", "high", "status")


@dataclass(frozen=True)
class PerformanceReport:
    """Per window and version, realized and estimated metrics beside the held-out ones."""

    deployment: str
    model: str
    since: datetime
    until: datetime
    window: str
    task: str | None
    rows: tuple[dict[str, Any], ...]  # one per (window, version, metric), _TABLE_COLUMNS
    baselines: Mapping[int, Mapping[str, Any] | None] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def degraded(self) -> bool:
        """Whether any window's realized metric fell below its held-out interval."""
        return any(r["status"] == "degraded" for r in self.rows)

    def table(self) -> pd.DataFrame:
        """One row per window, version and metric (the long form)."""
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(_TABLE_COLUMNS))

    def windows(self) -> pd.DataFrame:
        """One row per window and version: counts, each metric (realized, and estimated
        in ``<metric> est.``), and the window's verdict."""
        import pandas as pd

        out: dict[tuple[Any, int], dict[str, Any]] = {}
        for r in self.rows:
            row = out.setdefault((r["start"], r["version"]), {
                "window": r["start"], "version": r["version"], "served": r["served"],
                "labelled": r["labelled"], "statuses": []})
            row[r["metric"]] = math.nan if r["realized"] is None else r["realized"]
            if r["estimated"] is not None:
                row[f"{r['metric']} est."] = r["estimated"]
            row["statuses"].append(r["status"])
        for row in out.values():
            statuses = row.pop("statuses")
            row["status"] = next((s for s in ("degraded", "estimated degraded", "few labels",
                                              "ok", "estimated ok") if s in statuses),
                                 "no labels")
        return pd.DataFrame(list(out.values()))

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, datetime):
                return v.isoformat()
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {"deployment": self.deployment, "model": self.model,
                "since": self.since.isoformat(), "until": self.until.isoformat(),
                "window": self.window, "task": self.task, "degraded": self.degraded,
                "baselines": {str(k): v for k, v in self.baselines.items()},
                "notes": list(self.notes),
                "rows": [{k: plain(v) for k, v in r.items()} for r in self.rows]}

    def summary(self) -> str:
        judged = {(r["start"], r["version"]) for r in self.rows
                  if r["status"] in ("ok", "degraded")}
        bad = sorted({(r["start"], r["version"]) for r in self.rows
                      if r["status"] == "degraded"})
        head = (f"{self.deployment} ({self.model}): {len({r['start'] for r in self.rows})} "
                f"window(s) of {self.window} since {self.since:%Y-%m-%d %H:%M} UTC, "
                f"{len(judged)} judged on labels")
        if bad:
            return head + "; degraded: " + ", ".join(
                f"{s:%Y-%m-%d %H:%M} (version {v})" for s, v in bad)
        return head + "; none degraded"

    def text(self) -> str:
        lines = [self.summary()]
        for version, base in sorted(self.baselines.items()):
            lines.append(f"held-out, version {version}: " + _baseline_text(base))
        lines += [f"note: {n}" for n in self.notes]
        frame = self.windows()
        if not frame.empty:
            shown = frame.copy()
            shown["window"] = shown["window"].map(lambda t: f"{t:%Y-%m-%d %H:%M}")
            lines += ["", shown.to_string(index=False, na_rep="-",
                                          float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines)

    def to_html(self) -> str:
        import html

        esc = html.escape
        parts = ['<div class="nbmlops-performance">', f"<p><b>{esc(self.summary())}</b></p>"]
        parts += [f"<div>held-out, version {v}: {esc(_baseline_text(b))}</div>"
                  for v, b in sorted(self.baselines.items())]
        parts += [f"<div><i>note: {esc(n)}</i></div>" for n in self.notes]
        frame = self.windows()
        if not frame.empty:
            shown = frame.copy()
            shown["window"] = shown["window"].map(lambda t: f"{t:%Y-%m-%d %H:%M}")
            parts.append(shown.to_html(index=False, na_rep="-",
                                       float_format=lambda v: f"{v:.3f}"))
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())


def _baseline_text(base: Mapping[str, Any] | None) -> str:
    if base is None:
        return ("none (register with evaluate=(X_test, y_test) to judge windows against "
                "held-out figures)")
    intervals = base.get("intervals", {})
    shown = []
    for key, value in base.get("metrics", {}).items():
        low_high = intervals.get(key)
        shown.append(f"{key} {format_number(value)}" + (
            f" [{format_number(low_high[0])}, {format_number(low_high[1])}]"
            if low_high else ""))
    return ", ".join(shown) + f" ({base.get('rows', '?')} rows, 95% bootstrap intervals)"


def duration(text: str | timedelta, what: str) -> float:
    """``"1d"``, ``"6h"``, ``"30m"`` (or a timedelta) in seconds."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    else:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
        raw = str(text).strip().lower()
        try:
            seconds = float(raw[:-1]) * units[raw[-1]]
        except (KeyError, ValueError, IndexError):
            raise ValueError(f"{what} {text!r}: write a duration such as 30m, 6h, 1d or "
                             "7d") from None
    if not seconds > 0:
        raise ValueError(f"{what} {text!r}: give a positive duration")
    return seconds


def performance(ws: Workspace, deployment: str, *, since: str | datetime | timedelta = "30d",
                window: str | timedelta = "1d", until: datetime | None = None,
                min_labels: int = MIN_LABELS, now: float | None = None) -> PerformanceReport:
    """Realized and estimated performance of ``deployment`` per window (see the module)."""
    from nbmlops.serving import predlog

    found = ws.store.get_deployment(deployment)
    now = time.time() if now is None else now
    start = predlog.window_start(since, now=now)
    assert start is not None
    end = until.astimezone(UTC) if until is not None else datetime.fromtimestamp(now, tz=UTC)
    step = duration(window, "window")
    if min_labels < 1:
        raise ValueError(f"min_labels {min_labels}: give 1 or more")
    if end <= start:
        raise ValueError(f"since {since!r} is not before the end of the period "
                         f"({end:%Y-%m-%d %H:%M} UTC)")
    if (end - start).total_seconds() / step > 10_000:
        raise ValueError(f"{since} in windows of {window} is more than 10,000 windows; give a "
                         "longer window")
    start = datetime.fromtimestamp(math.floor(start.timestamp() / step) * step, tz=UTC)
    labels, waiting = _labels(ws, found.name, start.timestamp(), end.timestamp())
    log = predlog.read(found.log_dir, since=start, until=end,
                       options=ws.settings.artifacts_options) if found.log_dir else None
    if log is not None:  # a shadow's rows were scored, never served
        from nbmlops.monitoring.feedback import answered_rows

        log = answered_rows(log)
    versions = sorted({lb.version for lb in labels} | (
        set(int(v) for v in log["_version"].unique()) if log is not None else set()))
    baselines = {v: _baseline(ws, found.model, v) for v in versions}
    task = next((b["task"] for b in baselines.values() if b), None) or _guess_task(labels)
    notes = []
    if log is None:
        notes.append(f"deployment {found.name!r} does not log predictions: no served counts "
                     "and no estimates")
    if waiting:
        notes.append(f"{len(waiting):,} label(s) pending: their rows are not in the "
                     "prediction log yet (a worker writes every 2 s); counted once they are")
    if not labels:
        notes.append("no labels in this period yet: send them with nbmlops.log_feedback, "
                     "`nbmlops feedback` or POST /feedback")
    edges = _edges(start.timestamp(), end.timestamp(), step)
    rows: list[dict[str, Any]] = []
    for lo, hi in edges:
        in_window = [lb for lb in labels if lo <= lb.served_at < hi]
        served = None
        if log is not None:
            served = log[(log["_time"] >= _ts(lo)) & (log["_time"] < _ts(hi))]
        present = sorted({lb.version for lb in in_window} | (
            set(int(v) for v in served["_version"].unique()) if served is not None else set()))
        for version in present:
            mine = [lb for lb in in_window if lb.version == version]
            log_rows = served[served["_version"] == version] if served is not None else None
            rows += _window_rows(lo, hi, version, mine, log_rows, baselines.get(version),
                                 task, min_labels)
    return PerformanceReport(
        deployment=found.name, model=found.model, since=start, until=end,
        window=window if isinstance(window, str) else f"{step:g}s", task=task,
        rows=tuple(rows), baselines=baselines, notes=tuple(notes))


def _ts(epoch: float) -> Any:
    import pandas as pd

    return pd.Timestamp(epoch, unit="s", tz="UTC")


def _edges(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """Windows aligned on multiples of ``step`` (days start at 00:00 UTC) covering
    ``[start, end)``; the first begins at or before ``start``."""
    edges, lo = [], math.floor(start / step) * step
    while lo < end:
        edges.append((lo, min(lo + step, end)))
        lo += step
    return edges


def _baseline(ws: Workspace, model: str, version: int) -> dict[str, Any] | None:
    from nbmlops.errors import ModelNotFoundError

    try:
        found = ws.store.get_model_version(model, version=version)
    except ModelNotFoundError:
        return None
    ref = found.files.get("performance.json")
    if ref is None:
        return None
    loaded: dict[str, Any] = json.loads(ws.artifacts.read_bytes(ref))
    return loaded


def _labels(ws: Workspace, deployment: str, since: float, until: float
            ) -> tuple[list[FeedbackLabel], list[FeedbackLabel]]:
    """The labels of the rows served from ``since`` to ``until`` (epoch seconds), the
    pending ones whose rows have come joined first (and counted even where this workspace
    may not store the join: a team store's reader); and the labels still pending."""
    from nbmlops.monitoring.feedback import PENDING, resolve_pending

    resolved = resolve_pending(ws, deployment, since=since, until=until)
    labels = [lb for lb in ws.store.list_feedback(deployment, since=since, until=until)
              if lb.version != PENDING]
    labels += [lb for lb in resolved.unstored if since <= lb.served_at < until]
    return labels, resolved.waiting


def _guess_task(labels: Sequence[FeedbackLabel]) -> str | None:
    if not labels:
        return None
    values = [lb.label for lb in labels]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return "regression" if numeric and len(set(values)) > 20 else "classification"


def _window_rows(lo: float, hi: float, version: int, labels: Sequence[FeedbackLabel],
                 log_rows: pd.DataFrame | None, base: Mapping[str, Any] | None,
                 task: str | None, min_labels: int) -> list[dict[str, Any]]:
    from nbmlops.evaluation import CLASSIFICATION, REGRESSION

    task = (base or {}).get("task") or task or "classification"
    realized, noise = _realized(labels, base, task, bootstrap=len(labels) >= min_labels)
    estimated = _estimated(log_rows, base)
    keys = list((base or {}).get("metrics") or (CLASSIFICATION if task == "classification"
                                                 else REGRESSION))
    judged = max(1, sum(1 for k in keys if k in realized or k in estimated))
    out = []
    for key in keys:
        held = (base or {}).get("metrics", {}).get(key)
        interval = (base or {}).get("intervals", {}).get(key)
        value, guess = realized.get(key), estimated.get(key)
        n_est = estimated.get("_rows")
        spread = noise.get(key) if value is not None else (
            math.sqrt(max(guess * (1 - guess), 0.0) / n_est)
            if guess is not None and n_est and 0 <= guess <= 1 else None)
        out.append({
            "start": datetime.fromtimestamp(lo, tz=UTC), "end": datetime.fromtimestamp(hi, tz=UTC),
            "version": version, "served": None if log_rows is None else len(log_rows),
            "labelled": len(labels), "metric": key, "realized": value, "estimated": guess,
            "held_out": held, "low": None if interval is None else interval[0],
            "high": None if interval is None else interval[1],
            "status": _status(key, value, guess, held, interval, spread, len(labels),
                              min_labels, judged)})
    return out


Z_ONE_SIDED = {1: 1.645, 2: 1.960, 3: 2.128, 4: 2.241, 5: 2.326, 6: 2.394, 7: 2.450, 8: 2.498}


def _status(key: str, value: float | None, guess: float | None, held: float | None,
            interval: Sequence[float] | None, spread: float | None, labelled: int,
            min_labels: int, judged: int = 1) -> str:
    """ok or degraded: is the window worse than held out by more than the noise of both
    figures allows (one-sided, 5% over the ``judged`` metrics)?"""
    from nbmlops.evaluation import LOWER_IS_BETTER

    z = Z_ONE_SIDED.get(judged, 2.5)

    def worse(v: float) -> bool:
        assert interval is not None
        centre = held if held is not None else (interval[0] + interval[1]) / 2
        se_held = (interval[1] - interval[0]) / (2 * 1.96)
        se = math.sqrt(se_held ** 2 + (spread or 0.0) ** 2)
        gap = (v - centre) if key in LOWER_IS_BETTER else (centre - v)
        if se == 0:
            return gap > 0
        return gap / se > z

    if value is not None:
        if labelled < min_labels:
            return "few labels"
        if interval is None:
            return "no baseline"
        return "degraded" if worse(value) else "ok"
    if guess is not None and interval is not None:
        return "estimated degraded" if worse(guess) else "estimated ok"
    return "no labels"


BOOTSTRAP = 200  # resamples of a window's labelled rows for its metrics' noise


def _realized(labels: Sequence[FeedbackLabel], base: Mapping[str, Any] | None, task: str,
              *, bootstrap: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """The window's metrics, and (``bootstrap``) each one's standard error."""
    import numpy as np

    from nbmlops.evaluation import class_key, metrics_of

    if not labels:
        return {}, {}
    rng = np.random.default_rng(0)

    def noise(n: int, measure: Any) -> dict[str, float]:
        if not bootstrap or n < 2:
            return {}
        draws = [measure(rng.integers(0, n, n)) for _ in range(BOOTSTRAP)]
        keys = set().union(*draws)
        return {k: float(np.std([d[k] for d in draws if k in d], ddof=1)) for k in keys
                if sum(1 for d in draws if k in d) > 1}

    if task == "regression":
        pairs = [(lb.label, lb.prediction) for lb in labels if lb.prediction is not None]
        if not pairs:
            return {}, {}
        t = np.asarray([p[0] for p in pairs], dtype=float)
        pr = np.asarray([p[1] for p in pairs], dtype=float)
        return metrics_of(task, t, pr), noise(len(t), lambda i: metrics_of(task, t[i], pr[i]))
    classes = [class_key(c) for c in (base or {}).get("classes") or ()]
    positive = (base or {}).get("positive")
    y_true, y_pred, scores = [], [], []
    for lb in labels:
        predicted, score = _predicted(lb, positive)
        if predicted is None:
            continue
        y_true.append(class_key(lb.label))
        y_pred.append(predicted)
        scores.append(score)
    if not y_true:
        return {}, {}
    if not classes:
        classes = sorted(set(y_true) | set(y_pred))
        positive = classes[1] if len(classes) == 2 else None
    t_all = np.asarray(y_true, dtype=object)
    p_all = np.asarray(y_pred, dtype=object)
    scored = np.asarray([i for i, s in enumerate(scores) if s is not None], dtype=int)
    s_all = np.asarray([s if s is not None else np.nan for s in scores], dtype=float)

    def measure(index: Any) -> dict[str, float]:
        out = metrics_of(task, t_all[index], p_all[index], classes=classes, positive=positive)
        if scored.size:  # rows asked ?proba=true
            mine = index[np.isin(index, scored)]
            if mine.size:
                auc = metrics_of(task, t_all[mine], p_all[mine], scores=s_all[mine],
                                 classes=classes, positive=positive).get("roc_auc")
                if auc is not None:
                    out["roc_auc"] = auc
        return out

    every = np.arange(len(t_all))
    return measure(every), noise(len(t_all), measure)


def _predicted(label: FeedbackLabel, positive: str | None) -> tuple[str | None, float | None]:
    """The class a labelled row was predicted as, and its positive-class probability."""
    from nbmlops.evaluation import class_key

    score = None
    probs = dict(zip(label.classes or (), label.scores or (), strict=False))
    if probs and positive is not None and positive in probs:
        score = probs[positive]
    if label.prediction is not None:
        return class_key(label.prediction), score
    if probs:  # a ?proba=true row: the class of the highest probability
        return max(probs, key=lambda c: probs[c]), score
    return None, score


def _estimated(log_rows: pd.DataFrame | None, base: Mapping[str, Any] | None
               ) -> dict[str, float]:
    """CBPE over the window's logged rows that carry the positive class's probability."""
    from nbmlops.evaluation import estimate

    if log_rows is None or log_rows.empty or not base or not base.get("calibration"):
        return {}
    column = f"proba_{base['positive']}"
    if column not in log_rows.columns:
        return {}
    rows = log_rows[log_rows[column].notna()]
    if rows.empty:
        return {}
    scores = rows[column].astype(float).to_numpy()
    return {**estimate(base["calibration"], scores, scores > 0.5), "_rows": float(len(scores))}


def by_version(ws: Workspace, deployment: str, *, since: float, until: float | None = None,
               versions: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:
    """Per version of ``deployment`` since ``since`` (epoch seconds), what a rollout shows
    beside its live figures: ``labelled`` rows, the ``realized`` metrics of the labelled
    rows (the feedback table: each label carries the version that answered its row; a
    shadow's rows are graded by the label of the answered row each shadows, its
    ``_answered`` id), and, while none are labelled, the ``estimated`` ones (CBPE over the
    version's logged rows with probabilities, a shadow's scored rows included); ``basis``
    says which is shown (``realized``, ``estimated`` or None). A version with shadow rows
    labelled also has ``shadowed`` (how many) and ``beside``: the ``labelled`` count, the
    ``versions`` that answered those same rows and their ``realized`` metrics on them."""
    from nbmlops.serving import predlog

    found = ws.store.get_deployment(deployment)
    until = time.time() if until is None else until
    labels, _ = _labels(ws, found.name, since, until)
    log = None
    if found.log_dir:
        log = predlog.read(found.log_dir, since=datetime.fromtimestamp(since, tz=UTC),
                           until=datetime.fromtimestamp(until, tz=UTC),
                           options=ws.settings.artifacts_options)
    wanted = sorted(set(versions) if versions is not None else (
        {lb.version for lb in labels} | (set(int(v) for v in log["_version"].unique())
                                         if log is not None else set())))
    shadowed = shadow_labels(log, labels) if log is not None else {}
    out: dict[int, dict[str, Any]] = {}
    for version in wanted:
        base = _baseline(ws, found.model, version)
        task = (base or {}).get("task") or _guess_task(labels) or "classification"
        pairs = shadowed.get(version, [])
        mine = [lb for lb in labels if lb.version == version] + [p[0] for p in pairs]
        realized, _ = _realized(mine, base, task)
        rows = log[log["_version"] == version] if log is not None else None
        estimated = {k: v for k, v in _estimated(rows, base).items() if k != "_rows"}
        out[version] = {
            "labelled": len(mine), "realized": realized, "estimated": estimated,
            "held_out": dict((base or {}).get("metrics") or {}),
            "basis": "realized" if realized else "estimated" if estimated else None}
        if pairs:
            answered = [p[1] for p in pairs]
            answering = sorted({lb.version for lb in answered})
            beside = _baseline(ws, found.model, answering[0]) if len(answering) == 1 else base
            out[version]["shadowed"] = len(pairs)
            out[version]["beside"] = {"labelled": len(answered), "versions": answering,
                                      "realized": _realized(answered, beside, task)[0]}
    return out


def shadow_labels(log: pd.DataFrame, labels: Sequence[FeedbackLabel]
                  ) -> dict[int, list[tuple[FeedbackLabel, FeedbackLabel]]]:
    """Per shadow version, its logged rows whose answered row (``_answered``) has a label:
    (the label joined to the shadow's own prediction, the answered row's label). Logs
    written before shadow rows kept ``_answered`` have none."""
    from dataclasses import replace

    from nbmlops.monitoring.feedback import _served

    if log.empty or "_shadow" not in log.columns or "_answered" not in log.columns \
            or not labels:
        return {}
    by_id = {lb.row_id: lb for lb in labels}
    rows = log[log["_shadow"].eq(True) & log["_answered"].isin(list(by_id))]
    out: dict[int, list[tuple[FeedbackLabel, FeedbackLabel]]] = {}
    for version in sorted(int(v) for v in rows["_version"].unique()):
        mine = rows[rows["_version"] == version]
        served = _served(mine.drop(columns=["_id"]).rename(columns={"_answered": "_id"}),
                         by_id)
        out[version] = [
            (replace(by_id[row_id], version=version, served_at=when, prediction=prediction,
                     scores=scores, classes=classes), by_id[row_id])
            for row_id, (when, _, prediction, scores, classes) in served.items()]
    return out
