"""The one-line summary shown after a tracked cell (text for terminals and papermill,
HTML for JupyterLab)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbmlops._types import DatasetLink, RunRecord, RunSlice
from nbmlops.formatting import format_duration, format_number, format_size

_ICONS = {"finished": "✓", "failed": "✗", "interrupted": "■", "crashed": "✗", "running": "…"}
_COLOURS = {"finished": "#1a7f37", "failed": "#cf222e", "interrupted": "#9a6700",
            "crashed": "#cf222e", "running": "#0969da"}
MAX_METRICS_SHOWN = 8
MAX_CELL_CHARS = 60


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    experiment: str
    name: str | None
    status: str
    duration_s: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    n_params: int = 0
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # hidden-state flags (when the journal was on)
    clean: bool | None = None  # True: journaled and no flag; None: not journaled

    def _metric_items(self) -> list[str]:
        items = [f"{k}={format_number(v)}" for k, v in list(self.metrics.items())
                 [:MAX_METRICS_SHOWN]]
        if len(self.metrics) > MAX_METRICS_SHOWN:
            items.append(f"+{len(self.metrics) - MAX_METRICS_SHOWN} more")
        return items

    def _details(self) -> list[str]:
        parts = [f"{self.n_params} param{'s' if self.n_params != 1 else ''}"]
        if self.inputs:
            parts.append("in: " + ", ".join(self.inputs))
        if self.outputs:
            parts.append("out: " + ", ".join(self.outputs))
        if self.models:
            parts.append("model: " + ", ".join(self.models))
        if self.files:
            parts.append(f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}")
        if self.clean:
            parts.append("clean")
        elif self.flags:
            parts.append(f"{len(self.flags)} hidden-state flag{'s' if len(self.flags) != 1 else ''}")
        return parts

    def __str__(self) -> str:
        label = f"{self.experiment}/{self.name}" if self.name else self.experiment
        head = (f"{_ICONS.get(self.status, '?')} nbmlops run {self.run_id[:8]} {label} "
                f"{self.status} in {format_duration(self.duration_s)}")
        metrics = self._metric_items()
        line = head + ("  " + " ".join(metrics) if metrics else "")
        line += "  (" + " · ".join(self._details()) + ")"
        if self.error and self.status != "finished":
            line += f"\n  error: {self.error}"
        for warning in self.warnings:
            line += f"\n  warning: {warning}"
        for flag in self.flags:
            line += f"\n  hidden state: {flag}"
        return line

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(str(self))  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = _COLOURS.get(self.status, "#57606a")
        label = f"{self.experiment}/{self.name}" if self.name else self.experiment
        metrics = "".join(
            f'<span style="margin-right:.8em"><b>{esc(k)}</b>={esc(format_number(v))}</span>'
            for k, v in list(self.metrics.items())[:MAX_METRICS_SHOWN])
        extra = ""
        if self.error and self.status != "finished":
            extra += f'<div style="color:{colour}">error: {esc(self.error)}</div>'
        for warning in self.warnings:
            extra += f'<div style="color:#9a6700">warning: {esc(warning)}</div>'
        for flag in self.flags:
            extra += f'<div style="color:#9a6700">hidden state: {esc(flag)}</div>'
        return (
            '<div class="nbmlops-run-summary" style="font-family:var(--jp-code-font-family,'
            'monospace);font-size:12px;line-height:1.6">'
            f'<span style="color:{colour};font-weight:bold">{_ICONS.get(self.status, "?")} '
            f'{esc(self.status)}</span> '
            f'<code title="{esc(self.run_id)}">{esc(self.run_id[:8])}</code> '
            f'<span>{esc(label)}</span> '
            f'<span style="color:#57606a">in {esc(format_duration(self.duration_s))}</span> '
            f'&nbsp;{metrics}'
            f'<span style="color:#57606a">({esc(" · ".join(self._details()))})</span>'
            f'{extra}</div>'
        )


class RunsView:
    """Runs shown as a table for people: short ids, local times to the second, the metrics
    right after the name (the ones sorted on first, under their own names), then status,
    start and duration, then only the params that differ.

    ``frame`` holds the full :func:`nbmlops.runs` DataFrame behind the view.
    """

    def __init__(self, frame: Any, *, shown_of: int | None = None,
                 sort: str | None = None) -> None:
        self.frame = frame
        self.shown_of = shown_of
        self.sort = sort

    def _metric_order(self, columns: list[str]) -> list[str]:
        metrics = [c for c in columns if c.startswith("metrics.")]
        keys = [k.strip().lstrip("-+") for k in (self.sort or "").split(",")]
        first = [k for k in keys if k in metrics]
        return first + [m for m in metrics if m not in first]

    def view(self) -> Any:
        frame = self.frame
        view = frame.copy()
        view["run_id"] = view["run_id"].str[:8]
        view["start"] = view["start"].dt.tz_convert(_local_tz()).dt.strftime("%Y-%m-%d %H:%M:%S")
        statuses = view["status"] if "status" in view.columns else [""] * len(view)
        view["duration_s"] = [_short_duration(status, float(s)) for status, s in
                              zip(statuses, view["duration_s"], strict=True)]
        view = view.rename(columns={"duration_s": "duration"})
        drop = []
        if "experiment" in view.columns and view["experiment"].nunique() <= 1:
            drop.append("experiment")  # one experiment: said once, not on every row
        for col in view.columns:
            if col.startswith("params."):
                # estimator hyperparameters (model.C, ...) live in .frame and `runs show`;
                # the table keeps the user's own params that differ between the runs shown
                if "." in col[len("params."):] or (
                        len(view) > 1 and view[col].astype(str).nunique(dropna=False) <= 1):
                    drop.append(col)
                else:
                    view[col] = view[col].map(_cell)
            elif col.startswith("metrics."):
                view[col] = view[col].map(_cell)
        view = view.drop(columns=drop)
        columns = list(view.columns)
        metrics = self._metric_order(columns)
        head = [c for c in ("run_id", "name") if c in columns]
        rest = [c for c in columns if c not in head and c not in metrics]
        view = view[head + metrics + rest]
        taken = set(view.columns)
        view = view.rename(columns={m: m[len("metrics."):] for m in metrics
                                    if m[len("metrics."):] not in taken})
        return view.fillna("")

    def _note(self) -> str:
        experiments = (self.frame["experiment"].unique() if "experiment" in self.frame.columns
                       else [])
        where = f" in experiment {experiments[0]}" if len(experiments) == 1 else ""
        if self.shown_of is not None and self.shown_of > len(self.frame):
            return (f"showing {len(self.frame)} of {self.shown_of} runs{where} (--limit 0 "
                    "shows all)")
        return f"{len(self.frame)} run{'s' if len(self.frame) != 1 else ''}{where}"

    def __repr__(self) -> str:
        if self.frame.empty:
            return "no runs"
        table: str = self.view().to_string(index=False)
        return table + "\n" + self._note()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return "<p>no runs</p>"
        table = self.view().to_html(index=False, classes="nbmlops-runs", border=0)
        return f'{table}<div style="color:#57606a;font-size:12px">{html.escape(self._note())}</div>'


def _short_duration(status: str, seconds: float) -> str:
    if status == "crashed":  # ended at its last heartbeat
        return "?" if seconds != seconds or seconds <= 0 else f"≥ {format_duration(seconds)}"
    return "" if seconds != seconds else format_duration(seconds)


def _cell(value: Any) -> str:
    """A value as a table cell: long values are cut for display (``.frame`` and ``runs
    show`` hold them whole)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return format_number(value)
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def _local_tz() -> Any:
    from datetime import datetime

    return datetime.now().astimezone().tzinfo


