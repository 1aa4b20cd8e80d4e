"""``%%track``: record a cell as a run (parse, call ``api.track_cell``, display)."""

from __future__ import annotations

import traceback
from types import TracebackType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult
from IPython.core.magic import Magics, cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from nbmlops import api
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing
from nbmlops.magics.session import KernelSession, PreparedCell
from nbmlops.tracking.cell import CellOptions, CellSource, Outcome


def _cell_traceback(exc: BaseException, filename: str) -> str:
    """The traceback from the cell's own first frame down (no IPython machinery)."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)).rstrip()


@magics_class
class TrackMagics(Magics):
    def __init__(self, shell: Any, session: KernelSession) -> None:
        super().__init__(shell)
        self.session = session

    def _execute(self, cell: PreparedCell) -> Outcome:
        """Run the cell's statements exactly as IPython runs an untracked cell.

        The cell's exception is shown by IPython and recorded on the *outer* cell's
        result, so the notebook, papermill and nbclient see the cell fail as usual.
        """
        shell = self.shell
        assert shell is not None
        result = cell.outer or ExecutionResult(ExecutionInfo(cell.body, False, False, True,
                                                             None))
        before_exec, before_run = result.error_in_exec, result.error_before_exec
        coro = shell.run_ast_nodes(cell.tree.body, cell.filename,
                                   interactivity=shell.ast_node_interactivity,
                                   compiler=shell.compile, result=result)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - top-level await is refused before we get here
            coro.close()
        error = None
        if result.error_in_exec is not before_exec:
            error = result.error_in_exec
        elif result.error_before_exec is not before_run:
            error = result.error_before_exec
        if error is None:
            return Outcome()
        return Outcome(error=error, traceback=_cell_traceback(error, cell.filename))

    @magic_arguments("%track")  # the usage line reads %%track: a cell magic
    @argument("-e", "--experiment", help="experiment to record into (default: the "
              "notebook's name)")
    @argument("-n", "--name", help="a name for the run")
    @argument("--params", nargs="+", metavar="NAME",
              help="record exactly these variables as params (instead of the scalars read)")
    @argument("--metrics", nargs="+", metavar="NAME",
              help="record exactly these variables as metrics (instead of the floats bound)")
    @argument("--model", nargs="+", metavar="NAME", dest="models",
              help="store exactly these variables as models (instead of fitted estimators)")
    @argument("--data", nargs="+", metavar="NAME_OR_PATH",
              help="fingerprint exactly these variables or files as data")
    @argument("--tag", action="append", default=[], metavar="KEY=VALUE",
              help="set a tag (repeatable)")
    @argument("--no-auto", action="store_true",
              help="capture only what the flags and nbmlops.log_* calls name")
    @argument("--snapshot", action="store_true",
              help="keep a copy of the data files and frames the cell reads, so "
                   "reproducing the run reads the same data after a file changed")
    @argument("-q", "--quiet", action="store_true", help="do not show the run summary")
    @no_var_expand
    @cell_magic
    def track(self, line: str, cell: str) -> None:
        """Record this cell as a run in the lineage store.

        The cell runs exactly as without the magic. Recorded: its code and hash, the
        notebook and cell, params (scalars and estimators it reads), input data
        fingerprints, metrics (floats it binds), fitted models, output data, the
        environment and git state, and how it ended (a failing cell is recorded as
        failed and still raises). Inside the cell, nbmlops.log_param/log_metric/
        log_artifact add to the run.

        Example::

            %%track --experiment churn --name baseline --tag team=growth
            model = LogisticRegression(C=C).fit(X_train, y_train)
            accuracy = accuracy_score(y_test, model.predict(X_test))
        """
        args = _parsing.parse(self.track, line)
        tags = _parsing.tags(args.tag)
        for flag in ("params", "metrics", "models"):
            bad = [n for n in _parsing.names(getattr(args, flag)) or () if not n.isidentifier()]
            if bad:
                raise UsageError(f"--{flag.rstrip('s') if flag == 'models' else flag} expects "
                                 f"variable names, not {', '.join(map(repr, bad))}")
        if not cell.strip():
            raise UsageError("%%track: the cell is empty; put the code to track below the "
                             "%%track line")
        prepared = self.session.prepare(cell)
        options = CellOptions(
            experiment=args.experiment,
            name=args.name, params=_parsing.names(args.params),
            metrics=_parsing.names(args.metrics), models=_parsing.names(args.models),
            data=_parsing.names(args.data), tags=tags, auto=not args.no_auto,
            snapshot=args.snapshot,
        )
        source = CellSource(code=cell, tree=prepared.tree,
                            notebook_path=prepared.notebook_path, cell_id=prepared.cell_id,
                            execution_count=prepared.execution_count)
        try:
            summary, outcome = api.track_cell(
                source, self.shell.user_ns, lambda: self._execute(prepared),  # type: ignore[union-attr]
                options=options, journal=self.session.journal)
        except (NbmlopsError, ValueError) as exc:  # the cell's own errors are in `outcome`
            raise UsageError(f"%%track: {exc}") from None
        if not args.quiet:
            display(summary)
        if outcome.error is not None and prepared.outer is None:
            raise outcome.error  # run outside a cell (run_cell_magic): surface it ourselves
