"""``%runs``: the runs table inline (parse, call ``api.runs``, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nbmlops import api
from nbmlops.commands.runs import hidden_candidates
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing
from nbmlops.tracking.summary import RunDetailView, RunsView

DEFAULT_LIMIT = 50


@magics_class
class RunsMagics(Magics):
    @magic_arguments()
    @argument("-e", "--experiment", help="only runs of this experiment")
    @argument("-w", "--where", help='filter, e.g. "metrics.accuracy > 0.8 and params.C < 1"')
    @argument("-s", "--sort", help="sort keys, e.g. -metrics.accuracy,start (- = descending)")
    @argument("-n", "--limit", type=int, default=DEFAULT_LIMIT,
              help=f"show at most this many runs (default {DEFAULT_LIMIT}; 0 = all)")
    @argument("--kind", help="only runs of this kind (cell, script, tune, candidate, ...)")
    @argument("--all", action="store_true",
              help="include the candidate runs of searches (hidden by default)")
    @argument("--show", metavar="RUN_ID",
              help="show one run with its lineage (a unique id prefix is enough)")
    @argument("--compare", nargs="+", metavar="RUN_ID",
              help="show these runs side by side (params, metrics, what differs)")
    @no_var_expand
    @line_magic
    def runs(self, line: str) -> Any:
        """Show recorded runs as a table, newest first (``_.frame`` is the DataFrame;
        ``nbmlops.runs()`` returns the same without a display limit). The candidate runs
        of searches are listed under their search: ``--kind candidate`` or ``--all``.

        Example::

            %runs --experiment churn --where "metrics.accuracy > 0.8" --sort -metrics.accuracy
            %runs --show 3f2a9c1e
            %runs --compare 3f2a9c1e 77a0
        """
        args = _parsing.parse(self.runs, line, sort_flags=("--sort", "-s"))
        if args.compare:
            try:
                return api.compare(args.compare)
            except (NbmlopsError, ValueError) as exc:
                raise UsageError(f"%runs: {exc}") from None
        if args.show:
            try:
                return RunDetailView(api.get_run(args.show))
            except NbmlopsError as exc:
                raise UsageError(f"%runs: {exc}") from None
        if args.limit < 0:
            raise UsageError("--limit must be 0 (all) or a positive number")
        limit = args.limit or None
        try:
            frame = api.runs(args.experiment, where=args.where, sort=args.sort,
                             limit=limit, kind=args.kind or (None if args.all else
                                                             api.LISTED_KINDS))
            hidden = None
            if frame.empty and not (args.kind or args.all):  # the candidates of searches?
                hidden = hidden_candidates(args.experiment, args.where)
        except (NbmlopsError, ValueError) as exc:
            raise UsageError(f"%runs: {exc}") from None
        if hidden:
            print(f"%runs: no runs match; {hidden}")
        return RunsView(frame, shown_of=frame.attrs.get("total"), sort=args.sort)
