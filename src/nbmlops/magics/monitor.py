"""``%monitor``: watch a deployment (parse, call, display); for now ``--performance``."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments
from IPython.display import display

from nbmlops.commands import performance as command
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing


@magics_class
class MonitorMagics(Magics):
    @magic_arguments()
    @_parsing.arguments(command.MONITOR)
    @no_var_expand
    @line_magic
    def monitor(self, line: str) -> Any:
        """Watch a deployment in production.

        Examples::

            %monitor --performance churn                   # the last 30 days, by day
            %monitor --performance churn --since 7d --window 6h

        --performance: per window and version, the rows served and labelled (labels
        attached with nbmlops.log_feedback, `nbmlops feedback` or POST /feedback), the
        realized metrics beside the version's held-out figures and 95% interval (a window
        below it is degraded), and for a binary classifier asked for probabilities the
        estimated accuracy and ROC AUC (CBPE) of windows whose labels have not come yet.
        nbmlops.performance(...) returns the same report.
        """
        args = _parsing.parse(self.monitor, line)
        if not args.performance:
            raise UsageError("%monitor: name what to watch: --performance DEPLOYMENT")
        try:
            report = command.performance(args, args.performance)
        except (NbmlopsError, ValueError) as exc:
            raise UsageError(f"%monitor: {exc}") from None
        display({"text/plain": report.text(), "text/html": report.to_html()}, raw=True)
        return None
