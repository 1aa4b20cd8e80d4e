"""``nbmlops deploy``, ``nbmlops predictions`` and ``nbmlops serve``."""

from __future__ import annotations

import argparse
from typing import TextIO

from nbmlops.cli._output import clean_floats, dump_json, write_frame
from nbmlops.commands import deploy as command
from nbmlops.commands.arguments import add_arguments


def _deploy(args: argparse.Namespace, out: TextIO) -> int:
    outcome = command.run(args)
    if outcome.message is not None:
        out.write(outcome.message + "\n")
    if outcome.table is not None:
        shown = outcome.table
        if args.format == "table":
            shown = shown.drop(columns=["id", "options"])
        write_frame(shown, args.format, out, "no deployments yet")
    return 0


def _predictions(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    if args.limit < 0:
        raise ValueError("--limit must be 0 (all rows) or a positive number")
    frame = api.predictions(args.name, since=args.since)
    if args.limit:
        frame = frame.tail(args.limit)
    if args.format == "json":
        dump_json(clean_floats(frame.assign(_time=frame["_time"].map(
            lambda t: t.isoformat())).to_dict(orient="records")), out)
    else:
        write_frame(frame, args.format, out, "no predictions logged in that window")
    return 0


def _rollout(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    report = api.rollout(args.name)
    if args.format == "json":
        dump_json(clean_floats({**{k: getattr(report, k) for k in (
            "deployment", "mode", "status", "champion", "challenger", "share", "key",
            "promote_when", "rollback_when", "versions", "decisions")}}), out)
    else:
        out.write(str(report) + "\n")
    return 0


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops.serving.__main__ import main as serve_main

    return serve_main(args.rest, prog="nbmlops serve")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = sub.add_parser(
        "deploy", help="serve a registered model in the background, list/stop/inspect "
        "deployments, score a file, export a bundle (what %%deploy does)")
    add_arguments(deploy, command.ARGUMENTS)
    deploy.add_argument("--format", choices=("table", "json", "csv"), default="table",
                        help="with --list")
    deploy.set_defaults(func=_deploy)
    preds = sub.add_parser("predictions", help="what a deployment was asked and answered")
    preds.add_argument("name", help="the deployment")
    preds.add_argument("--since", help="a window such as 30m, 24h or 7d (default: all)")
    preds.add_argument("--limit", type=int, default=0, metavar="N",
                       help="only the last N rows (0 = all, the default)")
    preds.add_argument("--format", choices=("table", "json", "csv"), default="table")
    preds.set_defaults(func=_predictions)
    rollout = sub.add_parser("rollout", help="a canary's or shadow's live comparison: "
                             "requests, errors, p50/p99, agreement, decisions")
    rollout.add_argument("name", help="the deployment")
    rollout.add_argument("--format", choices=("text", "json"), default="text")
    rollout.set_defaults(func=_rollout)
    serve = sub.add_parser("serve", add_help=False, help="serve a model reference or a "
                           "bundle folder in the foreground, for production (--help: options)")
    serve.add_argument("rest", nargs=argparse.REMAINDER)
    serve.set_defaults(func=_serve)


__all__ = ["add_parsers"]
