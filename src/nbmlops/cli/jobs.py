"""``nbmlops export`` and ``nbmlops jobs run|list|show|history``."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from nbmlops.cli._output import clean_floats, dump_json, line_writer, write_frame
from nbmlops.commands import export as command
from nbmlops.commands.arguments import add_arguments


def _export(args: argparse.Namespace, out: TextIO) -> int:
    out.write(f"{command.run(args, args.notebook)}\n")
    return 0


def _jobs_run(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    if args.all:
        if args.p:
            raise ValueError("-p goes with one job, not --all")
        done = api.run_jobs(args.folder or "jobs", timeout=args.timeout,
                            retries=args.retries, report=line_writer(out))
        out.write(f"{done.passed} of {len(done.outcomes)} jobs passed\n")
        return 0 if done.ok else 1
    if not args.folder:
        raise ValueError("name the job folder to run (or --all [DIR])")
    result = api.run_job(args.folder, params=api.job_params(args.folder, args.p),
                         timeout=args.timeout, retries=args.retries)
    line_writer(out)(str(result))
    return 0 if result.ok else 1


def _jobs_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    frame = api.jobs(args.root)
    if args.format == "table":
        frame = frame.drop(columns=["last_run"] + ([] if frame["error"].notna().any()
                                                   else ["error"]))
    write_frame(frame, args.format, out, f"no jobs under {args.root or 'jobs'}")
    return 0


def _jobs_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    spec = api.job_spec(args.folder)
    if args.format == "json":
        dump_json({"job": spec.to_dict(), "runs": clean_floats(
            api.job_history(args.folder).head(10).astype(object).to_dict(orient="records"))},
            out)
        return 0
    out.write(spec.to_yaml())
    history = api.job_history(args.folder)
    out.write(f"\n# last runs ({len(history)} in all)\n")
    write_frame(_history_columns(history).head(10), "table", out, "never run")
    return 0


def _history_columns(frame: Any) -> Any:
    keep = [c for c in ("run_id", "status", "start", "duration_s", "tags.failure",
                        "tags.gate_failed", "tags.runs") if c in frame.columns]
    keep += [c for c in frame.columns if c.startswith("params.")]
    return frame[keep]


def _jobs_history(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    frame = api.job_history(args.job)
    write_frame(_history_columns(frame) if args.format == "table" else frame, args.format,
                out, f"job {args.job} has not run yet")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser("export", help="turn a notebook into a job folder (what "
                            "%%export does)")
    export.add_argument("notebook", help="the .ipynb file")
    add_arguments(export, command.ARGUMENTS)
    export.set_defaults(func=_export)
    jobs = sub.add_parser("jobs", help="run, list and inspect exported jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    jrun = jobs_sub.add_parser("run", help="run a job folder with papermill (exit 0 on "
                               "success, 1 on a failed cell, gate or action)")
    jrun.add_argument("folder", nargs="?", help="the job folder (with --all: a folder of "
                      "jobs, default jobs/)")
    jrun.add_argument("-p", action="append", default=[], metavar="NAME=VALUE",
                      help="a parameter's value (repeatable)")
    jrun.add_argument("--all", action="store_true", help="run every job under the folder")
    jrun.add_argument("--timeout", type=float, help="override the job's timeout (seconds)")
    jrun.add_argument("--retries", type=int, help="override the job's retries")
    jrun.set_defaults(func=_jobs_run)
    jlist = jobs_sub.add_parser("list", help="the project's jobs and their last run")
    jlist.add_argument("root", nargs="?", help="a folder of jobs (default jobs/)")
    jlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    jlist.set_defaults(func=_jobs_list)
    jshow = jobs_sub.add_parser("show", help="a job's spec and its last runs")
    jshow.add_argument("folder")
    jshow.add_argument("--format", choices=("text", "json"), default="text")
    jshow.set_defaults(func=_jobs_show)
    jhist = jobs_sub.add_parser("history", help="a job's runs, newest first")
    jhist.add_argument("job", help="its name or folder")
    jhist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    jhist.set_defaults(func=_jobs_history)


__all__ = ["add_parsers"]
