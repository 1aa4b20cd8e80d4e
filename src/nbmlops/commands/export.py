"""``%export`` and ``nbmlops export``: a notebook becomes a job folder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nbmlops import api, keyvalue
from nbmlops.commands.arguments import Arguments
from nbmlops.errors import JobSpecError

if TYPE_CHECKING:
    from nbmlops.api import Exported

# the options (the CLI adds its NOTEBOOK argument, the magic --notebook)
ARGUMENTS: Arguments = (
    (("--job",), {"required": True, "metavar": "NAME",
                  "help": "the job's name (letters, digits, - and _); its folder is "
                  "jobs/NAME unless --folder"}),
    (("--params",), {"nargs": "+", "default": [], "metavar": "NAME=VALUE",
                     "help": "the job's parameters and their defaults (Python literals; "
                     "default: the notebook's parameters cell, else the scalars its tracked "
                     "cells recorded as params)"}),
    (("--schedule",), {"metavar": "CRON", "help": "when to run it: a cron expression, "
                       "e.g. \"0 3 * * *\""}),
    (("--target",), {"nargs": "+", "default": [], "choices": api.export_targets(),
                     "metavar": "TARGET", "help": "write these schedulers' files too "
                     "(%(choices)s)"}),
    (("--gate",), {"action": "append", "default": [], "metavar": "\"METRIC OP VALUE\"",
                   "help": "a condition on the job's runs' metrics, e.g. "
                   "\"metrics.accuracy>=0.8\" (repeatable); a failed gate fails the job"}),
    (("--on-success",), {"action": "append", "default": [], "metavar": "ACTION",
                         "help": "\"register NAME [--alias A]\" or \"promote NAME[/V] "
                         "ALIAS\", done when the job and its gates passed (repeatable)"}),
    (("--folder",), {"metavar": "DIR", "help": "the job folder (default: jobs/NAME)"}),
    (("--timeout",), {"type": float, "metavar": "SECONDS", "help": "stop a run after this "
                      "long"}),
    (("--retries",), {"type": int, "default": 0, "help": "run again after a failure, this "
                      "many times"}),
    (("--experiment", "-e"), {"help": "where the job's runs go (default: the job's name)"}),
)


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["C=1.0", "name='a b'"]``: values read as Python literals, else as text."""
    return keyvalue.parse(pairs, flag="--params", convert=_literal, error=JobSpecError,
                          hint="write parameters as NAME=VALUE, e.g. C=1.0")


def _literal(name: str, text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run(args: argparse.Namespace, notebook: str) -> Exported:
    """Export ``notebook`` as ``args`` (parsed from ARGUMENTS) say."""
    return api.export_job(
        notebook, job=args.job, params=parse_params(args.params) or None,
        schedule=args.schedule, targets=args.target, gates=args.gate,
        on_success=args.on_success, folder=args.folder, timeout=args.timeout,
        retries=args.retries, experiment=args.experiment)


__all__ = ["ARGUMENTS", "parse_params", "run"]
