"""Monitors: a folder that says what to watch, and one check of it at a time.

``monitors/churn/monitor.yaml``, hand-editable and checked when loaded::

    name: churn                        # letters, digits, - and _; the folder's name
    model: churn@production            # the version judged: where the alias points at the check
    deployment: churn                  # whose prediction log and /metrics (default: the model's name)
    schedule: "0 * * * *"              # cron expression (null: run by hand)
    targets: [cron]                    # the schedulers' files written beside it (as %export)
    drift: true                        # test the rows served in the window against the version's sample
    significance: 0.05                 # false alarms on windows without drift, at most this often
    share: null                        # null: one drifted column alerts; 0.3: 30% of them must
    min_rows: 500                      # fewer rows: the check is skipped and the window stays open
    first_window: 24h                  # the first check's window (later: since the last judged one)
    performance: true                  # realized (labels) and estimated (CBPE) performance
    performance_since: 7d              # …of the rows served this far back (labels come late)
    performance_window: 1d             # …in windows of this size; the newest judged is used
    min_labels: 30                     # labels a window needs before its realized figure counts
    max_error_rate: 0.05               # share of /predict answers that were server errors (5xx)
    max_p99_ms: null                   # p99 latency of /predict in the window, from the histogram
    alerts: ["webhook=https://…", "command=notify-send churn"]
    on_alert: ["run jobs/train-churn"] # job folders run (with the window) when an incident opens
    retries: 3                         # webhook attempts
    retry_delay: 2.0                   # seconds before the first retry (doubling after)

One check (``nbmlops monitor run monitors/churn``): the rows the deployment logged since the
previous judged check, served by the version judged (rows of other versions are left out);
their drift against that version's training sample (recorded as a drift check, a child of
the check's run); the server's health over the same window (the change in its Prometheus
counters since the previous check). The check is a run of kind ``monitor`` with its own
record (``nbmlops monitor history``).

Alerts are delivered once per incident: the check that finds a condition after a fine one
opens an incident and alerts (a JSON POST to each webhook, retried, with a plain ``text``
field chat tools show; each command, with the check in its environment; ``on_alert`` jobs
run; the exit status of ``monitor run`` is 2); the checks after it that still find a
condition belong to the same incident and stay quiet; a fine check closes it.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops._types import MonitorCheck, NewMonitorCheck
from nbmlops.errors import JobSpecError

if TYPE_CHECKING:
    from nbmlops._types import Deployment, ModelVersion
    from nbmlops.workspace import Workspace

SPEC_FILE = "monitor.yaml"
EXPERIMENT = "monitors"
ALERT_EXIT = 2  # `monitor run`'s exit status when a check opens an incident
# a check's window ends this long before it runs: a server writes its log every 2 s, so a
# row answered just before the check lands in the next window, not in none
SETTLE_S = 10.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ALERT_KINDS = ("webhook", "command")
_FIELDS = ("name", "model", "deployment", "schedule", "targets", "drift", "significance",
           "share", "tests",
           "threshold", "min_rows", "first_window", "performance", "performance_since",
           "performance_window", "min_labels", "max_error_rate", "max_p99_ms", "alerts",
           "on_alert", "retries", "retry_delay", "timeout")


@dataclass(frozen=True)
class Alert:
    """Where an alert goes: ``webhook=URL`` or ``command=SHELL COMMAND``."""

    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.kind}={self.target}"


@dataclass(frozen=True)
class MonitorSpec:
    name: str
    model: str
    deployment: str | None = None
    schedule: str | None = None
    targets: tuple[str, ...] = ()
    drift: bool = True
    significance: float = 0.05
    share: float | None = None
    tests: str | None = None
    threshold: float | None = None
    min_rows: int = 100
    first_window: str = "24h"
    performance: bool = False
    performance_since: str = "7d"
    performance_window: str = "1d"
    min_labels: int = 30
    max_error_rate: float | None = 0.05
    max_p99_ms: float | None = None
    alerts: tuple[Alert, ...] = ()
    on_alert: tuple[str, ...] = ()
    retries: int = 3
    retry_delay: float = 2.0
    timeout: float | None = 3600.0

    @property
    def deployment_name(self) -> str:
        return self.deployment or self.model.split("@")[0].split("/")[0]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "deployment": self.deployment,
                "schedule": self.schedule, "targets": list(self.targets), "drift": self.drift,
                "significance": self.significance, "share": self.share, "tests": self.tests, "threshold": self.threshold,
                "min_rows": self.min_rows, "first_window": self.first_window,
                "performance": self.performance, "performance_since": self.performance_since,
                "performance_window": self.performance_window, "min_labels": self.min_labels,
                "max_error_rate": self.max_error_rate, "max_p99_ms": self.max_p99_ms,
                "alerts": [str(a) for a in self.alerts], "on_alert": list(self.on_alert),
                "retries": self.retries, "retry_delay": self.retry_delay,
                "timeout": self.timeout}

    def to_yaml(self) -> str:
        import yaml

        head = (f"# nbmlops monitor {self.name!r}: one check with `nbmlops monitor run "
                "<this folder>`.\n# Hand-editable; checked when loaded (see the nbmlops "
                "README, Monitoring).\n")
        body: str = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True,
                                   default_flow_style=None, width=100)
        return head + body


def _error(text: str, path: str | None = None) -> JobSpecError:
    return JobSpecError(text, path=path)


def parse_alert(text: Any) -> Alert:
    """``webhook=URL`` or ``command=...`` (as ``--alert`` takes it)."""
    if not isinstance(text, str) or "=" not in text:
        raise _error(f"alert {text!r}: write webhook=URL or command=\"a shell command\"",
                     "alerts")
    kind, _, target = text.partition("=")
    kind, target = kind.strip(), target.strip()
    if kind not in _ALERT_KINDS:
        raise _error(f"alert {text!r}: {kind!r} is not one of {', '.join(_ALERT_KINDS)} "
                     "(write webhook=URL or command=...)", "alerts")
    if not target:
        raise _error(f"alert {text!r}: say where it goes after the '='", "alerts")
    if kind == "webhook" and not re.match(r"^https?://[^\s/]+", target):
        raise _error(f"alert {text!r}: a webhook is an http:// or https:// URL", "alerts")
    return Alert(kind, target)


def parse_on_alert(text: Any) -> str:
    """``run jobs/train-churn``: a job folder run when an incident opens."""
    if not isinstance(text, str) or not text.startswith("run ") or not text[4:].strip():
        raise _error(f"on_alert {text!r}: write \"run JOB_FOLDER\" (a folder made by "
                     "%export, e.g. run jobs/train-churn)", "on_alert")
    return "run " + text[4:].strip()


def _number(name: str, value: Any, *, allow_none: bool = True, minimum: float = 0.0,
            maximum: float = math.inf, integer: bool = False) -> Any:
    if value is None and allow_none:
        return None
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) \
            or not minimum <= value <= maximum:
        what = "a whole number" if integer else "a number"
        bound = f" from {minimum:g}" + (f" to {maximum:g}" if math.isfinite(maximum) else "")
        raise _error(f"{name} {value!r} must be {what}{bound}"
                     + (" (or null)" if allow_none else ""), name)
    return value


def from_dict(data: Any) -> MonitorSpec:
    """A monitor spec from its YAML mapping, checked field by field."""
    from nbmlops.export import check_schedule, target_names
    from nbmlops.references import parse_reference

    if not isinstance(data, Mapping):
        raise _error(f"{SPEC_FILE} must be a mapping of fields (name, model, …)")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise _error(f"{SPEC_FILE}: unknown field(s) {', '.join(map(str, unknown))}; the "
                     f"fields are {', '.join(_FIELDS)}", str(unknown[0]))
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _error(f"monitor name {name!r} must be 1-64 letters, digits, '-' or '_', "
                     "starting with a letter or digit", "name")
    model = data.get("model")
    if not isinstance(model, str):
        raise _error("model: name the version to judge (churn@production or churn/3)", "model")
    try:
        parse_reference(model)
    except ValueError as exc:
        raise _error(f"model: {exc}", "model") from None
    deployment = data.get("deployment")
    if deployment is not None and (not isinstance(deployment, str) or not deployment):
        raise _error(f"deployment {deployment!r}: give a deployment's name", "deployment")
    targets = data.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise _error(f"targets {targets!r}: give a list of names ({', '.join(target_names())})",
                     "targets")
    known = list(target_names())
    for t in targets:
        if t not in known:
            raise _error(f"target {t!r} is not one of {', '.join(known)}", "targets")
    schedule = check_schedule(data.get("schedule"))
    if targets and schedule is None and any(t != "github" for t in targets):
        raise _error("a scheduler target needs a schedule (a cron expression such as "
                     "\"0 * * * *\")", "schedule")
    drift = data.get("drift", True)
    if not isinstance(drift, bool):
        raise _error(f"drift {drift!r}: true or false", "drift")
    tests = data.get("tests")
    if tests is not None and not isinstance(tests, str):
        raise _error(f"tests {tests!r}: one test name (ks, wasserstein, psi, jensenshannon, "
                     "chi2) or null for the defaults", "tests")
    durations = {}
    for key, default in (("first_window", "24h"), ("performance_since", "7d"),
                         ("performance_window", "1d")):
        value = data.get(key, default)
        if not isinstance(value, str) or not re.match(r"^\d+(\.\d+)?[smhd]$", value.strip()):
            raise _error(f"{key} {value!r}: a duration such as 30m, 24h or 7d", key)
        durations[key] = value.strip()
    performance = data.get("performance", False)
    if not isinstance(performance, bool):
        raise _error(f"performance {performance!r}: true or false", "performance")
    if not drift and not performance and data.get("max_error_rate", 0.05) is None \
            and data.get("max_p99_ms") is None:
        raise _error("this monitor checks nothing: turn on drift or performance, or give "
                     "max_error_rate or max_p99_ms", "drift")
    alerts = data.get("alerts") or []
    on_alert = data.get("on_alert") or []
    if not isinstance(alerts, list):
        raise _error("alerts: give a list (webhook=URL, command=...)", "alerts")
    if not isinstance(on_alert, list):
        raise _error("on_alert: give a list (run jobs/NAME)", "on_alert")
    return MonitorSpec(
        name=name, model=model, deployment=deployment, schedule=schedule,
        targets=tuple(targets), drift=drift,
        significance=_number("significance", data.get("significance", 0.05),
                             allow_none=False, minimum=1e-6, maximum=0.5),
        share=_number("share", data.get("share"), minimum=1e-6, maximum=1.0),
        tests=tests, threshold=_number("threshold", data.get("threshold")),
        min_rows=_number("min_rows", data.get("min_rows", 100), allow_none=False,
                         integer=True, minimum=1),
        first_window=durations["first_window"], performance=performance,
        performance_since=durations["performance_since"],
        performance_window=durations["performance_window"],
        min_labels=_number("min_labels", data.get("min_labels", 30), allow_none=False,
                           integer=True, minimum=1),
        max_error_rate=_number("max_error_rate", data.get("max_error_rate", 0.05),
                               maximum=1.0),
        max_p99_ms=_number("max_p99_ms", data.get("max_p99_ms")),
        alerts=tuple(parse_alert(a) for a in alerts),
        on_alert=tuple(parse_on_alert(a) for a in on_alert),
        retries=_number("retries", data.get("retries", 3), allow_none=False, integer=True,
                        minimum=1, maximum=20),
        retry_delay=_number("retry_delay", data.get("retry_delay", 2.0), allow_none=False,
                            maximum=600.0),
        timeout=_number("timeout", data.get("timeout", 3600.0), minimum=1.0))


def load(folder: Path) -> MonitorSpec:
    """The monitor in ``folder`` (its ``monitor.yaml``), read and checked."""
    import yaml

    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise _error(f"no {SPEC_FILE} in {folder}: create the monitor with `nbmlops monitor "
                     "create` or %monitor first")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _error(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); fix or "
                     "re-create it") from None
    spec = from_dict(data)
    if spec.name != Path(folder).resolve().name:
        raise _error(f"{path}: name {spec.name!r} is not the folder's name "
                     f"{Path(folder).resolve().name!r}; rename one of them", "name")
    return spec


@dataclass(frozen=True)
class CreatedMonitor:
    """A monitor folder as written: its spec, the files, how to install each target's."""

    spec: MonitorSpec
    folder: Path
    files: tuple[Path, ...]
    instructions: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"monitor {self.spec.name!r} written to {self.folder} (judges "
                 f"{self.spec.model}, deployment {self.spec.deployment_name})",
                 f"  one check now: nbmlops monitor run {self.folder}"]
        lines += [f"  {line}" for i in self.instructions for line in i.splitlines()]
        return "\n".join(lines)


