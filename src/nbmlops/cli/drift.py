"""``nbmlops drift``: exit 1 on drift, 0 if none, 2 on errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from nbmlops.cli._output import dump_json, write_frame
from nbmlops.commands import drift as command
from nbmlops.commands.arguments import add_arguments
from nbmlops.errors import NbmlopsError


def _drift(args: argparse.Namespace, out: TextIO) -> int:
    try:
        report = command.run(args)
    except (NbmlopsError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"nbmlops: error: {exc}", file=sys.stderr)
        return 2
    if args.html:
        Path(args.html).write_text(report.to_html(top=args.top))
    if args.format == "json":
        dump_json(report.to_dict(), out)
    else:
        out.write(report.summary() + "\n")
        out.write(f"reference: {report.reference}\ncurrent:   {report.current}\n")
        if report.run_id:
            out.write(f"recorded as run {report.run_id}\n")
        out.write("\n")
        table = report.table()
        write_frame(table.drop(columns=["kind"]), "table", out, "no columns")
    drifted = report.dataset_drift or bool(report.prediction_drift)
    return 1 if drifted else 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drift = sub.add_parser(
        "drift", help="test data (a file, or what a deployment served) for drift against a "
        "reference; exits 1 on drift, 0 if none, 2 on errors (what %%drift does)")
    # the exit status is the alert here
    add_arguments(drift, command.ARGUMENTS, skip=("--fail-on-drift",))
    drift.add_argument("--format", choices=("text", "json"), default="text")
    drift.add_argument("--html", metavar="FILE", help="also write the report as HTML")
    drift.set_defaults(func=_drift)


__all__ = ["add_parsers"]
