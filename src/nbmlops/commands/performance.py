"""``%monitor --performance`` and ``nbmlops performance``: a deployment's performance over
time; and ``nbmlops feedback``: labels by row id."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from nbmlops.commands.arguments import Arguments

if TYPE_CHECKING:
    from nbmlops.api import FeedbackResult, PerformanceReport

PERFORMANCE: Arguments = (
    (("--since",), {"default": "30d", "help": "the period to show: 30m, 24h, 30d ... "
                    "(default 30d)"}),
    (("--window",), {"default": "1d", "help": "the size of each window (default 1d)"}),
    (("--min-labels",), {"type": int, "default": 30, "metavar": "N",
                         "help": "judge a window only with at least N labels (default 30)"}),
)

MONITOR: Arguments = (
    (("--performance",), {"metavar": "DEPLOYMENT", "help": "realized and estimated "
                          "performance per window of this deployment, beside its held-out "
                          "figures"}),
    *PERFORMANCE,
)

FEEDBACK: Arguments = (
    (("deployment",), {"help": "the deployment whose predictions the labels are for"}),
    (("labels",), {"help": "a .csv or .parquet file with a row id and a label per row"}),
    (("--id",), {"dest": "id_column", "default": "id", "metavar": "COLUMN",
                 "help": "the column of row ids, as /predict answered them (default id)"}),
    (("--label",), {"dest": "label_column", "default": "label", "metavar": "COLUMN",
                    "help": "the column of labels (default label)"}),
)


def performance(args: argparse.Namespace, deployment: str) -> PerformanceReport:
    from nbmlops import api

    return api.performance(deployment, since=args.since, window=args.window,
                           min_labels=args.min_labels)


def feedback(args: argparse.Namespace) -> FeedbackResult:
    from nbmlops import api

    return api.log_feedback(args.deployment, args.labels, id_column=args.id_column,
                            label_column=args.label_column)


__all__ = ["FEEDBACK", "MONITOR", "PERFORMANCE", "feedback", "performance"]