def create(spec: MonitorSpec, folder: Path, *, project_root: Path, python: str
           ) -> CreatedMonitor:
    """Write ``monitor.yaml`` and the schedulers' files into ``folder``."""
    from nbmlops.export import JobSpec, target_instructions, write_targets

    spec = from_dict(spec.to_dict())  # the same checks as a hand-edited file
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SPEC_FILE
    tmp = path.with_name(f".{SPEC_FILE}.tmp")
    tmp.write_text(spec.to_yaml(), encoding="utf-8")
    os.replace(tmp, path)
    as_job = JobSpec(name=spec.name, notebook=SPEC_FILE, schedule=spec.schedule,
                     targets=spec.targets, timeout=spec.timeout)
    written = write_targets(as_job, spec.targets, job_dir=folder, project_root=project_root,
                            python=python, verb=("monitor", "run"))
    notes = []
    for target in spec.targets:
        mine = [f for f in written if f.relative_to(folder).parts[0] == target]
        if mine:
            notes.append(f"{target}: {target_instructions(target, mine)}")
    return CreatedMonitor(spec, folder, (path, *written), tuple(notes))


# --- one check ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """One alert channel's outcome."""

    channel: str
    ok: bool
    attempts: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "attempts": self.attempts,
                "detail": self.detail}


