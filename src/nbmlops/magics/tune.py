"""``%tune``: a hyperparameter search from the notebook (parse, call ``api.tune``, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nbmlops import api
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _display, _parsing
from nbmlops.magics.session import KernelSession


@magics_class
class TuneMagics(Magics):
    def __init__(self, shell: Any, session: KernelSession) -> None:
        super().__init__(shell)
        self.session = session

    def _lookup(self, name: str, what: str) -> Any:
        ns = self.shell.user_ns  # type: ignore[union-attr]
        if name not in ns:
            raise UsageError(f"%tune: {what} {name!r} is not defined in the notebook")
        return ns[name]

    def _cv(self, text: str) -> Any:
        if text.lstrip("-").isdigit():
            return int(text)
        return self._lookup(text, "--cv splitter")

    @magic_arguments()
    @argument("estimator", help="an estimator or Pipeline, or a dict {name: estimator}")
    @argument("space", help="its search space {param: values}, or a dict {name: space}")
    @argument("X", help="the training features")
    @argument("y", help="the training target")
    @argument("--cv", default="5", help="number of folds, or the name of a splitter "
              "variable (e.g. kfold = KFold(5, shuffle=True, random_state=0))")
    @argument("--scoring", nargs="+", metavar="METRIC",
              help="scikit-learn scoring name(s), e.g. accuracy f1")
    @argument("--refit", metavar="METRIC", help="with several scorings: the one that "
              "picks the best (default: the first)")
    @argument("--strategy", default="grid", choices=("grid", "random", "halving", "optuna"))
    @argument("--n-iter", type=int, default=10, help="candidates for random/optuna")
    @argument("--n-jobs", type=int, default=None, help="fits in parallel (-1: all cores)")
    @argument("--backend", default="loky", choices=("loky", "threading", "dask"))
    @argument("--scheduler", metavar="ADDRESS",
              help="a Dask scheduler (default: start a local cluster for the search)")
    @argument("--random-state", type=int, default=None)
    @argument("-e", "--experiment", help="experiment (default: the notebook's name)")
    @argument("-n", "--name", help="a name for the search's run")
    @argument("-o", "--output", metavar="VAR",
              help="bind the best fitted estimator to this variable")
    @argument("-q", "--quiet", action="store_true", help="no progress and no result display")
    @no_var_expand
    @line_magic
    def tune(self, line: str) -> Any:
        """Search hyperparameters, recording one run per candidate under a parent run.

        The search is scikit-learn's own (GridSearchCV, RandomizedSearchCV, successive
        halving) or Optuna's. Progress shows while it runs; the result shows the
        candidates as a sortable, filterable comparison. Interrupting keeps every
        finished candidate recorded.

        Returns a TuneResult (best_model, best_params, best_score, best_estimator,
        candidates): `result = %tune ...` binds it and still shows the comparison
        (with -q: binds it and shows nothing).

        Example::

            models = {"logreg": LogisticRegression(max_iter=500),
                      "forest": RandomForestClassifier(random_state=0)}
            grids = {"logreg": {"C": [0.1, 1, 10]},
                     "forest": {"n_estimators": [50, 100], "max_depth": [4, None]}}
            %tune models grids X_train y_train --cv 5 --scoring accuracy -o best
        """
        args = _parsing.parse(self.tune, line)
        if args.output is not None and not args.output.isidentifier():
            raise UsageError(f"%tune: -o expects a variable name, not {args.output!r}")
        scoring = None
        if args.scoring:
            scoring = args.scoring[0] if len(args.scoring) == 1 else list(args.scoring)
        try:
            result = api.tune(
                self._lookup(args.estimator, "estimator"), self._lookup(args.space, "space"),
                self._lookup(args.X, "X"), self._lookup(args.y, "y"), cv=self._cv(args.cv),
                scoring=scoring, refit=args.refit or True, strategy=args.strategy,
                n_iter=args.n_iter, n_jobs=args.n_jobs, backend=args.backend,
                scheduler=args.scheduler, random_state=args.random_state,
                experiment=args.experiment, name=args.name, progress=not args.quiet,
                data_names=(args.X, args.y), origin=self.session.origin())
        except NbmlopsError as exc:
            raise UsageError(f"%tune: {exc}") from None
        if args.output is not None:
            self.shell.user_ns[args.output] = result.best_estimator  # type: ignore[union-attr]
        if args.quiet:  # the result only where it is assigned, never shown
            return result if _display.displayed_by_ipython(self.shell, "tune") is False else None
        return _display.shown(self.shell, "tune", result)
