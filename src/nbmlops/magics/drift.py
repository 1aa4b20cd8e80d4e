"""``%drift``: test data for drift against a reference (parse, call, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments
from IPython.display import display

from nbmlops.commands import drift as command
from nbmlops.errors import DriftDetected, NbmlopsError
from nbmlops.magics import _parsing


@magics_class
class DriftMagics(Magics):
    @magic_arguments()
    @_parsing.arguments(command.ARGUMENTS)
    @no_var_expand
    @line_magic
    def drift(self, line: str) -> Any:
        """Test current data for drift against a reference, column by column.

        Examples::

            %drift X_train X_new                      # two DataFrames
            %drift churn@production X_new             # the model's training sample
            %drift churn@production scores.parquet    # a file
            %drift --deployment churn --since 24h     # what a deployment served
            %drift X_train X_new --test psi --threshold 0.25 --columns age,spend
            %drift churn@production X_new --fail-on-drift   # fail a scheduled notebook

        Per column: the test (by default Kolmogorov–Smirnov up to 1,000 reference values,
        normalised Wasserstein beyond; chi-square / Jensen–Shannon for categories), its
        statistic, p-value or distance, the threshold, the verdict, the change in missing
        values and unseen categories; the dataset drifted when --share of the columns did.
        The report is shown with the most drifted columns plotted, and recorded as a run
        (kind drift). nbmlops.drift(...) returns the same report.
        """
        args = _parsing.parse(self.drift, line)
        namespace = self.shell.user_ns if self.shell is not None else {}

        def resolve(name: str) -> Any:
            if name.isidentifier() and name in namespace:
                return namespace[name]
            if any(ch in name for ch in "[](){}'\"+*"):
                raise UsageError(f"%drift: {name} is an expression, not a variable; assign "
                                 "it to one first (current = ...) and pass its name")
            return name

        try:
            report = command.run(args, resolve)
        except (NbmlopsError, ValueError, TypeError, FileNotFoundError) as exc:
            raise UsageError(f"%drift: {exc}") from None
        display({"text/plain": report.text(), "text/html": report.to_html(top=args.top)},
                raw=True)
        if args.fail_on_drift and (report.dataset_drift or report.prediction_drift):
            where = f" (run {report.run_id[:8]})" if report.run_id else ""
            raise DriftDetected(f"drift detected{where}: {report.summary()}", report=report)
        return None