@dataclass(frozen=True)
class CheckResult:
    """What ``monitor run`` did: the check as recorded, its text, the deliveries."""

    check: MonitorCheck
    text: str
    deliveries: tuple[Delivery, ...] = ()
    jobs: tuple[str, ...] = ()  # what the on_alert jobs came to
    drift_run: str | None = None

    @property
    def exit_status(self) -> int:
        return ALERT_EXIT if self.check.alerted else 0


JobRunner = Callable[[Path, Mapping[str, Any]], tuple[str, str]]
"""Runs an ``on_alert`` job folder with the window; returns (run id, one-line outcome)."""


@dataclass
class _Findings:
    rows: int = 0
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def run_check(ws: Workspace, folder: Path, *, now: datetime | None = None,
              run_job: JobRunner | None = None,
              opener: Callable[..., Any] = urllib.request.urlopen) -> CheckResult:
    """One check of the monitor in ``folder`` (see the module), recorded in ``ws``."""
    from nbmlops.monitoring.run import deployment_window, model_side
    from nbmlops.registry import resolve
    from nbmlops.serving import predlog

    spec = load(folder)
    end = now or datetime.now(tz=UTC) - timedelta(seconds=SETTLE_S)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    version = resolve(ws, spec.model)
    deployment = ws.store.get_deployment(spec.deployment_name)
    last = ws.store.last_monitor_check(spec.name, judged=True)
    start = last.window_end if last is not None else \
        predlog.window_start(spec.first_window, now=end.timestamp())
    assert start is not None
    previous = ws.store.last_monitor_check(spec.name)
    run = tracking.start_run(
        ws, experiment=EXPERIMENT, name=f"monitor {spec.name}", kind="monitor",
        tags={"monitor": spec.name, "model": version.reference,
              "deployment": deployment.name},
        params={"window_start": start.isoformat(), "window_end": end.isoformat(),
                "min_rows": spec.min_rows})
    try:
        found = _Findings()
        window = deployment_window(ws, deployment.name, since=start, until=end,
                                   version=version, empty_ok=True)
        found.rows = len(window.frame)
        found.details["window"] = window.label
        health = _health(deployment, previous)
        found.details["health"] = health
        found.reasons += _health_reasons(spec, health)
        drift_run = None
        judged = found.rows >= spec.min_rows or not spec.drift  # min_rows is drift's need
        if spec.drift and judged:
            from nbmlops.monitoring.run import judge

            report = judge(ws, model_side(ws, version.reference), window,
                           tests=spec.tests, threshold=spec.threshold, share=spec.share,
                           familywise=spec.significance,
                           experiment=EXPERIMENT,  # beside its check, not in "drift"
                           name=f"drift {deployment.name} (monitor {spec.name})",
                           parent_run_id=run.id)
            drift_run = report.run_id
            found.details["drift"] = {
                "run_id": report.run_id, "share": report.share,
                "drifted": [str(c) for c in report.drifted],
                "columns": len(report.columns), "dataset_drift": report.dataset_drift,
                "prediction_drift": None if report.prediction is None
                else bool(report.prediction.drifted)}
            if report.dataset_drift:
                found.reasons.append(f"data drift in {len(report.drifted)} of "
                                     f"{len(report.columns)} columns "
                                     f"({', '.join(map(str, report.drifted[:5]))}"
                                     f"{', …' if len(report.drifted) > 5 else ''})")
            if report.prediction is not None and report.prediction.drifted:
                found.reasons.append("prediction drift")
        if spec.performance:
            figures, why = _performance(ws, spec, deployment.name, version, end)
            found.details["performance"] = figures
            found.reasons += why
        status: Any = "alert" if found.reasons else ("ok" if judged else "skipped")
        if status == "skipped" and not found.reasons:
            found.details["skipped"] = (f"{found.rows:,} rows served by {version.reference} "
                                        f"in the window, fewer than min_rows "
                                        f"{spec.min_rows:,}: the window stays open")
        incidents = int(previous.details.get("incidents", 0) if previous else 0)
        open_before = last is not None and last.status == "alert"  # skipped checks: no say
        alerted = status == "alert" and not open_before
        if alerted:
            incidents += 1
        incident = (incidents if status == "alert" else None)
        found.details["incidents"] = incidents
        record = NewMonitorCheck(
            run_id=run.id, monitor=spec.name, model=version.reference,
            deployment=deployment.name,
            window_start=start.timestamp(),
            window_end=end.timestamp(), rows=found.rows, status=status,
            reasons=tuple(found.reasons), incident=incident, alerted=alerted,
            details=found.details)
        text = _text(spec, record, version)
        deliveries: list[Delivery] = []
        jobs: list[str] = []
        if alerted:
            payload = _payload(spec, record, text)
            for alert in spec.alerts:
                deliveries.append(_deliver(alert, payload, spec, opener=opener))
            triggered: list[str] = []
            for action in spec.on_alert:
                job_run, outcome = _run_on_alert(action, spec, record, run_job)
                jobs.append(outcome)
                if job_run:
                    triggered.append(job_run)
            if triggered:  # the lineage follows the check to the retraining it started
                run.set_tags({"on_alert_runs": ",".join(triggered)})
            record = replace(record, details={
                **record.details, "deliveries": [d.to_dict() for d in deliveries],
                "jobs": jobs})
        run.log_metrics({"rows": float(found.rows), "reasons": float(len(found.reasons))})
        checked = ws.store.record_monitor_check(record)
    except BaseException as exc:
        tracking.finish(run, exc)
        raise
    tracking.finish(run)
    return CheckResult(check=checked, text=text, deliveries=tuple(deliveries),
                       jobs=tuple(jobs), drift_run=drift_run)


