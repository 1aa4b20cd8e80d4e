"""``%reproduce`` and ``nbmlops reproduce``: run a recorded run again from its slice."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from nbmlops.commands.arguments import Arguments

if TYPE_CHECKING:
    from nbmlops.reproduce import Reproduction

ARGUMENTS: Arguments = (
    (("run_id",), {"metavar": "RUN", "help": "the run to reproduce (a unique id prefix is "
                   "enough)"}),
    (("--rtol",), {"type": float, "default": 0.0, "help": "relative tolerance for metrics "
                   "(default 0: exactly equal)"}),
    (("--notebook-only",), {"action": "store_true", "help": "write the linear notebook "
                            "without running it"}),
    (("--output", "-o"), {"metavar": "PATH", "help": "where to write the notebook (default: "
                          ".nbmlops/reproduce/<run>.ipynb in the project)"}),
    (("--timeout",), {"type": float, "metavar": "SECONDS", "help": "stop the kernel after "
                      "this long"}),
)


def run(args: argparse.Namespace) -> Reproduction:
    from nbmlops import api

    return api.reproduce(args.run_id, rtol=args.rtol, notebook_only=args.notebook_only,
                         output=args.output, timeout=args.timeout)
