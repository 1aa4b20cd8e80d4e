"""Registry tables as people read them: ``%register --list`` and ``--history``.

The magics return a :class:`Table`: its ``frame`` is the DataFrame the API returned (full
ids, UTC timestamps, every column), and it shows as a formatted table: short run ids,
local times to the minute, metrics before the other columns, empty cells for what is not
there (not ``NaN`` or ``None``).
"""

from __future__ import annotations

import html
from typing import Any

from nbmlops.formatting import format_number

_NOTE_STYLE = "color:var(--jp-ui-font-color2,#57606a);font-size:12px"


def _local_time(value: Any) -> str:
    import pandas as pd

    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    from datetime import datetime

    return str(stamp.tz_convert(datetime.now().astimezone().tzinfo).strftime("%Y-%m-%d %H:%M"))


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return format_number(value)
    return str(value)


class Table:
    """A DataFrame (``.frame``) shown formatted for people (``.view()``)."""

    def __init__(self, frame: Any, view: Any, *, what: str, empty: str) -> None:
        self.frame = frame
        self._view = view
        self._what = what
        self._empty = empty

    def view(self) -> Any:
        return self._view

    def _note(self) -> str:
        n = len(self.frame)
        return f"{n} {self._what}{'s' if n != 1 else ''}"

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        if self.frame.empty:
            return self._empty
        return str(self._view.to_string(index=False)) + "\n" + self._note()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return f"<p>{html.escape(self._empty)}</p>"
        table = self._view.to_html(index=False, classes="nbmlops-table", border=0)
        return f'{table}<div style="{_NOTE_STYLE}">{html.escape(self._note())}</div>'


def models_table(frame: Any) -> Table:
    """Registered models: name, latest version, aliases, description, when and by whom."""
    view = frame.copy()
    if not view.empty:
        view["created_at"] = view["created_at"].map(_local_time)
        view = view.rename(columns={"latest_version": "latest", "created_at": "created",
                                    "created_by": "by"})
        view = view.map(_cell)
    return Table(frame, view, what="model", empty="no registered models")


def versions_table(frame: Any) -> Table:
    """A model's versions: version, aliases, its metrics, then when, by whom, from which
    run (8 characters) and in what format."""
    view = frame.copy()
    if not view.empty:
        metrics = [c for c in view.columns if c.startswith("metrics.")]
        view["created_at"] = view["created_at"].map(_local_time)
        view["run_id"] = view["run_id"].map(lambda r: r[:8] if isinstance(r, str) else "")
        rest = [c for c in ("created_at", "created_by", "run_id", "format", "description")
                if c in view.columns]
        view = view[["version", "aliases", *metrics, *rest]]
        view = view.rename(columns={**{m: m[len("metrics."):] for m in metrics},
                                    "created_at": "created", "created_by": "by",
                                    "run_id": "run"})
        view = view.map(_cell)
    return Table(frame, view, what="version", empty="no versions")


def history_table(frame: Any) -> Table:
    """Alias moves and registrations: when, what, which alias went from which version to
    which, by whom and why."""
    view = frame.copy()
    if not view.empty:
        view["time"] = view["time"].map(_local_time)

        def change(row: Any) -> str:
            import pandas as pd

            before, after = row["from_version"], row["to_version"]
            if pd.isna(after):
                return "" if pd.isna(row["version"]) else f"version {row['version']}"
            return f"{'nothing' if pd.isna(before) else before} → {after}"

        view["change"] = view.apply(change, axis=1)
        view = view[["time", "action", "model", "alias", "change", "user", "reason"]]
        view = view.map(_cell)
    return Table(frame, view, what="event", empty="no events")