_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_values(text: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            a, b = lo, hi
        else:
            first, _, last = base.partition("-")
            a = int(first)
            b = int(last) if last else (hi if step else a)
        out.update(range(a, b + 1, int(step) if step else 1))
    return out


def due_times(schedule: str, after: datetime, until: datetime) -> list[datetime]:
    """The times in ``(after, until]`` at which the cron ``schedule`` fires (UTC), oldest
    first (as cron: when both day of month and day of week are restricted, that is neither
starts with ``*``, either)."""
    fields = schedule.split()
    minutes, hours, days, months, weekdays = (
        _cron_values(f, lo, hi) for f, (lo, hi) in zip(fields, _CRON_RANGES, strict=True))
    if 7 in weekdays:
        weekdays.add(0)
    # as cron: a field that starts with * ("*", "*/2") leaves that day rule unrestricted
    any_day, any_weekday = fields[2].startswith("*"), fields[4].startswith("*")
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    out = []
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= until:
        in_month = day.day in days
        in_week = (day.weekday() + 1) % 7 in weekdays
        fires = (in_month and in_week if any_day or any_weekday else in_month or in_week)
        if day.month in months and fires:
            out += [t for t in (day.replace(hour=h, minute=m) for h in sorted(hours)
                                for m in sorted(minutes)) if after < t <= until]
        day += timedelta(days=1)
    return out


def run_due(ws: Workspace, folder: Path, *, now: datetime | None = None,
            run_job: JobRunner | None = None,
            opener: Callable[..., Any] = urllib.request.urlopen) -> CheckResult | None:
    """A check if the monitor's schedule fired since its previous check (its first check
    always), ending at ``now``; None when none is due. What a scheduler that wakes more
    often than the schedule (or a laptop back from sleep) runs: missed times are one
    check over the whole window, not one per missed time."""
    spec = load(folder)
    if not spec.schedule:
        raise ValueError(f"monitor {spec.name!r} has no schedule, so no check is ever due: "
                         "run it without --due, or give it a schedule")
    end = now or datetime.now(tz=UTC) - timedelta(seconds=SETTLE_S)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    previous = ws.store.last_monitor_check(spec.name)
    if previous is not None and not due_times(spec.schedule, previous.window_end, end):
        return None
    return run_check(ws, folder, now=end, run_job=run_job, opener=opener)


def _performance(ws: Workspace, spec: MonitorSpec, deployment: str, version: ModelVersion,
                 end: datetime) -> tuple[dict[str, Any], list[str]]:
    """The judged version's newest window with a realized figure (enough labels) and its
    newest window with an estimate (CBPE), and the reasons they give."""
    from nbmlops.monitoring.performance import performance

    report = performance(ws, deployment, since=spec.performance_since,
                         window=spec.performance_window, until=end,
                         min_labels=spec.min_labels, now=end.timestamp())
    mine = [r for r in report.rows if r["version"] == version.version]

    def newest(statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = [r for r in mine if r["status"] in statuses]
        if not rows:
            return []
        last = max(r["end"] for r in rows)
        return [r for r in rows if r["end"] == last]

    realized = newest(("ok", "degraded"))
    estimated = [r for r in newest(("estimated ok", "estimated degraded"))
                 if not realized or r["end"] > realized[0]["end"]]
    reasons = []
    for rows in (realized, estimated):
        bad = [r for r in rows if r["status"] in ("degraded", "estimated degraded")]
        if not bad:
            continue
        r0 = bad[0]
        word = "estimated " if r0["status"] == "estimated degraded" else ""
        listed = ", ".join(
            f"{r['metric']} {(r['realized'] if r['realized'] is not None else r['estimated']):.3f}"
            f" (held out {r['low']:.3f}–{r['high']:.3f})" for r in bad)
        served = f"{r0['start']:%m-%d %H:%M}–{r0['end']:%m-%d %H:%M} UTC"
        labelled = f", {r0['labelled']} labelled" if not word else ""
        reasons.append(f"{word}performance below held out: {listed} (rows served {served}"
                       f"{labelled})")

    def shown(r: Mapping[str, Any]) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}

    figures: dict[str, Any] = {"realized": [shown(r) for r in realized],
               "estimated": [shown(r) for r in estimated],
               "notes": list(report.notes)}
    if not realized and not estimated:
        figures["note"] = (f"no window of {version.reference} in the last "
                           f"{spec.performance_since} has {spec.min_labels} labels or estimates")
    return figures, reasons


def _text(spec: MonitorSpec, check: NewMonitorCheck, version: ModelVersion) -> str:
    head = {"ok": "ok", "alert": "ALERT", "skipped": "skipped"}[check.status]
    rows = f"{check.rows:,} rows served by {version.reference}"
    if check.status == "alert":
        why = "; ".join(check.reasons)
        return f"nbmlops monitor {spec.name}: {head} — {rows}: {why}"
    if check.status == "skipped":
        return f"nbmlops monitor {spec.name}: {head} — {rows}, fewer than {spec.min_rows:,}"
    return f"nbmlops monitor {spec.name}: {head} — {rows}, nothing wrong"


def _payload(spec: MonitorSpec, check: NewMonitorCheck, text: str) -> dict[str, Any]:
    def iso(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()

    return {"text": text, "monitor": spec.name, "model": check.model,
            "deployment": check.deployment, "status": check.status,
            "incident": check.incident, "reasons": list(check.reasons), "rows": check.rows,
            "window": {"start": iso(check.window_start), "end": iso(check.window_end)},
            "run_id": check.run_id, "details": dict(check.details)}


def _deliver(alert: Alert, payload: Mapping[str, Any], spec: MonitorSpec, *,
             opener: Callable[..., Any]) -> Delivery:
    body = json.dumps(payload, default=str).encode()
    if alert.kind == "webhook":
        delay, detail = spec.retry_delay, ""
        for attempt in range(1, spec.retries + 1):
            request = urllib.request.Request(
                alert.target, data=body, method="POST",
                headers={"Content-Type": "application/json",
                         "User-Agent": "nbmlops-monitor"})
            try:
                with opener(request, timeout=10) as response:
                    return Delivery(str(alert), True, attempt, f"HTTP {response.status}")
            except urllib.error.HTTPError as exc:
                detail = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    return Delivery(str(alert), False, attempt, detail)  # retrying won't help
            except (OSError, ValueError) as exc:
                detail = str(getattr(exc, "reason", exc)) or type(exc).__name__
            if attempt < spec.retries:
                time.sleep(delay)
                delay *= 2
        return Delivery(str(alert), False, spec.retries, detail)
    env = {**os.environ, "NBMLOPS_MONITOR": spec.name, "NBMLOPS_ALERT_TEXT": payload["text"],
           "NBMLOPS_CHECK": body.decode()}
    try:
        done = subprocess.run(alert.target, shell=True, env=env, capture_output=True,
                              timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return Delivery(str(alert), False, 1, "timed out after 300 s")
    tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return Delivery(str(alert), done.returncode == 0, 1,
                    f"exit status {done.returncode}" + (f": {tail[-1][:200]}" if tail else ""))


def _run_on_alert(action: str, spec: MonitorSpec, check: NewMonitorCheck,
                  run_job: JobRunner | None) -> tuple[str | None, str]:
    """(the job's run id or None, what it came to in a line)."""
    folder = Path(action[4:].strip())
    if run_job is None:
        return None, f"{action}: not run (no job runner given)"
    window = {"window_start": datetime.fromtimestamp(check.window_start or 0, tz=UTC),
              "window_end": datetime.fromtimestamp(check.window_end, tz=UTC),
              "model": check.model, "monitor": spec.name}
    try:
        run_id, outcome = run_job(folder, window)
    except Exception as exc:  # the check is recorded whatever the job does
        return None, f"{action}: {type(exc).__name__}: {exc}".splitlines()[0]
    return run_id, f"{action}: {outcome} (run {run_id[:8]})"


# --- health from the server's metrics ---------------------------------------------------------

def _health(deployment: Deployment, previous: MonitorCheck | None) -> dict[str, Any]:
    """The server's health over the window: the change in its ``/metrics`` counters since
    the previous check (serving's reading of them), or why they cannot be read."""
    from nbmlops.serving import manage

    text, why = manage.scrape(deployment, timeout=10.0)
    if text is None:
        return {"reachable": False, "detail": why}
    try:
        counters = manage.read_counters(text)
    except ValueError as exc:
        return {"reachable": False, "detail": f"/metrics is not Prometheus text ({exc})"}
    before = (previous.details.get("health") or {}).get("counters") if previous else None
    return {"reachable": True, **manage.traffic_figures(counters, before),
            "counters": counters}


def _health_reasons(spec: MonitorSpec, health: Mapping[str, Any]) -> list[str]:
    reasons = []
    if not health.get("reachable", False):
        reasons.append(f"server unreachable ({health.get('detail')})")
        return reasons
    rate = health.get("error_rate")
    if spec.max_error_rate is not None and rate is not None and rate > spec.max_error_rate:
        reasons.append(f"error rate {rate:.1%} > {spec.max_error_rate:.1%} "
                       f"({health['server_errors']} of {health['requests']} requests)")
    p99 = health.get("p99_ms")
    if spec.max_p99_ms is not None and health.get("requests"):
        slow = p99 is None or p99 > spec.max_p99_ms  # None: past the last bucket
        if slow:
            shown = f"{p99:.0f} ms" if p99 is not None else \
                f"over {health.get('p99_above_ms') or 0:.0f} ms"
            reasons.append(f"p99 latency {shown} > {spec.max_p99_ms:g} ms")
    return reasons


def history(ws: Workspace, monitor: str | None = None, *, limit: int | None = 50
            ) -> Sequence[MonitorCheck]:
    """The monitor's checks, newest first."""
    return ws.store.list_monitor_checks(monitor=monitor, limit=limit).items


__all__ = ["ALERT_EXIT", "Alert", "CheckResult", "CreatedMonitor", "Delivery", "MonitorSpec",
           "create", "from_dict", "history", "load", "parse_alert", "parse_on_alert",
           "run_check"]
