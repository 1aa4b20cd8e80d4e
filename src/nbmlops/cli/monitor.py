"""``nbmlops monitor create|run|history``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any, TextIO

from nbmlops.cli._output import dump_json, write_frame
from nbmlops.commands import monitor as command
from nbmlops.commands.arguments import add_arguments


def _create(args: argparse.Namespace, out: TextIO) -> int:
    out.write(f"{command.create(args)}\n")
    return 0


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--now {text!r}: give an ISO time such as 2026-12-03T10:00:00+00:00"
                         ) from None


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    found = api.run_monitor(args.folder, now=_now(args.now), due=bool(args.due))
    if found is None:
        out.write(f"{args.folder}: no check due (its schedule has not fired since the "
                  "previous check)\n")
        return 0
    result = found
    out.write(result.text + "\n")
    for d in result.deliveries:
        out.write(f"  alert {d.channel}: {'delivered' if d.ok else 'NOT delivered'} "
                  f"({d.detail}, {d.attempts} attempt{'s' if d.attempts != 1 else ''})\n")
    for j in result.jobs:
        out.write(f"  on alert: {j}\n")
    if result.check.status == "alert" and not result.check.alerted:
        out.write(f"  incident {result.check.incident} still open: alerted when it opened, "
                  "not again\n")
    out.write(f"  recorded as run {result.check.run_id}\n")
    return result.exit_status


def _row(c: Any) -> dict[str, Any]:
    return {"time": c.time.strftime("%Y-%m-%d %H:%M:%S"), "monitor": c.monitor,
            "model": c.model, "rows": c.rows, "status": c.status,
            "incident": c.incident, "alerted": c.alerted,
            "reasons": "; ".join(c.reasons), "run_id": c.run_id[:8]}


def _history(args: argparse.Namespace, out: TextIO) -> int:
    import pandas as pd

    from nbmlops import api

    page = api.monitor_checks(args.monitor, limit=args.limit)
    if args.format == "json":
        dump_json([{**_row(c), "run_id": c.run_id, "time": c.time.isoformat(),
                    "window_start": c.window_start.isoformat() if c.window_start else None,
                    "window_end": c.window_end.isoformat(), "details": dict(c.details)}
                   for c in page], out)
        return 0
    frame = pd.DataFrame([_row(c) for c in page])
    write_frame(frame, args.format, out, "no monitor checks yet" if args.monitor is None
                else f"monitor {args.monitor!r} has no checks yet")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    monitor = sub.add_parser("monitor", help="watch a deployed model: drift of what it "
                             "served, its health, alerts once per incident")
    inner = monitor.add_subparsers(dest="monitor_command", required=True, metavar="ACTION")
    create = inner.add_parser("create", help="write a monitor folder (monitor.yaml and the "
                              "schedulers' files), as %monitor does")
    add_arguments(create, command.ARGUMENTS)
    add_arguments(create, command.CREATE_ONLY)
    create.set_defaults(func=_create)
    run = inner.add_parser("run", help="one check of a monitor folder; exit status 2 when "
                           "the check opens an incident (alerts delivered)")
    run.add_argument("folder", help="the monitor folder (monitors/NAME)")
    run.add_argument("--now", metavar="ISO_TIME", help="the end of the window (default now; "
                     "for replaying a schedule)")
    run.add_argument("--due", action="store_true", help="only if the schedule fired since "
                     "the previous check (for a scheduler that wakes more often)")
    run.set_defaults(func=_run)
    history = inner.add_parser("history", help="the checks recorded, newest first")
    history.add_argument("monitor", nargs="?", help="one monitor's (by name)")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--format", choices=("table", "json", "csv"), default="table")
    history.set_defaults(func=_history)


__all__ = ["add_parsers"]