def _duration(status: str, seconds: float | None) -> str:
    """A run's duration as shown. A crashed run ended at its last heartbeat: it ran at
    least that long, and how long is unknown if it died before its first one."""
    if seconds is None or seconds != seconds:
        return "unknown" if status == "crashed" else ""
    if status == "crashed":
        if seconds <= 0:
            return "unknown (the process died before its first heartbeat)"
        return f"at least {format_duration(seconds)} (until its last heartbeat)"
    return format_duration(seconds)


def slice_lines(sl: RunSlice) -> list[str]:
    """A run's slice and flags as text lines (``nbmlops runs show``)."""
    lines = [f"stands on ({len(sl.cells)} cell{'s' if len(sl.cells) != 1 else ''} of "
             f"kernel session {sl.session_id[:8]}): "
             + ("clean" if sl.clean else f"{len(sl.flags)} hidden-state flag"
                + ("s" if len(sl.flags) != 1 else ""))]
    for cell in sl.cells:
        count = "?" if cell.execution_count is None else str(cell.execution_count)
        first = next((ln for ln in cell.code.splitlines() if ln.strip()), "")
        lines.append(f"  [{count}] {first[:70]}" + (f"  ({cell.cell_id})" if cell.cell_id
                                                    else ""))
    lines += [f"  hidden state: {flag}" for flag in sl.flags]
    return lines


