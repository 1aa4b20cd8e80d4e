"""``nbmlops feedback`` (labels by row id) and ``nbmlops performance`` (per window)."""

from __future__ import annotations

import argparse
from typing import TextIO

from nbmlops.cli._output import dump_json, write_frame
from nbmlops.commands import performance as command
from nbmlops.commands.arguments import add_arguments


def _feedback(args: argparse.Namespace, out: TextIO) -> int:
    result = command.feedback(args)
    if args.format == "json":
        dump_json(result.to_dict(), out)
    else:
        out.write(result.summary() + "\n")
    return 0


def _performance(args: argparse.Namespace, out: TextIO) -> int:
    report = command.performance(args, args.deployment)
    if args.format == "json":
        dump_json(report.to_dict(), out)
    elif args.format == "csv":
        write_frame(report.table(), "csv", out, "")
    else:
        out.write(report.text() + "\n")
    return 1 if report.degraded and args.fail_on_degraded else 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feedback = sub.add_parser(
        "feedback", help="attach labels that arrived later to a deployment's predictions, "
        "by the row ids /predict answered")
    add_arguments(feedback, command.FEEDBACK)
    feedback.add_argument("--format", choices=("text", "json"), default="text")
    feedback.set_defaults(func=_feedback)
    performance = sub.add_parser(
        "performance", help="a deployment's realized and estimated performance per window, "
        "beside its held-out figures (what %%monitor --performance shows)")
    performance.add_argument("deployment", help="the deployment's name")
    add_arguments(performance, command.PERFORMANCE)
    performance.add_argument("--format", choices=("text", "json", "csv"), default="text")
    performance.add_argument("--fail-on-degraded", action="store_true",
                             help="exit 1 when a window is degraded")
    performance.set_defaults(func=_performance)


__all__ = ["add_parsers"]
