"""``%monitor``: write a monitor folder, run one check, show the checks, show performance
over time (parse, call, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from nbmlops.commands import monitor as command
from nbmlops.commands import performance
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing


@magics_class
class MonitorMagics(Magics):
    @magic_arguments()
    @argument("--run", metavar="FOLDER", help="one check of this monitor folder now")
    @argument("--history", action="store_true", help="the checks recorded (of the monitor "
              "named by MODEL's name or --name, else of every monitor)")
    @_parsing.arguments(performance.PERFORMANCE)
    @_parsing.arguments(command.ARGUMENTS)
    @no_var_expand
    @line_magic
    def monitor(self, line: str) -> Any:
        """Watch a deployed model: drift of what it served, its server's health and its
        performance once labels come, alerts once per incident, a retraining job when one
        opens.

        Examples::

            %monitor churn@production --schedule "0 * * * *" --target cron \\
                --min-rows 500 --alert webhook=https://hooks.example/T0 \\
                --on-alert "run jobs/train-churn"
            %monitor --run monitors/churn
            %monitor --history churn
            %monitor churn@production --performance --min-labels 50   # judge it too
            %monitor --performance churn                   # the last 30 days, by day
            %monitor --performance churn --since 7d --window 6h

        MODEL: writes monitors/NAME/: monitor.yaml (hand-editable) and each target's files,
        which run `nbmlops monitor run monitors/NAME` on the schedule. Each check is
        recorded as a run of kind monitor; --history lists them.

        --performance: per window and version, the rows served and labelled (labels
        attached with nbmlops.log_feedback, `nbmlops feedback` or POST /feedback), the
        realized metrics beside the version's held-out figures and 95% interval (a window
        below it is degraded), and for a binary classifier asked for probabilities the
        estimated accuracy and ROC AUC (CBPE) of windows whose labels have not come yet.
        """
        from nbmlops import api

        args = _parsing.parse(self.monitor, line)
        try:
            if isinstance(args.performance, str) and not args.model:
                report = performance.performance(args, args.performance)
                display({"text/plain": report.text(), "text/html": report.to_html()},
                        raw=True)
                return None
            if args.run:
                result = api.run_monitor(args.run)
                print(result.text)
                for d in result.deliveries:
                    print(f"  alert {d.channel}: {'delivered' if d.ok else 'NOT delivered'} "
                          f"({d.detail})")
                for j in result.jobs:
                    print(f"  on alert: {j}")
                return result
            if args.history:
                name = args.name or (args.model.split("@")[0].split("/")[0]
                                     if args.model else None)
                return _history_frame(api.monitor_checks(name, limit=50))
            if not args.model:
                raise UsageError("%monitor: name what to watch: a model version to write a "
                                 "monitor for (churn@production), or --run FOLDER, "
                                 "--history NAME or --performance DEPLOYMENT")
            print(command.create(args))
        except (NbmlopsError, ValueError, FileNotFoundError) as exc:
            raise UsageError(f"%monitor: {exc}") from None
        return None


def _history_frame(page: Any) -> Any:
    import pandas as pd

    rows = [{"time": c.time.strftime("%Y-%m-%d %H:%M"), "monitor": c.monitor,
             "model": c.model, "rows": c.rows, "status": c.status, "incident": c.incident,
             "alerted": c.alerted, "reasons": "; ".join(c.reasons), "run": c.run_id[:8]}
            for c in page]
    return pd.DataFrame(rows, columns=["time", "monitor", "model", "rows", "status",
                                       "incident", "alerted", "reasons", "run"])
