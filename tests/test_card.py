"""Model cards: metrics equal scikit-learn's, fairness equal to numbers worked out by hand,
explanations that find the signal, and renderings that escape what they show."""

from __future__ import annotations

import base64
import math
import re
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from nbmlops.errors import MissingExtraError
from nbmlops.registry.card import ModelCard, evaluate
from nbmlops.tracking.summary import format_number

PNG = b"\x89PNG\r\n\x1a\n"


class ReadsPredictions(ClassifierMixin, BaseEstimator):
    """A real (if trivial) classifier: its prediction for a row is the row's ``pred``
    column, so the test decides every prediction. Fitting learns the classes."""

    def fit(self, X: pd.DataFrame, y: object) -> ReadsPredictions:
        self.classes_ = np.unique(np.asarray(y))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["pred"].to_numpy()


class ReadsProbabilities(ReadsPredictions):
    """The same, with a probability: 0.8 for the predicted class, 0.2 for the other."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.where(X["pred"].to_numpy() == self.classes_[1], 0.8, 0.2)
        return np.column_stack([1 - p, p])


# Twelve rows in three groups, every count written out:
#   A (5 rows): y 1 1 1 0 0, pred 1 1 1 1 0 -> TP 3, FN 0, FP 1, TN 1
#   B (5 rows): y 1 1 1 1 0, pred 1 0 0 0 0 -> TP 1, FN 3, FP 0, TN 1
#   C (2 rows): y 0 0,       pred 1 0       -> no positives; FP 1, TN 1
HAND_Y = [1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0]
HAND_PRED = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0]
HAND_GROUP = ["A"] * 5 + ["B"] * 5 + ["C"] * 2
BY_HAND = {
    #      selection_rate  tpr     fpr    accuracy
    "A": {"count": 5, "accuracy": 4 / 5, "selection_rate": 4 / 5, "tpr": 3 / 3, "fpr": 1 / 2},
    "B": {"count": 5, "accuracy": 2 / 5, "selection_rate": 1 / 5, "tpr": 1 / 4, "fpr": 0 / 1},
    "C": {"count": 2, "accuracy": 1 / 2, "selection_rate": 1 / 2, "tpr": math.nan,
          "fpr": 1 / 2},
}
# selection rates 4/5, 1/5, 1/2 -> 4/5 - 1/5
DEMOGRAPHIC_PARITY = 3 / 5
# TPR over A and B only (C has no positives): 1 - 1/4 = 3/4; FPR: 1/2 - 0 = 1/2
# (were C's TPR taken as 0 this would be 1; were it not skipped, NaN)
EQUALIZED_ODDS = 3 / 4
# overall: TP 4, FP 2, FN 3, TN 3
HAND_METRICS = {"accuracy": 7 / 12, "precision": 4 / 6, "recall": 4 / 7, "f1": 8 / 13}
HAND_CONFUSION = [[3, 2], [3, 4]]


def hand_data(labels: tuple[object, object] = (0, 1)) -> tuple[pd.DataFrame, np.ndarray]:
    names = np.array(labels)
    X = pd.DataFrame({"pred": names[HAND_PRED], "group": HAND_GROUP})
    return X, names[HAND_Y]


def assert_rows(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if math.isnan(value):
            assert math.isnan(actual[key]), key
        else:
            assert actual[key] == pytest.approx(value), key


@pytest.mark.parametrize("labels", [(0, 1), ("no", "yes")])
def test_fairness_equals_the_numbers_worked_out_by_hand(labels: tuple[object, object]) -> None:
    X, y = hand_data(labels)
    model = ReadsProbabilities().fit(X, y)
    card = evaluate(model, X, y, sensitive="group", explain=False)

    assert card.task == "classification"
    assert card.labels == list(labels)
    assert card.confusion == HAND_CONFUSION
    for key, value in HAND_METRICS.items():
        assert card.metrics[key] == pytest.approx(value), key
    fair = card.fairness
    assert fair is not None
    assert fair.attribute == "group"
    assert list(fair.groups) == ["A", "B", "C"]
    for group, expected in BY_HAND.items():
        assert_rows(fair.groups[group], expected)
    assert fair.differences == {
        "demographic_parity_difference": pytest.approx(DEMOGRAPHIC_PARITY),
        "equalized_odds_difference": pytest.approx(EQUALIZED_ODDS)}
    # in the flat metrics too, for gates
    assert card.metrics["demographic_parity_difference"] == pytest.approx(DEMOGRAPHIC_PARITY)
    assert card.metrics["equalized_odds_difference"] == pytest.approx(EQUALIZED_ODDS)
    assert any("group C has no positives" in note and "TPR" in note for note in fair.notes)
    assert set(card.figures) == {"confusion_matrix", "fairness"}


def test_sensitive_values_given_as_an_array_give_the_same_table() -> None:
    X, y = hand_data()
    model = ReadsProbabilities().fit(X, y)
    by_column = evaluate(model, X, y, sensitive="group", explain=False)
    by_values = evaluate(model, X[["pred"]], y, sensitive=pd.Series(HAND_GROUP, name="site"),
                         explain=False)
    assert by_values.fairness is not None
    assert by_column.fairness is not None
    assert by_values.fairness.attribute == "site"
    assert repr(by_values.fairness.groups) == repr(by_column.fairness.groups)
    assert by_values.metrics == pytest.approx(by_column.metrics)
    # targets in an object column (as pandas may hold them) are still binary labels
    as_objects = evaluate(model, X, y.astype(object), sensitive="group", explain=False)
    assert as_objects.metrics == pytest.approx(by_column.metrics)


def test_missing_sensitive_values_form_their_own_group_last() -> None:
    X, y = hand_data()
    groups = [*HAND_GROUP[:-2], None, math.nan]  # group C's values are unknown
    card = evaluate(ReadsPredictions().fit(X, y), X, y, sensitive=groups, explain=False)
    assert card.fairness is not None
    assert list(card.fairness.groups) == ["A", "B", "(missing)"]
    assert card.fairness.groups["(missing)"]["count"] == 2


def test_roc_auc_comes_from_probabilities_else_decision_function_else_is_omitted() -> None:
    X, y = hand_data()
    with_proba = evaluate(ReadsProbabilities().fit(X, y), X, y, explain=False)
    scores = np.where(np.array(HAND_PRED) == 1, 0.8, 0.2)
    assert with_proba.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores))

    without = evaluate(ReadsPredictions().fit(X, y), X, y, explain=False)
    assert "roc_auc" not in without.metrics
    assert any("roc_auc omitted" in note for note in without.notes)

    Xc, yc = make_classification(200, 4, random_state=1)
    svc = LinearSVC().fit(Xc, yc)
    card = evaluate(svc, Xc, yc, explain=False)
    assert card.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(yc, svc.decision_function(Xc)))


def test_binary_metrics_equal_sklearns_on_logistic_regression() -> None:
    X, y = make_classification(300, 5, n_informative=3, flip_y=0.1, random_state=0)
    X_train, X_test, y_train, y_test = X[:200], X[200:], y[:200], y[200:]
    model = LogisticRegression().fit(X_train, y_train)
    card = evaluate(model, X_test, y_test, explain=False)
    pred = model.predict(X_test)
    assert card.n_samples == 100
    assert card.metrics == pytest.approx({
        "accuracy": skm.accuracy_score(y_test, pred),
        "precision": skm.precision_score(y_test, pred),
        "recall": skm.recall_score(y_test, pred),
        "f1": skm.f1_score(y_test, pred),
        "roc_auc": skm.roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]),
    })
    assert card.confusion == skm.confusion_matrix(y_test, pred).tolist()
    assert card.labels == [0, 1]
    assert card.fairness is None
    assert card.residuals is None


def test_multiclass_metrics_are_macro_averages() -> None:
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X[:200], y[:200])
    X_test, y_test = X[200:], y[200:]
    groups = np.where(np.arange(100) % 2 == 0, "even", "odd")
    card = evaluate(model, X_test, y_test, sensitive=groups, explain=False)
    pred = model.predict(X_test)
    assert card.metrics == pytest.approx({
        "accuracy": skm.accuracy_score(y_test, pred),
        "precision": skm.precision_score(y_test, pred, average="macro"),
        "recall": skm.recall_score(y_test, pred, average="macro"),
        "f1": skm.f1_score(y_test, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y_test, model.predict_proba(X_test), multi_class="ovr"),
    })
    assert card.labels == [0, 1, 2]
    assert card.confusion == skm.confusion_matrix(y_test, pred).tolist()
    assert card.fairness is not None
    assert card.fairness.columns == ("count", "accuracy")
    assert card.fairness.differences == {}
    assert card.fairness.groups["odd"]["accuracy"] == pytest.approx(
        skm.accuracy_score(y_test[1::2], pred[1::2]))


def test_regression_metrics_equal_sklearns_on_linear_regression() -> None:
    X, y = make_regression(300, 4, noise=10.0, random_state=0)
    model = LinearRegression().fit(X[:200], y[:200])
    X_test, y_test = X[200:], y[200:]
    groups = np.where(X_test[:, 0] > 0, "hi", "lo")
    card = evaluate(model, X_test, y_test, sensitive=groups, explain=False)
    pred = model.predict(X_test)
    assert card.task == "regression"
    assert card.metrics == pytest.approx({
        "mae": skm.mean_absolute_error(y_test, pred),
        "rmse": skm.root_mean_squared_error(y_test, pred),
        "r2": skm.r2_score(y_test, pred),
        "mean_prediction_difference": abs(pred[groups == "hi"].mean()
                                          - pred[groups == "lo"].mean()),
    })
    residual = y_test - pred
    assert card.residuals is not None
    assert card.residuals["mean"] == pytest.approx(residual.mean())
    assert card.residuals["std"] == pytest.approx(residual.std())
    assert card.residuals["median"] == pytest.approx(np.median(residual))
    assert card.confusion is None
    assert card.labels == []
    assert card.fairness is not None
    hi = card.fairness.groups["hi"]
    assert hi["mae"] == pytest.approx(skm.mean_absolute_error(y_test[groups == "hi"],
                                                              pred[groups == "hi"]))
    assert hi["mean_prediction"] == pytest.approx(pred[groups == "hi"].mean())
    assert set(card.figures) == {"residuals", "fairness"}


def test_task_comes_from_the_model_before_the_targets() -> None:
    # integer targets look like classes, but the model is a regressor
    X, y = make_regression(60, 2, random_state=0)
    y = np.round(y).astype(int)
    card = evaluate(LinearRegression().fit(X, y), X, y, explain=False)
    assert card.task == "regression"
    assert evaluate(LinearRegression().fit(X, y), X, y, explain=False,
                    task="regression").metrics.keys() >= {"mae", "rmse", "r2"}


def signal_and_noise() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    signal, noise = rng.normal(size=400), rng.normal(size=400)
    X = pd.DataFrame({"noise": noise, "signal": signal})
    return X, (signal + 0.3 * rng.normal(size=400) > 0).astype(int)


def test_permutation_importance_ranks_the_signal_above_the_noise() -> None:
    X, y = signal_and_noise()
    model = LogisticRegression().fit(X[:300], y[:300])
    card = evaluate(model, X[300:], y[300:], n_repeats=5, random_state=0)
    perm = card.importances["permutation"]
    assert list(perm) == ["noise", "signal"]
    assert perm["signal"] > 0.2 > perm["noise"]
    assert set(card.importances["permutation_std"]) == {"noise", "signal"}
    assert "impurity" not in card.importances  # a linear model has none
    assert "importances" in card.figures


def test_impurity_importances_of_a_forest_and_of_a_pipelines_last_step() -> None:
    X, y = signal_and_noise()
    forest = RandomForestClassifier(30, random_state=0).fit(X, y)
    card = evaluate(forest, X, y, n_repeats=2)
    assert card.importances["impurity"] == pytest.approx(
        dict(zip(["noise", "signal"], forest.feature_importances_, strict=True)))
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(30, random_state=0)).fit(X, y)
    card = evaluate(pipe, X, y, n_repeats=2)
    impurity = card.importances["impurity"]
    assert set(impurity) == {"noise", "signal"}
    assert impurity["signal"] > impurity["noise"]
    assert card.model == "StandardScaler → RandomForestClassifier"
    assert "impurity" not in evaluate(LogisticRegression().fit(X, y), X, y,
                                      n_repeats=2).importances
    assert "impurity" not in evaluate(forest, X, y, explain=False).importances


def test_shap_values_when_asked_for() -> None:
    pytest.importorskip("shap")
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"noise": rng.normal(size=300), "signal": rng.normal(size=300)})
    y = 3 * X["signal"].to_numpy() + 0.1 * rng.normal(size=300)
    forest = RandomForestRegressor(20, random_state=0).fit(X, y)
    card = evaluate(forest, X, y, explain=False, shap=True)
    shap_values = card.importances["shap"]
    assert set(shap_values) == {"noise", "signal"}
    assert shap_values["signal"] > 10 * shap_values["noise"]
    assert "permutation" not in card.importances


def test_shap_missing_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)
    X, y = signal_and_noise()
    with pytest.raises(MissingExtraError, match=r'nbmlops\[shap\]') as caught:
        evaluate(LogisticRegression().fit(X, y), X, y, shap=True)
    assert caught.value.extra == "shap"
    assert caught.value.module == "shap"


def test_bad_input_is_named() -> None:
    X, y = hand_data()
    model = ReadsPredictions().fit(X, y)
    with pytest.raises(ValueError, match="X has 12 rows but y has 11 values"):
        evaluate(model, X, y[:11])
    with pytest.raises(ValueError, match=r"sensitive column 'sex' is not in X.*'group'"):
        evaluate(model, X, y, sensitive="sex")
    with pytest.raises(ValueError, match="one value per row"):
        evaluate(model, X, y, sensitive=["A"] * 11)
    with pytest.raises(ValueError, match="names a column, but X has no column names"):
        evaluate(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), np.eye(2)[:, :1], [0, 1],
                 sensitive="group")
    with pytest.raises(ValueError, match="task must be"):
        evaluate(model, X, y, task="ranking")  # type: ignore[arg-type]
    with pytest.raises(NotFittedError, match=r"LogisticRegression is not fitted.*fit"):
        evaluate(LogisticRegression(), X, y)


def rendered_card() -> tuple[ModelCard, pd.DataFrame]:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"<b>x</b>": rng.normal(size=200), "a|b": rng.normal(size=200),
                      "$\\alpha$": rng.normal(size=200)})
    y = (X["<b>x</b>"] > 0).astype(int).to_numpy()
    groups = np.where(np.arange(200) % 4 == 0, "<i>few</i>", "many")
    return evaluate(LogisticRegression().fit(X, y), X, y, sensitive=groups, n_repeats=2), X


def test_html_is_self_contained_and_escaped() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    card, _ = rendered_card()
    assert plt.get_fignums() == before  # no figure left open with pyplot

    page = card.to_html()
    assert card._repr_html_() == page
    for value in card.metrics.values():
        assert format_number(value) in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>x</b>" not in page
    assert "&lt;i&gt;few&lt;/i&gt;" in page
    assert "<i>few</i>" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3 == len(card.figures)
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert "figures/" not in page


def test_markdown_has_the_tables_and_refers_to_the_figure_files() -> None:
    card, _ = rendered_card()
    text = card.to_markdown()
    assert "| metric | value |" in text
    assert f"| accuracy | {format_number(card.metrics['accuracy'])} |" in text
    assert "| true ↓ predicted → | 0 | 1 |" in text
    assert re.search(r"\| feature \| permutation \| permutation std \|", text)
    assert r"| \<b\>x\</b\> |" in text
    assert r"| a\|b |" in text
    assert r"\$\\alpha\$" in text
    assert "| group | count | accuracy | selection_rate | tpr | fpr |" in text
    assert "| demographic_parity_difference |" in text
    files = card.figure_files()
    assert set(files) == {"figures/confusion_matrix.png", "figures/importances.png",
                          "figures/fairness.png"}
    for name, png in files.items():
        assert f"]({name})" in text
        assert png.startswith(PNG)


def test_repr_is_a_short_summary() -> None:
    card, _ = rendered_card()
    text = repr(card)
    assert text.startswith("ModelCard: LogisticRegression, classification on 200 held-out")
    assert f"accuracy={format_number(card.metrics['accuracy'])}" in text
    assert "fairness by sensitive (2 groups): demographic_parity_difference=" in text
    assert "equalized_odds_difference=" in text
    assert "top features (permutation): <b>x</b>=" in text
    assert len(text.splitlines()) == 4
    assert "base64" not in text
