"""``%monitor`` and ``nbmlops monitor create``: write a monitor folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from nbmlops.commands.arguments import Arguments

if TYPE_CHECKING:
    from nbmlops.api import CreatedMonitor

ARGUMENTS: Arguments = (
    (("model",), {"nargs": "?", "help": "the version to judge: churn@production (where the alias points "
                  "at each check) or churn/3"}),
    (("--name",), {"help": "the monitor's name and folder (default: the model's name)"}),
    (("--deployment",), {"metavar": "NAME", "help": "whose prediction log and /metrics "
                         "to read (default: the model's name)"}),
    (("--schedule",), {"metavar": "CRON", "help": "a cron expression, e.g. \"0 * * * *\" "
                       "(hourly)"}),
    (("--target",), {"action": "append", "default": [], "metavar": "TARGET",
                     "dest": "targets", "help": "a scheduler's files to write beside it: "
                     "cron, systemd, github, airflow (repeatable)"}),
    (("--drift",), {"action": "store_true", "help": "test the rows served in each window "
                    "for drift against the version's training sample (the default when "
                    "nothing else is asked)"}),
    (("--no-drift",), {"action": "store_true", "help": "do not test for drift"}),
    (("--performance",), {"nargs": "?", "const": True, "default": False,
                          "metavar": "DEPLOYMENT", "help": "judge realized (labels sent "
                          "with nbmlops feedback) and estimated (CBPE) performance too; in a "
                          "notebook, --performance DEPLOYMENT alone shows its performance "
                          "over time"}),
    (("--min-rows",), {"type": int, "default": 100, "help": "fewer rows served in the "
                       "window: the check is skipped and the window stays open (default "
                       "100)"}),
    (("--significance",), {"type": float, "default": 0.05, "help": "how often a window "
                           "without drift may raise a false alarm, all columns together "
                           "(default 0.05; each column is tested at it over their number)"}),
    (("--share",), {"type": float, "help": "alert only when this share of the columns "
                    "drifted (default: one column is enough)"}),
    (("--max-error-rate",), {"type": float, "default": 0.05, "help": "the share of "
                             "/predict answers that may be server errors (default 0.05)"}),
    (("--max-p99-ms",), {"type": float, "help": "alert when /predict's p99 latency over "
                         "the window is above this"}),
    (("--alert",), {"action": "append", "default": [], "metavar": "webhook=URL|command=CMD",
                    "help": "where an alert goes, once per incident (repeatable)"}),
    (("--on-alert",), {"action": "append", "default": [], "metavar": "\"run JOB_FOLDER\"",
                       "help": "a job to run when an incident opens, with the window as its "
                       "parameters (repeatable)"}),
    (("--first-window",), {"default": "24h", "help": "the first check's window (default "
                           "24h; later checks start where the last one ended)"}),
    (("--folder",), {"help": "where to write it (default monitors/NAME)"}),
)


# `nbmlops monitor create` only (in a notebook, %monitor's --min-labels serves both)
CREATE_ONLY: Arguments = (
    (("--min-labels",), {"type": int, "default": 30, "metavar": "N", "help": "labels a "
                         "window needs before its realized performance counts (default 30)"}),
    (("--performance-since",), {"default": "7d", "help": "judge performance on the rows "
                                "served this far back (default 7d: labels come late)"}),
    (("--performance-window",), {"default": "1d", "help": "in windows of this size; the "
                                 "newest judged window counts (default 1d)"}),
)


def create(args: argparse.Namespace) -> CreatedMonitor:
    from nbmlops import api

    if not args.model:
        raise ValueError("name the model version to watch, e.g. churn@production")
    if args.drift and args.no_drift:
        raise ValueError("give --drift or --no-drift, not both")
    if isinstance(args.performance, str):
        raise ValueError(f"--performance {args.performance}: when writing a monitor give "
                         "--performance alone (the deployment is the monitor's)")
    return api.create_monitor(
        args.model, name=args.name, deployment=args.deployment, schedule=args.schedule,
        targets=args.targets, drift=not args.no_drift, min_rows=args.min_rows,
        significance=args.significance, share=args.share,
        max_error_rate=args.max_error_rate, max_p99_ms=args.max_p99_ms,
        alerts=args.alert, on_alert=args.on_alert, first_window=args.first_window,
        performance=bool(args.performance), min_labels=getattr(args, "min_labels", 30),
        performance_since=getattr(args, "performance_since", "7d"),
        performance_window=getattr(args, "performance_window", "1d"),
        folder=args.folder)


__all__ = ["ARGUMENTS", "CREATE_ONLY", "create"]
