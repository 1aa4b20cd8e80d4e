"""``%drift`` and ``nbmlops drift``: test data for drift against a reference."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nbmlops import keyvalue
from nbmlops.commands.arguments import Arguments

if TYPE_CHECKING:
    from nbmlops.api import DriftReport

ARGUMENTS: Arguments = (
    (("reference",), {"nargs": "?", "help": "the reference: a registered model "
                      "(churn@production: its training sample), a .parquet/.csv file (or, "
                      "in a notebook, a DataFrame variable); with --deployment, default: "
                      "the version it serves"}),
    (("current",), {"nargs": "?", "help": "the current data: a .parquet/.csv file (or a "
                    "DataFrame variable)"}),
    (("--deployment",), {"metavar": "NAME", "help": "check what this deployment served "
                         "(its prediction log) instead of CURRENT"}),
    (("--since",), {"help": "with --deployment: a window such as 30m, 24h or 7d "
                    "(default: everything logged)"}),
    (("--columns",), {"nargs": "+", "metavar": "COLUMN", "help": "only these columns "
                      "(space or comma separated)"}),
    (("--test",), {"action": "append", "default": [], "metavar": "TEST|COLUMN=TEST",
                   "help": "ks, wasserstein, psi, jensenshannon or chi2 for every column, or "
                   "for one (repeatable); default: chosen by type and size"}),
    (("--threshold",), {"action": "append", "default": [], "metavar": "X|COLUMN=X",
                        "help": "the test's threshold for every column, or for one "
                        "(repeatable); p-value tests drift below it, distances above"}),
    (("--share",), {"type": float, "default": 0.5, "help": "the share of drifted columns "
                    "that makes the dataset drifted (default 0.5)"}),
    (("--fail-on-drift",), {"action": "store_true", "help": "raise an error when the data "
                            "drifted (the report is recorded first); for notebook jobs"}),
    (("--no-record",), {"action": "store_true", "help": "do not record the report as a run"}),
    (("--experiment", "-e"), {"default": "drift", "help": "the run's experiment (default "
                              "drift)"}),
    (("--name", "-n"), {"help": "the run's name"}),
    (("--top",), {"type": int, "default": 6, "help": "plot the N most drifted columns "
                  "(default 6)"}),
    (("--trusted",), {"action": "store_true", "help": "allow loading a model stored as a "
                      "pickle (for prediction drift)"}),
)

_PAIRS = "give one value for every column, or COLUMN=VALUE pairs"


def run(args: argparse.Namespace, resolve: Callable[[str], Any] | None = None
        ) -> DriftReport:
    """The drift report ``args`` ask for (never raising on drift: the front end decides).
    ``resolve`` turns a name into the object it stands for (a notebook's DataFrame
    variables); without it names stay names (files, model references)."""
    from nbmlops import api

    resolve = resolve or (lambda name: name)
    columns = None
    if args.columns:
        columns = [c.strip() for raw in args.columns for c in raw.split(",") if c.strip()]
    return api.drift(
        None if args.reference is None else resolve(args.reference),
        None if args.current is None else resolve(args.current),
        deployment=args.deployment, since=args.since, columns=columns,
        tests=keyvalue.one_or_pairs(args.test, flag="--test", convert=str, hint=_PAIRS),
        threshold=keyvalue.one_or_pairs(args.threshold, flag="--threshold", convert=float,
                                        hint=_PAIRS),
        share=args.share, record=not args.no_record, experiment=args.experiment,
        name=args.name, fail_on_drift=False, trusted=args.trusted)


__all__ = ["ARGUMENTS", "run"]
