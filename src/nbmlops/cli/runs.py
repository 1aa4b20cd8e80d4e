"""``nbmlops runs list|show|compare``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from nbmlops.cli._arguments import MAX_LIMIT
from nbmlops.cli._output import clean_floats, dump_json
from nbmlops.commands.runs import hidden_candidates


def _runs_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)  # reading: a store that isn't there is an error, not created
    if not 0 <= args.limit <= MAX_LIMIT:
        raise ValueError(f"--limit must be 0 (all runs) or a positive number up to {MAX_LIMIT}")
    frame = api.runs(args.experiment, where=args.where, sort=args.sort,
                     limit=args.limit or None,
                     kind=args.kind or (None if args.all else api.LISTED_KINDS))
    if args.format == "csv":
        frame.to_csv(out, index=False)
        return 0
    if args.format == "json":
        records = frame.assign(start=frame["start"].map(lambda t: t.isoformat()))
        dump_json(clean_floats(records.to_dict(orient="records")), out)
        return 0
    if frame.empty:
        out.write("no runs recorded" + (" that match" if args.where or args.experiment
                                        else " yet"))
        note = None if args.kind or args.all else hidden_candidates(args.experiment, args.where)
        out.write(f"; {note}\n" if note else "\n")
        return 0
    view = frame.copy()
    view["run_id"] = view["run_id"].str[:8]
    view["start"] = view["start"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    view["duration_s"] = view["duration_s"].round(3)
    keep = [c for c in view.columns if not c.startswith("params.")] if not args.wide \
        else list(view.columns)
    out.write(view[keep].to_string(index=False, na_rep="") + "\n")
    return 0


def _run_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.tracking.summary import RunDetailView

    api.workspace(create=False)
    run = api.get_run(args.run_id)
    if args.format == "json":
        dump_json(clean_floats(dataclasses.asdict(run)), out)
    else:
        out.write(str(RunDetailView(run)) + "\n")
    return 0


def _runs_compare(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    comparison = api.compare(args.run_ids, metric=args.metric)
    if args.format == "csv":
        comparison.frame.to_csv(out, index=False)
    elif args.format == "json":
        frame = comparison.frame.assign(start=comparison.frame["start"].map(
            lambda t: t.isoformat()))
        dump_json(clean_floats({"differing": list(comparison.differing()),
                                "runs": frame.to_dict(orient="records")}), out)
    else:
        out.write(repr(comparison) + "\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = sub.add_parser("runs", help="list and show recorded runs")
    runs_sub = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = runs_sub.add_parser("list", help="list runs, newest first")
    ls.add_argument("-e", "--experiment", help="only runs of this experiment")
    ls.add_argument("-w", "--where", help='filter, e.g. "metrics.accuracy > 0.8"')
    ls.add_argument("-s", "--sort", help="sort keys, e.g. -metrics.accuracy,start")
    ls.add_argument("-n", "--limit", type=int, default=0, help="at most N runs (0 = all)")
    ls.add_argument("--kind", help="only runs of this kind (cell, script, tune, candidate, ...)")
    ls.add_argument("--all", action="store_true",
                    help="include the candidate runs of searches (hidden by default)")
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ls.add_argument("--wide", action="store_true", help="table: include params.* columns")
    ls.set_defaults(func=_runs_list)
    show = runs_sub.add_parser("show", help="show one run with its lineage")
    show.add_argument("run_id", help="the run id, or a unique prefix of it (4+ characters)")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=_run_show)
    cmp = runs_sub.add_parser("compare", help="runs side by side: params, metrics, differences")
    cmp.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    cmp.add_argument("--metric", help="the metric that ranks the runs")
    cmp.add_argument("--format", choices=("table", "json", "csv"), default="table")
    cmp.set_defaults(func=_runs_compare)


__all__ = ["add_parsers"]
