"""Running a search with scikit-learn's own search classes (or Optuna), reporting as it goes.

scikit-learn's ``GridSearchCV``, ``RandomizedSearchCV`` and the successive-halving searches
evaluate their candidates through one ``evaluate_candidates`` callback. A thin mixin feeds
that callback the candidates in batches the size of the worker pool (so no worker idles
between batches) and hands each finished batch to an observer: candidates are recorded,
and progress shown, while the search runs, and an interrupted search keeps every batch it
finished. The candidates, their order, the splits and the results are scikit-learn's own;
``best_params_`` and ``best_score_`` are exactly what the plain class gives.

Optuna (TPE) searches ask the study for each trial and score it with scikit-learn's
``cross_validate`` on the same splits.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import signature
from typing import Any

from nbmlops.errors import MissingExtraError
from nbmlops.tuning.spaces import Family, combined, optuna_distribution, split_candidate


@dataclass(frozen=True)
class Candidate:
    """One evaluated set of hyperparameters."""

    index: int
    family: str
    params: Mapping[str, Any]
    scores: Mapping[str, tuple[float, float, tuple[float, ...]]]  # scorer: (mean, std, folds)
    fit_time: float
    score_time: float
    started: float
    ended: float
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. halving's iter, n_resources


Observer = Callable[[list[Candidate]], None]


@dataclass(frozen=True)
class Outcome:
    best_index: int
    best_family: str
    best_params: Mapping[str, Any]
    best_score: float
    best_estimator: Any | None
    ranks: Mapping[int, int]  # candidate index -> rank by the refit scorer (1 is best)
    search: Any  # the fitted scikit-learn search object, or the Optuna study


def _nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fit_failures(caught: Sequence[warnings.WarningMessage]) -> str | None:
    from sklearn.exceptions import FitFailedWarning

    texts = [str(w.message).strip() for w in caught if issubclass(w.category, FitFailedWarning)]
    return "\n".join(texts) or None


def _rewarn(caught: Sequence[warnings.WarningMessage]) -> None:
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def candidates_from_results(results: Mapping[str, Any], indices: range, scorers: Sequence[str],
                            n_splits: int, fams: tuple[Family, ...], started: float,
                            ended: float, fit_errors: str | None) -> list[Candidate]:
    """Candidates ``indices`` of a (cumulative) ``cv_results_`` dict."""
    out = []
    for i in indices:
        family, params = split_candidate(fams, results["params"][i])
        scores = {}
        for s in scorers:
            folds = tuple(_nan(results[f"split{k}_test_{s}"][i]) for k in range(n_splits))
            scores[s] = (_nan(results[f"mean_test_{s}"][i]), _nan(results[f"std_test_{s}"][i]),
                         folds)
        failed = any(math.isnan(v) for s in scores.values() for v in s[2])
        extra = {k: results[k][i].item() if hasattr(results[k][i], "item") else results[k][i]
                 for k in ("iter", "n_resources") if k in results}
        out.append(Candidate(
            index=i, family=family, params=params, scores=scores,
            fit_time=_nan(results["mean_fit_time"][i]),
            score_time=_nan(results["mean_score_time"][i]), started=started, ended=ended,
            error=(fit_errors or "the candidate's scores are NaN") if failed else None,
            extra=extra))
    return out


def failed_candidate(index: int, params: Mapping[str, Any], scorers: Sequence[str],
                     n_splits: int, fams: tuple[Family, ...], started: float,
                     error: str | None) -> Candidate:
    """A candidate whose every fit failed, which scikit-learn kept no results for."""
    family, own = split_candidate(fams, params)
    nan = math.nan
    return Candidate(index=index, family=family, params=own,
                     scores={s: (nan, nan, (nan,) * n_splits) for s in scorers},
                     fit_time=nan, score_time=nan, started=started, ended=time.time(),
                     error=error or "every fit of this candidate failed")


class _Reporting:
    """Mixed into a scikit-learn search class: evaluate candidates in batches and report."""

    _nbmlops_batch: int = 1
    _nbmlops_observer: Observer | None = None
    _nbmlops_scorers: Sequence[str] = ()
    _nbmlops_families: tuple[Family, ...] = ()
    _NBMLOPS_STATE = ("_nbmlops_batch", "_nbmlops_observer", "_nbmlops_scorers",
                      "_nbmlops_families")

    def __getstate__(self) -> dict[str, Any]:
        # scikit-learn sends the search to its workers (caller=self): they need none of
        # this process's recording machinery (threads and locks do not pickle anyway)
        parent: Any = super()
        state: dict[str, Any] = dict(parent.__getstate__())
        for key in self._NBMLOPS_STATE:
            state.pop(key, None)
        return state

    def _run_search(self, evaluate_candidates: Any, *, callback_ctx: Any = None) -> None:
        done = 0

        def report(params: list[Any], began: float, results: Any, errors: str | None) -> None:
            if self._nbmlops_observer is None:
                return
            indices = range(done, done + len(params))
            if results is None:  # every fit of these failed: scikit-learn kept no results
                found = [failed_candidate(i, p, self._nbmlops_scorers, self.n_splits_,  # type: ignore[attr-defined]
                                          self._nbmlops_families, began, errors)
                         for i, p in zip(indices, params, strict=True)]
            else:
                found = candidates_from_results(
                    results, indices, self._nbmlops_scorers, self.n_splits_,  # type: ignore[attr-defined]
                    self._nbmlops_families, began, time.time(), errors)
            self._nbmlops_observer(found)

        def batched(candidate_params: Any, cv: Any = None, more_results: Any = None,
                    **_ignored: Any) -> Any:
            # scikit-learn's callback contexts number tasks per call, so batches run
            # without one; nbmlops is the progress display here
            nonlocal done
            cands = list(candidate_params)
            more_all = {k: list(v) for k, v in (more_results or {}).items()}
            results = None
            carry: list[Any] = []  # a batch whose every fit failed, retried with the next
            carry_more: dict[str, list[Any]] = {k: [] for k in more_all}
            failure: ValueError | None = None
            for start in range(0, len(cands), self._nbmlops_batch):
                stop = start + self._nbmlops_batch
                part = carry + cands[start:stop]
                more = ({k: carry_more[k] + v[start:stop] for k, v in more_all.items()}
                        if more_results else None)
                began = time.time()
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        results = evaluate_candidates(part, cv, more)
                except ValueError as exc:
                    # scikit-learn raises when every fit of one call failed; a whole
                    # search only warns unless all its fits fail, so carry them forward
                    if "fits failed" not in str(exc):
                        raise
                    carry, carry_more, failure = part, dict(more or {}), exc
                    continue
                _rewarn(caught)
                report(part, began, results, _fit_failures(caught))
                done += len(part)
                carry, carry_more = [], {k: [] for k in more_all}
            if carry:
                report(carry, time.time(), None, str(failure).strip())
                done += len(carry)
                if results is None:
                    raise failure  # type: ignore[misc]  # nothing succeeded: as scikit-learn
            return results

        parent = super()._run_search  # type: ignore[misc]
        if "callback_ctx" in signature(parent).parameters:
            parent(batched, callback_ctx=callback_ctx)
        else:
            parent(batched)


@functools.cache
def _search_class(strategy: str) -> type:
    if strategy == "grid":
        from sklearn.model_selection import GridSearchCV as cls
    elif strategy == "random":
        from sklearn.model_selection import RandomizedSearchCV as cls
    else:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingGridSearchCV as cls
    # sklearn introspects __init__ for get_params: subclassing keeps the signature
    return type(f"Reporting{cls.__name__}", (_Reporting, cls), {})


def scorer_names(scoring: Any, refit: Any) -> tuple[list[str], str]:
    """The keys scikit-learn uses in cv_results_ (``score`` for a single scorer), and the
    one that picks the best."""
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        return ["score"], "score"
    names = list(scoring) if not isinstance(scoring, Mapping) else list(scoring.keys())
    if isinstance(refit, str):
        return names, refit
    return names, names[0]


def halving_ranks(iters: Sequence[Any], scores: Sequence[Any]) -> dict[int, int]:
    """Ranks of successive-halving evaluations: by round (last first), then by score.

    scikit-learn ranks every round together, although early rounds score on less data;
    its winner is the best of the last round, so that is rank 1 here. Ties share a rank.
    """
    def key(i: int) -> tuple[int, float]:
        score = _nan(scores[i])
        return (-int(iters[i]), math.inf if math.isnan(score) else -score)

    order = sorted(range(len(scores)), key=key)
    ranks: dict[int, int] = {}
    for position, i in enumerate(order, start=1):
        prev = order[position - 2] if position > 1 else None
        ranks[i] = ranks[prev] if prev is not None and key(prev) == key(i) else position
    return ranks


def run_sklearn(fams: tuple[Family, ...], X: Any, y: Any, *, strategy: str, cv: Any,
                scoring: Any, refit: Any, n_iter: int, n_jobs: int | None, batch: int,
                random_state: Any, error_score: Any, observer: Observer) -> Outcome:
    """Search with scikit-learn's class for ``strategy``; ``observer`` gets each batch.

    One difference from the plain class: a candidate whose every fit fails in the last
    batch(es) of the search is reported (as failed) but is not in ``cv_results_``, since
    scikit-learn keeps no results for a call in which every fit failed.
    """
    estimator, grids = combined(fams)
    scorers, refit_key = scorer_names(scoring, refit)
    refit_arg = refit_key if len(scorers) > 1 and refit else bool(refit)
    common = dict(scoring=scoring, refit=refit_arg, cv=cv, n_jobs=n_jobs,
                  error_score=error_score)
    cls = _search_class(strategy)
    if strategy == "grid":
        search = cls(estimator, grids, **common)
    elif strategy == "random":
        search = cls(estimator, grids, n_iter=n_iter, random_state=random_state, **common)
    else:  # successive halving takes one scorer
        search = cls(estimator, grids, scoring=scoring, refit=bool(refit), cv=cv,
                     n_jobs=n_jobs, error_score=error_score, random_state=random_state,
                     return_train_score=False)
    search._nbmlops_batch = batch
    search._nbmlops_observer = observer
    search._nbmlops_scorers = scorers
    search._nbmlops_families = fams
    search.fit(X, y)
    results = search.cv_results_
    if "iter" in results:  # successive halving: later rounds (more data) come first, as
        ranks = halving_ranks(results["iter"], results[f"mean_test_{refit_key}"])  # best_
    else:                  # index_ is the best of the last round
        ranks = {i: int(r) for i, r in enumerate(results[f"rank_test_{refit_key}"])}
    best_index = int(search.best_index_)
    family, params = split_candidate(fams, results["params"][best_index])
    best = getattr(search, "best_estimator_", None)
    if best is not None and len(fams) > 1:
        best = best.named_steps["model"]
    return Outcome(best_index=best_index, best_family=family, best_params=params,
                   best_score=float(results[f"mean_test_{refit_key}"][best_index]),
                   best_estimator=best, ranks=ranks, search=search)


def run_optuna(fams: tuple[Family, ...], X: Any, y: Any, *, cv: Any, scoring: Any,
               refit: Any, n_trials: int, n_jobs: int | None, random_state: Any,
               error_score: Any, observer: Observer) -> Outcome:
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtraError("the optuna strategy", extra="optuna", module="optuna") from exc
    from sklearn.base import clone
    from sklearn.model_selection import check_cv, cross_validate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scorers, refit_key = scorer_names(scoring, refit)
    spaces = {f.name: [dict(g) for g in f.grids] for f in fams}
    splits = list(check_cv(cv, y, classifier=_is_classifier(fams[0].estimator)).split(X, y))
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=random_state))
    evaluated: list[tuple[Candidate, Any]] = []
    seen: dict[str, Candidate] = {}  # TPE may suggest a combination again: reuse its scores
    for index in range(n_trials):
        trial = study.ask()
        family = (trial.suggest_categorical("model", [f.name for f in fams])
                  if len(fams) > 1 else fams[0].name)
        fam = next(f for f in fams if f.name == family)
        grids = spaces[family]
        grid = grids[trial.suggest_int(f"{family}.grid", 0, len(grids) - 1)] \
            if len(grids) > 1 else grids[0]
        params = {k: _suggest(trial, f"{family}.{k}", k, v) for k, v in grid.items()}
        key = repr((family, sorted(params.items())))
        earlier = seen.get(key)
        if earlier is not None:
            value = earlier.scores[refit_key][0]
            if math.isnan(value):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
            now = time.time()
            repeat = Candidate(index=index, family=family, params=params, scores=earlier.scores,
                               fit_time=0.0, score_time=0.0, started=now, ended=now,
                               error=earlier.error, extra={"repeat_of": earlier.index + 1})
            evaluated.append((repeat, fam.estimator))
            observer([repeat])
            continue
        began = time.time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = cross_validate(clone(fam.estimator).set_params(**params), X, y, cv=splits,
                                 scoring=scoring, n_jobs=n_jobs, error_score=error_score)
        _rewarn(caught)
        scores = {}
        for s in scorers:
            folds = tuple(float(v) for v in res[f"test_{s}"])
            finite = [v for v in folds if not math.isnan(v)]
            mean = sum(folds) / len(folds) if len(finite) == len(folds) else math.nan
            std = (math.sqrt(sum((v - mean) ** 2 for v in folds) / len(folds))
                   if not math.isnan(mean) else math.nan)
            scores[s] = (mean, std, folds)
        value = scores[refit_key][0]
        if math.isnan(value):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
        cand = Candidate(index=index, family=family, params=params, scores=scores,
                         fit_time=float(res["fit_time"].mean()),
                         score_time=float(res["score_time"].mean()), started=began,
                         ended=time.time(),
                         error=(_fit_failures(caught) or "the candidate's scores are NaN")
                         if math.isnan(value) else None)
        seen[key] = cand
        evaluated.append((cand, fam.estimator))
        observer([cand])
    scored = [c for c, _ in evaluated
              if not math.isnan(c.scores[refit_key][0]) and "repeat_of" not in c.extra]
    if not scored:
        raise ValueError("every Optuna trial failed; see the candidates' errors")
    order = sorted(scored, key=lambda c: -c.scores[refit_key][0])
    ranks = {c.index: r for r, c in enumerate(order, start=1)}
    best = order[0]
    best_estimator = None
    if refit:
        estimator = next(e for c, e in evaluated if c.index == best.index)
        best_estimator = clone(estimator).set_params(**best.params).fit(X, y)
    return Outcome(best_index=best.index, best_family=best.family, best_params=best.params,
                   best_score=best.scores[refit_key][0], best_estimator=best_estimator,
                   ranks=ranks, search=study)


_PLAIN = (type(None), bool, int, float, str)


def _suggest(trial: Any, name: str, param: str, values: Any) -> Any:
    """A value for ``param`` from Optuna's public suggest API (lists of objects that are
    not plain values, e.g. tuples or estimators, are suggested by position)."""
    from optuna import distributions as od

    if isinstance(values, list | tuple) or (hasattr(values, "__len__")
                                             and not hasattr(values, "rvs")):
        choices = list(values)
        if all(isinstance(c, _PLAIN) for c in choices):
            return trial.suggest_categorical(name, choices)
        return choices[trial.suggest_categorical(name, list(range(len(choices))))]
    dist = optuna_distribution(param, values)
    if isinstance(dist, od.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, od.CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    raise TypeError(f"unsupported Optuna distribution for {param!r}: {dist!r}")


def _is_classifier(estimator: Any) -> bool:
    from sklearn.base import is_classifier

    return bool(is_classifier(estimator))
