"""``nbmlops.tune``: a hyperparameter search, every candidate a run.

Steps, in order: check what to search (:mod:`nbmlops.tuning.spaces`) and how; start the
parent run (kind ``tune``) with the search's configuration and the data's fingerprints;
run the search (:mod:`nbmlops.tuning.search`), recording each finished batch of candidates
as child runs (kind ``candidate``) and showing progress; then record the winner (its
params, score and refit model) on the parent and every candidate's rank.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops._types import DatasetLink, Metric, NewRun, Origin, RunEnd
from nbmlops.errors import TuneError
from nbmlops.formatting import format_duration, format_number
from nbmlops.progress import Eta, Progress, ProgressState
from nbmlops.tracking import (
    ActiveRun,
    Comparison,
    coerce_param,
    finish,
    is_dataset,
    model_artifact,
)
from nbmlops.tracking import fingerprint_of as fingerprint
from nbmlops.tuning import backends
from nbmlops.tuning.search import Candidate, Outcome, run_optuna, run_sklearn, scorer_names
from nbmlops.tuning.spaces import Family, families

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.workspace import Workspace


@dataclass(frozen=True)
class TuneResult:
    """What a search found, and where it is recorded (``run_id``, the parent run).

    ``best_model`` is the winning family's name (a dict key, or the estimator's class
    name). With a dict of models, ``best_params`` names it too, under ``"model"`` (as
    the candidates' ``params.model``), before the winner's own hyperparameters.
    """

    run_id: str
    status: str
    strategy: str
    metric: str
    best_score: float
    best_params: Mapping[str, Any]
    best_model: str
    best_estimator: Any
    candidates: pd.DataFrame
    search: Any
    duration_s: float

    def comparison(self) -> Comparison:
        """The candidates as a :class:`~nbmlops.tracking.compare.Comparison`."""
        return Comparison.of(self.candidates, primary=self.metric,
                             title=f"{self.strategy} search, {len(self.candidates)} candidates")

    def headline(self) -> str:
        """One line: the run, how it ended, the best score and the winner."""
        params = ", ".join(f"{k}={v!r}" for k, v in self.best_params.items()
                           if not (k == "model" and v == self.best_model))
        return (f"nbmlops tune {self.run_id[:8]} {self.status} in "
                f"{format_duration(self.duration_s)}: best {self.metric} "
                f"{format_number(self.best_score)} with {self.best_model}({params})")

    def __repr__(self) -> str:
        return self.headline() + "\n" + repr(self.comparison())

    def _repr_html_(self) -> str:
        return (f"<div><b>{html.escape(self.headline())}</b></div>"
                + self.comparison()._repr_html_())


class _Recorder:
    """Candidates as child runs of the parent, as the search reports them."""

    def __init__(self, ws: Workspace, parent: ActiveRun, names: Mapping[str, str],
                 refit_key: str, progress: Progress, total: int | None, strategy: str) -> None:
        self.ws, self.parent, self.names = ws, parent, names
        self.refit_key, self.progress, self.total = refit_key, progress, total
        self.description = f"{strategy} search"
        self.started = time.monotonic()
        self.eta = Eta()  # its workers: the batch size, once the backend is known
        self.children: dict[int, str] = {}
        self.candidates: list[Candidate] = []
        self.best: float | None = None
        self._best_round = -1  # successive halving: the best so far is the latest round's

    def state(self) -> ProgressState:
        return ProgressState(description=self.description, done=len(self.candidates),
                             total=self.total, elapsed_s=time.monotonic() - self.started,
                             best=self.best, metric=self.names[self.refit_key],
                             failed=sum(1 for c in self.candidates if c.error),
                             remaining_s=self.eta.remaining(self.total))

    def __call__(self, batch: list[Candidate]) -> None:
        env = tracking.process_environment(self.ws)
        rows: list[tuple[NewRun, RunEnd]] = []
        for c in batch:
            params = {"model": c.family, **c.params, **_extra_params(c)}
            new = tracking.new_run(self.ws,
                experiment=self.parent.experiment, name=f"{c.family} #{c.index + 1}",
                kind="candidate", parent_run_id=self.parent.id, params=params,
                start_time=c.started)
            metrics: list[Metric] = []
            for key, (mean, std, folds) in c.scores.items():
                name = self.names[key]
                metrics += [Metric(name, mean, 0, c.ended), Metric(f"{name}_std", std, 0, c.ended)]
                metrics += [Metric(f"{name}_fold", v, k, c.ended) for k, v in enumerate(folds)]
            metrics += [Metric("fit_time", c.fit_time, 0, c.ended),
                        Metric("score_time", c.score_time, 0, c.ended)]
            rows.append((new, RunEnd(status="failed" if c.error else "finished",
                                     end_time=c.ended, error=c.error, metrics=tuple(metrics),
                                     environment=env)))
            self.children[c.index] = new.id
            score = c.scores[self.refit_key][0]
            rung = int(c.extra.get("iter", 0))
            if rung > self._best_round:
                self._best_round, self.best = rung, None
            if not math.isnan(score) and rung == self._best_round and (
                    self.best is None or score > self.best):
                self.best = score
        self.ws.store.record_runs(rows)
        self.candidates.extend(batch)
        self.eta.finished(len(self.candidates))
        self.progress.update(self.state())

    def frame(self, ranks: Mapping[int, int]) -> pd.DataFrame:
        import pandas as pd

        rows: list[dict[str, Any]] = []
        params: dict[str, dict[int, Any]] = {}  # column -> row -> value, built apart: a
        for c in self.candidates:               # frame of dicts would turn None into NaN
            row_params = {f"params.{k}": coerce_param(v) for k, v in c.params.items()}
            row_params.update({f"params.{k}": v for k, v in _extra_params(c).items()})
            for key, value in row_params.items():
                params.setdefault(key, {})[len(rows)] = value
            row: dict[str, Any] = {"run_id": self.children[c.index], "name": f"{c.family} #"
                                   f"{c.index + 1}", "status": "failed" if c.error else
                                   "finished", "rank": ranks.get(c.index), "params.model": c.family}
            for key, (mean, std, _) in c.scores.items():
                row[f"metrics.{self.names[key]}"] = mean
                row[f"metrics.{self.names[key]}_std"] = std
            row["metrics.fit_time"] = c.fit_time
            row["error"] = c.error
            rows.append(row)
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["rank"] = frame["rank"].astype("Int64")  # <NA>: failed, not ranked
            at = int(frame.columns.get_loc("params.model")) + 1
            for i, (key, given) in enumerate(params.items()):
                values = [given.get(r) for r in range(len(rows))]
                frame.insert(at + i, key,
                             _param_column(values, [r in given for r in range(len(rows))]))
            frame = frame.sort_values("rank", na_position="last", kind="stable")
        return frame.reset_index(drop=True)


def _best_params(fams: tuple[Family, ...], outcome: Outcome) -> dict[str, Any]:
    """The winner's hyperparameters; with several families, its family first as "model"
    (unless the family's own space already has a "model" parameter)."""
    params = dict(outcome.best_params)
    if len(fams) > 1 and "model" not in params:
        return {"model": outcome.best_family, **params}
    return params


def _param_column(values: list[Any], present: list[bool]) -> pd.Series:
    """One ``params.*`` column of the candidates, with the values as the search tried them:
    ints stay ints (``Int64`` where another family has no such parameter), and a column
    holding None or values of mixed types is an object column (None where absent)."""
    import pandas as pd

    given = [v for v, here in zip(values, present, strict=True) if here]
    kinds = {type(v) for v in given}
    if kinds == {int}:
        return pd.Series([v if here else None for v, here in zip(values, present, strict=True)],
                         dtype="Int64" if not all(present) else "int64")
    if kinds == {bool} and all(present):
        return pd.Series(values, dtype="bool")
    if len(kinds) == 1 and kinds <= {float, str}:
        return pd.Series(values)  # pandas' own: float64, str (NaN where absent)
    return pd.Series([v if here else None for v, here in zip(values, present, strict=True)],
                     dtype="object")


def _extra_params(c: Candidate) -> dict[str, Any]:
    """halving.iter / halving.n_resources, or optuna.repeat_of (the trial it repeats)."""
    prefix = "optuna" if "repeat_of" in c.extra else "halving"
    return {f"{prefix}.{k}": v for k, v in c.extra.items()}


def _describe(fams: tuple[Family, ...], *, strategy: str, cv: Any, scoring: Any, refit: str,
              n_iter: int, n_jobs: int | None, backend: str, random_state: Any
              ) -> dict[str, Any]:
    config: dict[str, Any] = {
        "strategy": strategy, "cv": cv if isinstance(cv, int) else repr(cv),
        "scoring": coerce_param(scoring) if not callable(scoring) else repr(scoring),
        "refit": refit, "n_jobs": n_jobs, "backend": backend, "random_state": random_state,
        "models": [f.name for f in fams],
    }
    if strategy in ("random", "optuna"):
        config["n_iter"] = n_iter
    for fam in fams:
        grids = [dict(g) for g in fam.grids]
        config[f"space.{fam.name}"] = coerce_param(grids[0] if len(grids) == 1 else grids)
    return config


def _check(fams: tuple[Family, ...], *, strategy: str, cv: Any, scoring: Any, refit: Any,
           n_iter: int) -> None:
    if isinstance(cv, bool) or (isinstance(cv, int) and cv < 2):
        raise TuneError(f"cv={cv!r}: give at least 2 folds, or a scikit-learn splitter",
                        argument="cv")
    if not isinstance(cv, int) and not hasattr(cv, "split"):
        raise TuneError(f"cv must be a number of folds or a splitter with split(), not "
                        f"{type(cv).__name__}", argument="cv")
    if strategy in ("random", "optuna") and (not isinstance(n_iter, int) or n_iter < 1):
        raise TuneError(f"n_iter must be a positive number of candidates, not {n_iter!r}",
                        argument="n_iter")
    names = ([scoring] if isinstance(scoring, str) else list(scoring)
             if isinstance(scoring, list | tuple | Mapping) else [])
    from sklearn.metrics import get_scorer_names

    known = set(get_scorer_names())
    for name in names:
        if isinstance(scoring, Mapping):
            break
        if name not in known:
            raise TuneError(f"unknown scoring {name!r}; scikit-learn knows e.g. accuracy, f1, "
                            "roc_auc, r2, neg_mean_squared_error (sklearn.metrics."
                            "get_scorer_names() lists them all)", argument="scoring")
    if len(names) > 1 and strategy == "halving":
        raise TuneError("successive halving takes one scoring metric", argument="scoring")
    if len(names) > 1 and isinstance(refit, str) and refit not in names and not isinstance(
            scoring, Mapping):
        raise TuneError(f"refit={refit!r} is not one of the scoring metrics "
                        f"({', '.join(names)})", argument="refit")


def _inputs(X: Any, y: Any, names: tuple[str, str]) -> tuple[DatasetLink, ...]:
    links = []
    for value, name in ((X, names[0]), (y, names[1])):
        if is_dataset(value):
            links.append(DatasetLink(name=name, direction="input", dataset=fingerprint(value)))
    return tuple(links)


def tune(ws: Workspace, estimator: Any, space: Any, X: Any, y: Any, *, progress: Progress,
         cv: Any = 5, scoring: Any = None, refit: Any = True, strategy: str = "grid",
         n_iter: int = 10, n_jobs: int | None = None, backend: str = "loky",
         scheduler: str | None = None, random_state: Any = None, error_score: Any = math.nan,
         experiment: str, name: str | None = None, parent_run_id: str | None = None,
         data_names: tuple[str, str] = ("X", "y"), origin: Origin | None = None
         ) -> TuneResult:
    """Search ``space`` for ``estimator`` (or each of a dict of them) on ``X``, ``y``."""
    origin = origin or Origin()
    fams = families(estimator, space, strategy)
    _check(fams, strategy=strategy, cv=cv, scoring=scoring, refit=refit, n_iter=n_iter)
    backends.check(backend, scheduler)
    scorers, refit_key = scorer_names(scoring, refit)
    names = {s: (scoring if isinstance(scoring, str) and s == "score" else s) for s in scorers}
    total = (sum(f.n_grid_candidates for f in fams) if strategy == "grid"
             else n_iter if strategy in ("random", "optuna") else None)
    parent = tracking.start_run(ws,
        experiment=experiment, name=name, kind="tune", parent_run_id=parent_run_id,
        params=_describe(fams, strategy=strategy, cv=cv, scoring=scoring,
                         refit=names[refit_key], n_iter=n_iter, n_jobs=n_jobs,
                         backend=backend, random_state=random_state),
        inputs=_inputs(X, y, data_names), code=origin.code,
        notebook_path=origin.notebook_path, cell_id=origin.cell_id,
        execution_count=origin.execution_count)
    recorder = _Recorder(ws, parent, names, refit_key, progress, total, strategy)
    try:
        with backends.parallel(backend, scheduler, n_jobs) as batch:
            recorder.eta.workers = 1 if strategy == "optuna" else batch  # optuna: one by one
            if strategy == "optuna":
                outcome = run_optuna(fams, X, y, cv=cv, scoring=scoring, refit=refit,
                                     n_trials=n_iter, n_jobs=n_jobs, random_state=random_state,
                                     error_score=error_score, observer=recorder)
            else:
                outcome = run_sklearn(fams, X, y, strategy=strategy, cv=cv, scoring=scoring,
                                      refit=refit, n_iter=n_iter, n_jobs=n_jobs, batch=batch,
                                      random_state=random_state, error_score=error_score,
                                      observer=recorder)
        _record_winner(ws, parent, recorder, outcome, names[refit_key])
    except BaseException as exc:
        summary = finish(parent, exc)
        progress.close(recorder.state(), summary.status)
        raise
    summary = finish(parent)
    progress.close(recorder.state(), summary.status)
    return TuneResult(run_id=parent.id, status=summary.status, strategy=strategy,
                      metric=names[refit_key], best_score=outcome.best_score,
                      best_params=_best_params(fams, outcome), best_model=outcome.best_family,
                      best_estimator=outcome.best_estimator,
                      candidates=recorder.frame(outcome.ranks), search=outcome.search,
                      duration_s=summary.duration_s)


def _record_winner(ws: Workspace, parent: ActiveRun, recorder: _Recorder, outcome: Outcome,
                   metric: str) -> None:
    now = time.time()
    ws.store.log_metrics_many([
        (recorder.children[i], [Metric("rank", float(r), 0, now)])
        for i, r in outcome.ranks.items() if i in recorder.children])
    best = next(c for c in recorder.candidates if c.index == outcome.best_index)
    parent.log_params({"best.model": outcome.best_family,
                       **{f"best.{k}": v for k, v in outcome.best_params.items()}})
    parent.log_metrics({metric: outcome.best_score,
                        f"{metric}_std": best.scores[recorder.refit_key][1],
                        "candidates": float(len(recorder.candidates)),
                        "failed": float(sum(1 for c in recorder.candidates if c.error))})
    parent.set_tags({"best_run": recorder.children[outcome.best_index]})
    if outcome.best_estimator is not None:
        art = model_artifact(ws.artifacts, outcome.best_estimator, "model")
        parent.add_artifacts([art])
        tracking.remember_model(ws, outcome.best_estimator, parent.id, art.name)
