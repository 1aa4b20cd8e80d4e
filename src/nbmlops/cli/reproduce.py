"""``nbmlops reproduce RUN``: exit 0 when the run reproduced, 1 when it did not."""

from __future__ import annotations

import argparse
from typing import TextIO

from nbmlops.commands import reproduce as command
from nbmlops.commands.arguments import add_arguments


def _reproduce(args: argparse.Namespace, out: TextIO) -> int:
    result = command.run(args)
    out.write(f"{result}\n")
    return 0 if result.ok else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "reproduce", help="run a recorded run again from its slice and compare",
        description="Rebuild a run from the journaled cells it stood on as a linear "
        "notebook, run it with papermill in a fresh kernel, and compare metrics and data "
        "fingerprints. Exit status 0: reproduced; 1: it differs (or errors).")
    add_arguments(parser, command.ARGUMENTS)
    parser.set_defaults(func=_reproduce)
