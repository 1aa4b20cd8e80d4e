"""``nbmlops ci``: the project's notebooks and job folders run headless."""

from __future__ import annotations

import argparse
from typing import TextIO

from nbmlops.cli._output import line_writer


def _ci(args: argparse.Namespace, out: TextIO) -> int:
    """Run the project's notebooks and job folders headless (never executed outputs);
    exit 1 if any fails or misses a gate."""
    from nbmlops import api

    done = api.run_ci(args.paths or ["jobs"], work=args.work, report=line_writer(out))
    out.write(f"nbmlops ci: {done.passed} of {len(done.outcomes)} passed"
              + (f"; failed: {', '.join(done.failed)}" if done.failed else "") + "\n")
    return 0 if done.ok else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ci = sub.add_parser("ci", help="run the project's notebooks and job folders headless "
                        "for CI (never executed outputs); exit 1 if any fails or misses a gate")
    ci.add_argument("paths", nargs="*", help="notebooks, job folders, or folders searched "
                    "for both, to any depth (not build/, .nbmlops/, checkpoints, hidden "
                    "folders, or a job's runs/); default jobs/")
    ci.add_argument("--work", default="build/ci", help="where plain notebooks' throwaway "
                    "jobs go (default build/ci)")
    ci.set_defaults(func=_ci)


__all__ = ["add_parsers"]
