"""``%export``: the notebook this kernel runs becomes a job folder (parse, call, display)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nbmlops.commands import export as command
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing
from nbmlops.tracking.notebook import NOTEBOOK_ENV, notebook_path, papermill_parent_notebook


def _headless(namespace: Mapping[str, Any]) -> bool:
    """Run by papermill or a job, with no front end where the notebook could be saved."""
    if namespace.get("__session__") or namespace.get("__vsc_ipynb_file__"):
        return False
    return bool(namespace.get("PAPERMILL_INPUT_PATH") or os.environ.get(NOTEBOOK_ENV)
                or papermill_parent_notebook())


@magics_class
class ExportMagics(Magics):
    @magic_arguments()
    @argument("--notebook", metavar="PATH", help="export this notebook instead of the one "
              "this kernel runs")
    @_parsing.arguments(command.ARGUMENTS)
    @no_var_expand
    @line_magic
    def export(self, line: str) -> Any:
        """Turn this notebook (as last saved) into a papermill job and scheduled jobs.

        Examples::

            %export --job train-churn
            %export --job train-churn --params C=1.0 max_iter=200 --schedule "0 3 * * *"
            %export --job train-churn --target cron systemd github airflow
            %export --job train-churn --gate "metrics.accuracy>=0.8" \\
                --on-success "register churn --alias staging"

        Writes jobs/NAME/: the notebook cleaned for batch (a parameters cell, cells tagged
        nbmlops:skip dropped, outputs cleared), job.yaml, and each target's files. Run it
        with `nbmlops jobs run jobs/NAME [-p C=0.5]`: every run is recorded as a job run,
        the parent of the runs its tracked cells record; gates decide its exit status.
        Save the notebook first: the file on disk is what is exported (run headless, by
        papermill or a job, the notebook file it runs).
        """
        args = _parsing.parse(self.export, line)
        namespace = self.shell.user_ns if self.shell else {}
        path = args.notebook or notebook_path(namespace)
        if not path:
            raise UsageError("%export: this kernel does not know its notebook's path; give "
                             "it with --notebook PATH")
        saved = Path(path)
        if _headless(namespace):  # papermill or a job: the file it runs is the notebook
            if not args.notebook and not saved.is_file():
                raise UsageError(f"%export: run headless, this kernel exports the notebook "
                                 f"file it was started on, and {path} is not a file here; "
                                 "give the saved notebook with --notebook PATH")
        elif saved.is_file():
            age = time.time() - saved.stat().st_mtime
            if age > 120:
                print(f"note: exporting {saved.name} as saved {age / 60:.0f} min ago; save "
                      "first to include later changes")
        try:
            exported = command.run(args, str(saved))
        except (NbmlopsError, ValueError, FileNotFoundError) as exc:
            raise UsageError(f"%export: {exc}") from None
        print(exported)
        return None
