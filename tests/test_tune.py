"""Hyperparameter searches: scikit-learn's results exactly, every candidate a recorded run."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import loguniform, randint
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import nbmlops
from nbmlops.progress import Eta, NoProgress, ProgressState

X, Y = make_classification(240, 6, n_informative=4, random_state=0)
KF = KFold(5, shuffle=True, random_state=0)


def quiet() -> dict[str, object]:
    return {"progress": False}


def children(parent_id: str):  # type: ignore[no-untyped-def]
    return nbmlops.runs(where=f"parent == '{parent_id}'", sort="name")


def test_grid_search_gives_exactly_gridsearchcvs_result(store_env: Path) -> None:
    grid = {"C": [0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]}
    result = nbmlops.tune(LogisticRegression(max_iter=500), grid, X, Y, cv=KF,
                          scoring="accuracy", n_jobs=2, **quiet())
    plain = GridSearchCV(LogisticRegression(max_iter=500), grid, cv=KF, scoring="accuracy",
                         n_jobs=2).fit(X, Y)
    assert result.best_params == plain.best_params_
    assert result.best_score == plain.best_score_
    ours = result.search.cv_results_
    np.testing.assert_array_equal(ours["mean_test_score"], plain.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(ours["rank_test_score"], plain.cv_results_["rank_test_score"])
    assert result.best_estimator.get_params() == plain.best_estimator_.get_params()
    np.testing.assert_array_equal(result.best_estimator.predict(X),
                                  plain.best_estimator_.predict(X))


def test_random_search_gives_exactly_randomizedsearchcvs_result(store_env: Path) -> None:
    space = {"C": loguniform(1e-3, 1e2), "max_iter": randint(200, 600)}
    result = nbmlops.tune(LogisticRegression(), space, X, Y, cv=KF, strategy="random",
                          n_iter=7, random_state=3, **quiet())
    plain = RandomizedSearchCV(LogisticRegression(), space, n_iter=7, cv=KF,
                               random_state=3).fit(X, Y)
    assert result.best_params == plain.best_params_
    assert result.best_score == plain.best_score_
    assert len(children(result.run_id)) == 7


def test_parent_and_candidate_runs_hold_the_search(store_env: Path) -> None:
    grid = {"C": [0.1, 1.0, 10.0]}
    result = nbmlops.tune(LogisticRegression(max_iter=500), grid, X, Y, cv=KF,
                          scoring="accuracy", experiment="churn", name="logreg-grid",
                          **quiet())
    parent = nbmlops.get_run(result.run_id)
    assert (parent.kind, parent.status, parent.experiment, parent.name) == (
        "tune", "finished", "churn", "logreg-grid")
    assert parent.params["strategy"] == "grid"
    assert parent.params["scoring"] == "accuracy"
    assert parent.params["cv"] == repr(KF)
    assert parent.params["models"] == ["LogisticRegression"]
    assert parent.params["space.LogisticRegression"] == {"C": [0.1, 1.0, 10.0]}
    assert parent.params["best.model"] == "LogisticRegression"
    assert parent.params["best.C"] == result.best_params["C"]
    assert parent.metrics["accuracy"] == result.best_score
    assert parent.metrics["candidates"] == 3.0
    assert {ln.name for ln in parent.inputs} == {"X", "y"}
    assert [a.name for a in parent.artifacts] == ["model"]
    kids = children(result.run_id)
    assert len(kids) == 3
    assert set(kids["status"]) == {"finished"}
    assert sorted(kids["params.C"]) == [0.1, 1.0, 10.0]
    ranks = dict(zip(result.search.cv_results_["param_C"],
                     result.search.cv_results_["rank_test_score"], strict=True))
    assert {c: int(r) for c, r in zip(kids["params.C"], kids["metrics.rank"], strict=True)} \
        == {c: int(r) for c, r in ranks.items()}  # scikit-learn's ranks, ties and all
    best_kid = parent.tags["best_run"]
    assert kids.set_index("run_id").loc[best_kid, "params.C"] == result.best_params["C"]
    record = nbmlops.get_run(best_kid)
    assert record.kind == "candidate"
    assert record.parent_run_id == result.run_id
    assert record.metrics["accuracy"] == result.best_score
    folds = nbmlops.metric_history(best_kid, "accuracy_fold")
    assert [m.step for m in folds] == [0, 1, 2, 3, 4]
    assert np.mean([m.value for m in folds]) == pytest.approx(result.best_score)
    assert record.metrics["fit_time"] > 0
    assert record.metrics["accuracy_std"] >= 0


def test_several_models_compete_in_one_search(store_env: Path) -> None:
    models = {"logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
              "tree": DecisionTreeClassifier(random_state=0)}
    spaces = {"logreg": {"logisticregression__C": [0.1, 1.0]},
              "tree": {"max_depth": [2, 4, 6]}}
    result = nbmlops.tune(models, spaces, X, Y, cv=4, scoring=["accuracy", "f1"],
                          refit="f1", **quiet())
    kids = children(result.run_id)
    assert sorted(kids["params.model"]) == ["logreg", "logreg", "tree", "tree", "tree"]
    assert {"metrics.accuracy", "metrics.f1", "metrics.f1_std"} <= set(kids.columns)
    best = kids.loc[kids["metrics.f1"].idxmax()]
    assert result.best_model == best["params.model"]
    assert result.metric == "f1"
    assert result.best_score == pytest.approx(best["metrics.f1"])
    assert type(result.best_estimator).__name__ in ("Pipeline", "DecisionTreeClassifier")
    assert nbmlops.get_run(result.run_id).params["best.model"] == result.best_model
    # the refit winner is the family's own estimator, fitted with the best params
    own = models[result.best_model]
    assert type(result.best_estimator) is type(own)
    # best_params names the winning family first, then its own hyperparameters
    family, *own_params = result.best_params.items()
    assert family == ("model", result.best_model)
    assert own_params
    for key, value in own_params:
        assert result.best_estimator.get_params()[key] == value
    assert result.headline().endswith(f"with {result.best_model}("
                                      + ", ".join(f"{k}={v!r}" for k, v in own_params) + ")")


def test_candidates_frame_keeps_the_params_as_tried(store_env: Path) -> None:
    models = {"logreg": LogisticRegression(max_iter=500),
              "tree": DecisionTreeClassifier(random_state=0)}
    spaces = {"logreg": {"C": [0.5, 2.0], "fit_intercept": [True, False]},
              "tree": {"max_depth": [2, None], "min_samples_leaf": [1, 3]}}
    result = nbmlops.tune(models, spaces, X, Y, cv=3, **quiet())
    frame = result.candidates.set_index("name")
    assert str(frame["params.min_samples_leaf"].dtype) == "Int64"  # ints, <NA> for logreg
    assert frame["params.max_depth"].dtype == object
    trees = frame[frame["params.model"] == "tree"]
    assert sorted(trees["params.max_depth"], key=repr) == [2, 2, None, None]
    assert sorted(trees["params.min_samples_leaf"].tolist()) == [1, 1, 3, 3]
    assert all(v is None or type(v) is int for v in trees["params.max_depth"])
    assert frame["params.C"].dtype == np.float64  # floats only: NaN where absent
    assert frame["params.fit_intercept"].dtype == object  # bools, absent for the trees
    logregs = frame[frame["params.model"] == "logreg"]
    assert sorted(logregs["params.fit_intercept"]) == [False, False, True, True]
    assert str(frame["rank"].dtype) == "Int64"
    # one family: ints stay int64, bools bool
    single = nbmlops.tune(DecisionTreeClassifier(random_state=0),
                          {"max_depth": [2, 3], "splitter": ["best", "random"]}, X, Y, cv=3,
                          **quiet()).candidates
    assert single["params.max_depth"].dtype == np.int64
    assert sorted(single["params.max_depth"]) == [2, 2, 3, 3]


def test_halving_and_optuna_strategies(store_env: Path) -> None:
    grid = {"C": [0.01, 0.1, 1.0, 10.0, 100.0, 0.5]}
    halving = nbmlops.tune(LogisticRegression(max_iter=500), grid, X, Y, cv=3,
                           strategy="halving", random_state=0, **quiet())
    assert halving.status == "finished"
    kids = children(halving.run_id)
    assert "params.halving.iter" in kids.columns  # each rung's evaluations are runs
    assert len(kids) > len(grid["C"])
    optuna = nbmlops.tune(LogisticRegression(max_iter=500), {"C": loguniform(1e-3, 1e2)},
                          X, Y, cv=3, strategy="optuna", n_iter=6, random_state=0, **quiet())
    kids = children(optuna.run_id)
    assert len(kids) == 6
    assert optuna.best_score == kids["metrics.score"].max()
    assert optuna.best_params["C"] == optuna.best_estimator.C


class FailsOn(ClassifierMixin, BaseEstimator):
    """A classifier whose fit raises when ``fail`` says so (or is interrupted)."""

    def __init__(self, depth: int = 1, fail: str = "") -> None:
        self.depth = depth
        self.fail = fail

    def fit(self, X, y):  # type: ignore[no-untyped-def]
        if self.fail == "value":
            raise ValueError(f"depth {self.depth} is not allowed here")
        if self.fail == "interrupt":
            raise KeyboardInterrupt
        self.tree_ = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X):  # type: ignore[no-untyped-def]
        return self.tree_.predict(X)


def test_failing_candidates_are_recorded_and_the_search_goes_on(store_env: Path) -> None:
    grid = [{"depth": [1, 2]}, {"depth": [3], "fail": ["value"]}, {"depth": [4]}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = nbmlops.tune(FailsOn(), grid, X, Y, cv=3, **quiet())
    kids = children(result.run_id)
    assert len(kids) == 4
    failed = kids[kids["status"] == "failed"]
    assert list(failed["params.depth"]) == [3]
    error = nbmlops.get_run(failed.run_id.iloc[0]).error or ""
    assert "depth 3 is not allowed here" in error
    assert result.best_params["depth"] in (1, 2, 4)
    assert nbmlops.get_run(result.run_id).metrics["failed"] == 1.0


def test_interrupting_keeps_every_finished_candidate(store_env: Path) -> None:
    grid = [{"depth": [1, 2, 3]}, {"depth": [4], "fail": ["interrupt"]}, {"depth": [5]}]
    with pytest.raises(KeyboardInterrupt):
        nbmlops.tune(FailsOn(), grid, X, Y, cv=3, n_jobs=1, **quiet())
    parent = nbmlops.runs(kind="tune")
    assert list(parent["status"]) == ["interrupted"]
    kids = children(parent.run_id.iloc[0])
    assert sorted(kids["params.depth"]) == [1, 2, 3]
    assert set(kids["status"]) == {"finished"}


def test_progress_reaches_the_total(store_env: Path) -> None:
    seen: list[ProgressState] = []
    closed: list[str] = []

    class Recording(NoProgress):
        def update(self, state: ProgressState) -> None:
            seen.append(state)

        def close(self, state: ProgressState, status: str) -> None:
            closed.append(status)

    nbmlops.tune(LogisticRegression(max_iter=500), {"C": [0.1, 1.0, 10.0]}, X, Y, cv=3,
                 progress=Recording())
    assert [s.done for s in seen] == [1, 2, 3]
    assert {s.total for s in seen} == {3}
    assert seen[-1].best is not None
    assert re.match(r"grid search: 3/3 candidates · \d", seen[-1].line())
    assert closed == ["finished"]


def test_eta_waits_for_the_pace_after_start_up() -> None:
    """A fake clock: the first batch of 2 takes 30 s (workers starting), later ones 5 s."""
    now = [0.0]
    eta = Eta(workers=2, clock=lambda: now[0])
    assert eta.remaining(12) is None  # nothing finished
    now[0] = 30.0
    eta.finished(2)
    assert eta.remaining(12) is None  # one batch: the start-up cost only, no pace yet
    now[0] = 35.0
    eta.finished(4)
    assert eta.remaining(12) == pytest.approx(20.0)  # 4 batches of 5 s (not 35/4*8 = 70 s)
    now[0] = 37.0  # asked again 2 s later: the time left counts down
    assert eta.remaining(12) == pytest.approx(18.0)
    now[0] = 40.0
    eta.finished(6)
    assert eta.remaining(12) == pytest.approx(15.0)
    now[0] = 45.0
    eta.finished(8)
    # 3 left of 12: two batches of 2 workers, the last one partial but as long as a full one
    assert eta.remaining(11) == pytest.approx(10.0)
    eta.finished(12)
    assert eta.remaining(12) is None  # done
    assert eta.remaining(None) is None  # a count not known ahead (successive halving)


def test_eta_needs_a_few_candidates_one_at_a_time() -> None:
    now = [0.0]
    eta = Eta(workers=1, clock=lambda: now[0])
    for done, t in ((1, 10.0), (2, 11.0)):
        now[0] = t
        eta.finished(done)
        assert eta.remaining(10) is None
    now[0] = 12.0
    eta.finished(3)
    assert eta.remaining(10) == pytest.approx(7.0)
    state = ProgressState(description="grid search", done=3, total=10, elapsed_s=12.0,
                          best=0.9, metric="accuracy", remaining_s=eta.remaining(10))
    assert "ETA 7" in state.line()
    early = ProgressState(description="grid search", done=1, total=10, elapsed_s=10.0,
                          best=0.9, metric="accuracy", remaining_s=None)
    assert "ETA" not in early.line()


def test_a_search_shows_no_eta_from_its_first_batch(store_env: Path) -> None:
    seen: list[ProgressState] = []

    class Recording(NoProgress):
        def update(self, state: ProgressState) -> None:
            seen.append(state)

    nbmlops.tune(LogisticRegression(max_iter=500), {"C": [0.1, 0.3, 1.0, 3.0, 10.0]}, X, Y,
                 cv=3, n_jobs=1, progress=Recording())
    assert [s.done for s in seen] == [1, 2, 3, 4, 5]
    assert [s.eta_s is not None for s in seen] == [False, False, True, True, False]


def test_text_progress_lines(store_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nbmlops.tune(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, X, Y, cv=3,
                 scoring="accuracy")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("grid search: 2/2 candidates")
    assert "best accuracy" in lines[-1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"strategy": "annealing"}, "unknown strategy 'annealing'; choose one of grid, random"),
    ({"estimator": object()}, "has no fit() and get_params()"),
    ({"estimator": LogisticRegression}, "is the class LogisticRegression; pass an instance"),
    ({"space": {"Cee": [1]}}, "'Cee' is not a parameter of 'LogisticRegression'; its "
                              "parameters are: C, class_weight"),
    ({"space": {"C": loguniform(1, 2)}}, "which grid search cannot enumerate"),
    ({"space": {"C": []}}, "needs a non-empty list of values"),
    ({"cv": 1}, "give at least 2 folds"),
    ({"scoring": "acuracy"}, "unknown scoring 'acuracy'"),
    ({"scoring": ["accuracy", "f1"], "refit": "auc"}, "refit='auc' is not one of the scoring"),
    ({"strategy": "random", "n_iter": 0}, "n_iter must be a positive number"),
    ({"backend": "spark"}, "unknown backend 'spark'"),
    ({"scheduler": "tcp://x:1"}, "a scheduler address goes with backend 'dask'"),
    ({"estimator": {"a": LogisticRegression()}, "space": {"b": {}}},
     "search spaces for models that are not in the dict of models: b"),
])
def test_bad_arguments_name_the_problem(store_env: Path, kwargs: dict[str, object],
                                        message: str) -> None:
    args: dict[str, object] = {"estimator": LogisticRegression(), "space": {"C": [1.0]}}
    args.update(kwargs)
    estimator, space = args.pop("estimator"), args.pop("space")
    with pytest.raises(nbmlops.TuneError, match=re.escape(message)):
        nbmlops.tune(estimator, space, X, Y, **args, **quiet())  # type: ignore[arg-type]
    assert nbmlops.runs().empty  # nothing started


def test_missing_optuna_names_the_extra(store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(nbmlops.MissingExtraError, match=r'pip install "nbmlops\[optuna\]"'):
        nbmlops.tune(LogisticRegression(), {"C": [1.0]}, X, Y, strategy="optuna", n_iter=2,
                     **quiet())


def test_dask_backend_matches_loky(store_env: Path) -> None:
    from distributed import LocalCluster

    grid = {"max_depth": [1, 3, 5], "min_samples_leaf": [1, 10]}
    loky = nbmlops.tune(DecisionTreeClassifier(random_state=0), grid, X, Y, cv=KF, n_jobs=2,
                        **quiet())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        on_dask = nbmlops.tune(DecisionTreeClassifier(random_state=0), grid, X, Y, cv=KF,
                               backend="dask", scheduler=cluster.scheduler_address,
                               **quiet())
    assert on_dask.best_params == loky.best_params
    assert on_dask.best_score == loky.best_score
    np.testing.assert_array_equal(on_dask.search.cv_results_["mean_test_score"],
                                  loky.search.cv_results_["mean_test_score"])
    assert nbmlops.get_run(on_dask.run_id).params["backend"] == "dask"
    assert len(children(on_dask.run_id)) == 6
    # with no scheduler, a local cluster is started for the search and stopped after it
    own = nbmlops.tune(DecisionTreeClassifier(random_state=0), grid, X, Y, cv=KF,
                       backend="dask", **quiet())
    assert own.best_params == loky.best_params


def test_tune_inside_a_tracked_block_is_its_child(store_env: Path) -> None:
    with nbmlops.track("outer") as outer:
        result = nbmlops.tune(LogisticRegression(max_iter=500), {"C": [1.0]}, X, Y, cv=3,
                              **quiet())
    parent = nbmlops.get_run(result.run_id)
    assert parent.parent_run_id == outer.id
    assert parent.experiment == "outer"


def test_compare_shows_runs_side_by_side(store_env: Path) -> None:
    ids = []
    for c, acc in ((0.1, 0.8), (1.0, 0.9), (1.0, 0.85)):
        with nbmlops.track("cmp", params={"C": c, "solver": "lbfgs"}) as run:
            nbmlops.log_metric("accuracy", acc)
        ids.append(run.id)
    comparison = nbmlops.compare([i[:8] for i in ids], metric="accuracy")
    assert list(comparison.frame.run_id) == ids
    assert comparison.primary == "metrics.accuracy"
    assert comparison.differing() == ("params.C", "metrics.accuracy")
    assert list(comparison.sorted()["metrics.accuracy"]) == [0.9, 0.85, 0.8]
    assert list(comparison.query("metrics.accuracy > 0.82 and params.C == 1.0").run_id) == \
        ids[1:]
    text = repr(comparison)
    assert text.splitlines()[0] == "runs compared (3 runs)"
    assert "solver" not in text  # identical everywhere: not shown
    with pytest.raises(nbmlops.QueryError):
        comparison.query("metrics.accuracy >")
    with pytest.raises(nbmlops.RunNotFoundError):
        nbmlops.compare(["ffffffff"])


def test_result_display(store_env: Path) -> None:
    result = nbmlops.tune(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, X, Y, cv=3,
                          scoring="accuracy", **quiet())
    text = repr(result)
    assert text.startswith(f"nbmlops tune {result.run_id[:8]} finished in")
    assert f"best accuracy {result.best_score:.4g}" in text
    assert "LogisticRegression(C=" in text
    assert "<b>nbmlops tune" in result._repr_html_()
    assert not math.isnan(result.best_score)


def test_sorting_a_param_that_mixes_numbers_and_text() -> None:
    import pandas as pd

    from nbmlops.tracking.compare import Comparison

    frame = pd.DataFrame({"run_id": list("abcd"), "name": list("abcd"), "status": ["x"] * 4,
                          "params.max_features": ["sqrt", 0.5, None, 0.2],
                          "metrics.acc": [0.1, 0.2, 0.3, 0.4]})
    comparison = Comparison.of(frame)
    up = comparison.sorted("params.max_features", ascending=True)
    assert list(up["run_id"]) == ["d", "b", "a", "c"]  # numbers, text, missing
    down = comparison.sorted("params.max_features", ascending=False)
    assert list(down["run_id"]) == ["a", "b", "d", "c"]  # the reverse; missing still last


def test_halving_ranks_its_winner_first(store_env: Path) -> None:
    Xh, yh = make_classification(600, 10, random_state=0)
    result = nbmlops.tune(LogisticRegression(max_iter=500),
                          {"C": [0.001, 0.01, 0.1, 1, 10, 100]}, Xh, yh, strategy="halving",
                          random_state=0, **quiet())
    parent = nbmlops.get_run(result.run_id)
    kids = children(result.run_id).set_index("run_id")
    assert kids.loc[parent.tags["best_run"], "metrics.rank"] == 1
    assert result.candidates.iloc[0]["run_id"] == parent.tags["best_run"]
    assert "params.halving.iter" in result.candidates.columns
    last = kids["params.halving.iter"].max()
    assert kids.loc[parent.tags["best_run"], "params.halving.iter"] == last


def test_optuna_reuses_the_scores_of_a_repeated_combination(store_env: Path) -> None:
    result = nbmlops.tune(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, X, Y, cv=3,
                          strategy="optuna", n_iter=6, random_state=0, **quiet())
    kids = children(result.run_id)
    assert len(kids) == 6  # every trial is a run ...
    repeats = kids[kids["params.optuna.repeat_of"].notna()]
    assert len(repeats) == 4  # ... but only two combinations exist, each fitted once
    for _, row in repeats.iterrows():
        first = kids[kids["name"] == f"LogisticRegression #{int(row['params.optuna.repeat_of'])}"]
        assert row["metrics.score"] == first["metrics.score"].iloc[0]
        assert row["params.C"] == first["params.C"].iloc[0]


def test_progress_names_are_still_importable_from_tuning() -> None:
    from nbmlops import progress
    from nbmlops.tuning import progress as old_home

    assert all(getattr(old_home, n) is getattr(progress, n) for n in old_home.__all__)