class RunDetailView:
    """One run with its lineage, as text (``nbmlops runs show``) and HTML (``%runs --show``)."""

    def __init__(self, run: RunRecord) -> None:
        self.run = run

    def facts(self) -> list[tuple[str, str]]:
        run = self.run
        rows = [
            ("experiment", run.experiment), ("name", run.name or ""), ("kind", run.kind),
            ("status", run.status), ("start", run.start_time.isoformat(timespec="seconds")),
            ("duration", _duration(run.status, run.duration_s)),
            ("notebook", run.notebook_path or ""), ("cell", run.cell_id or ""),
            ("execution", "" if run.execution_count is None else str(run.execution_count)),
            ("user@host", f"{run.user or '?'}@{run.host or '?'}"),
            ("git", (run.git_commit or "")[:12] + (" (dirty)" if run.git_dirty else "")),
            ("parent", run.parent_run_id or ""), ("code sha256", run.code_hash or ""),
        ]
        if run.environment is not None:
            env = run.environment
            rows.append(("environment", f"Python {env.python} on {env.platform}, "
                                        f"{len(env.packages)} packages"))
        return [(label, value) for label, value in rows if value]

    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        run = self.run

        def data(links: tuple[DatasetLink, ...]) -> list[tuple[str, str]]:
            return [(ln.name, f"{ln.dataset.kind} {'x'.join(map(str, ln.dataset.shape))}, "
                              f"{len(ln.dataset.schema)} columns, {ln.dataset.content_hash}")
                    for ln in links]

        return [(title, rows) for title, rows in (
            ("params", [(k, repr(v)) for k, v in run.params.items()]),
            ("metrics", [(k, format_number(v)) for k, v in run.metrics.items()]),
            ("tags", list(run.tags.items())),
            ("inputs", data(run.inputs)),
            ("outputs", data(run.outputs)),
            ("artifacts", [(a.name, f"{a.kind}, {format_size(a.artifact.size)}, sha256 "
                                    f"{a.artifact.sha256[:12]}…") for a in run.artifacts]),
        ) if rows]

    def __str__(self) -> str:
        lines = [f"run {self.run.id}"]
        lines += [f"  {label:<12} {value}" for label, value in self.facts()]
        for title, rows in self.sections():
            sep = " = " if title in ("params", "metrics", "tags") else ": "
            lines.append(f"{title}:")
            lines += [f"  {key}{sep}{value}" for key, value in rows]
        if self.run.slice is not None:
            lines += slice_lines(self.run.slice)
        if self.run.code:
            lines.append("code:")
            lines += [f"  | {line}" for line in self.run.code.rstrip().splitlines()]
        if self.run.error:
            lines.append("error:")
            lines += [f"  {line}" for line in self.run.error.splitlines()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape

        def table(rows: list[tuple[str, str]]) -> str:
            body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{esc(k)}</th>"
                           f"<td style='text-align:left'>{esc(v)}</td></tr>" for k, v in rows)
            return f"<table class='nbmlops-run'>{body}</table>"

        colour = _COLOURS.get(self.run.status, "#57606a")
        parts = [f"<div><b>run <code>{esc(self.run.id)}</code></b> "
                 f"<span style='color:{colour}'>{esc(self.run.status)}</span></div>",
                 table(self.facts())]
        for title, rows in self.sections():
            parts.append(f"<div style='margin-top:.6em'><b>{esc(title)}</b></div>{table(rows)}")
        if self.run.slice is not None:
            parts.append("<div style='margin-top:.6em'><b>stands on</b></div>"
                         f"<pre>{esc(chr(10).join(slice_lines(self.run.slice)))}</pre>")
        if self.run.code:
            parts.append(f"<div style='margin-top:.6em'><b>code</b></div>"
                         f"<pre>{esc(self.run.code)}</pre>")
        if self.run.error:
            parts.append(f"<div style='margin-top:.6em'><b>error</b></div>"
                         f"<pre style='color:{colour}'>{esc(self.run.error)}</pre>")
        return "<div class='nbmlops-run-detail'>" + "".join(parts) + "</div>"
