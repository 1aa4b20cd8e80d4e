"""Model cards: how a fitted model does on held-out data, what it relies on, and for whom.

:func:`evaluate` scores a fitted scikit-learn model on rows it was not trained on and
returns a :class:`ModelCard`: the metrics, named so that a gate such as ``accuracy>=0.8``
or ``demographic_parity_difference<=0.1`` finds them in ``card.metrics``; the confusion
matrix or a summary of the residuals; feature importances (permutation, impurity, SHAP);
a table per group of a sensitive attribute; and figures as PNG bytes. The card renders as
Markdown (its figures referenced as ``figures/<name>.png``, see
:meth:`ModelCard.figure_files`), as self-contained HTML, and as a short text summary.

Steps, in order: check the inputs, predict, score, explain, compare the groups, draw.
scikit-learn, numpy, pandas and matplotlib are imported when a card is made; shap only
when SHAP values are asked for. Figures are drawn on :class:`matplotlib.figure.Figure`,
never through pyplot, so none is left open in the notebook.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nbmlops.errors import MissingExtraError
from nbmlops.tracking.summary import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import NDArray

__all__ = ["Fairness", "ModelCard", "evaluate"]

Task = Literal["classification", "regression"]

TOP_FEATURES = 15  # features shown in the tables and the importance chart
SHAP_ROWS = 200  # rows explained by SHAP (a random sample when there are more)
SHAP_BACKGROUND = 100  # rows of that sample that stand for "feature unknown"
SCATTER_POINTS = 5000  # points drawn in the residuals plot (a random sample beyond)
ANNOTATED_CLASSES = 20  # the confusion heatmap writes its counts up to this many classes
MISSING_GROUP = "(missing)"  # the group of rows whose sensitive value is missing

_CLASSIFICATION_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc")
_REGRESSION_KEYS = ("mae", "rmse", "r2")
_IMPORTANCE_KINDS = ("permutation", "impurity", "shap")
_RATES = ("accuracy", "selection_rate", "tpr", "fpr")
_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")
_TITLES = {"confusion_matrix": "confusion matrix", "residuals": "residuals against predictions",
           "importances": "feature importance", "fairness": "metrics per group"}


# -- the card ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fairness:
    """The model's metrics per group of one sensitive attribute, and how far apart they are.

    ``groups`` maps each group's label to its row: ``count``, then ``accuracy``,
    ``selection_rate``, ``tpr``, ``fpr`` (binary classification; multiclass has
    ``accuracy`` only) or ``mae``, ``rmse``, ``mean_prediction`` (regression). A rate that
    is undefined for a group (TPR without positives, FPR without negatives) is NaN and is
    left out of the differences; ``notes`` says so.
    """

    attribute: str
    groups: dict[str, dict[str, float]]
    differences: dict[str, float]
    notes: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-group metrics, in table order."""
        first = next(iter(self.groups.values()), {})
        return tuple(first)


@dataclass(frozen=True)
class ModelCard:
    """A fitted model's evaluation on held-out data (see :func:`evaluate`).

    ``metrics`` is flat: ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc`` or
    ``mae``, ``rmse``, ``r2``, plus the fairness differences when a sensitive attribute was
    given. ``importances`` has a ``{feature: value}`` mapping per kind: ``permutation``
    (with ``permutation_std``), ``impurity``, ``shap``, as available. ``figures`` holds PNG
    bytes by name: ``confusion_matrix`` or ``residuals``, ``importances``, ``fairness``.
    """

    task: Task
    metrics: dict[str, float]
    confusion: list[list[int]] | None
    labels: list[Any]
    importances: dict[str, dict[str, float]]
    fairness: Fairness | None
    figures: dict[str, bytes]
    n_samples: int
    residuals: dict[str, float] | None = None  # regression: mean, std and quantiles
    model: str = ""  # the estimator's class name (a Pipeline's steps joined by " → ")
    notes: tuple[str, ...] = ()  # what could not be computed, and why

    def figure_files(self) -> dict[str, bytes]:
        """The figures as the files :meth:`to_markdown` refers to."""
        return {f"figures/{name}.png": png for name, png in self.figures.items()}

    def to_markdown(self) -> str:
        """The card as Markdown; save :meth:`figure_files` beside it to see the figures."""
        parts = [f"# Model card: {_md(self.model or 'model')}", "", _md(self._headline()), ""]
        for section in _sections(self):
            parts += [f"## {_md(section.title)}", ""]
            if section.lead:
                parts += [_md(section.lead), ""]
            for header, rows in section.tables:
                parts += [*_md_table(header, rows), ""]
            if section.notes:
                parts += [f"- {_md(note)}" for note in section.notes] + [""]
            if section.figure in self.figures:
                parts += [f"![{_md(_TITLES[section.figure])}](figures/{section.figure}.png)",
                          ""]
        return "\n".join(parts).rstrip() + "\n"

    def to_html(self) -> str:
        """The card as one self-contained HTML fragment, figures embedded as PNG data URLs."""
        esc = html.escape
        parts = ['<div class="nbmlops-model-card" style="font-size:13px;line-height:1.5">',
                 f"<h3>Model card: {esc(self.model or 'model')}</h3>",
                 f'<div style="color:#57606a">{esc(self._headline())}</div>']
        for section in _sections(self):
            parts.append(f'<h4 style="margin:.9em 0 .3em">{esc(section.title)}</h4>')
            if section.lead:
                parts.append(f"<p>{esc(section.lead)}</p>")
            parts += [_html_table(header, rows) for header, rows in section.tables]
            if section.notes:
                parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in section.notes)
                             + "</ul>")
            if section.figure in self.figures:
                data = base64.b64encode(self.figures[section.figure]).decode("ascii")
                parts.append(f'<div><img alt="{esc(_TITLES[section.figure])}" '
                             f'src="data:image/png;base64,{data}" style="max-width:100%">'
                             "</div>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [f"ModelCard: {self.model or 'model'}, {self._headline()}"]
        keys = _CLASSIFICATION_KEYS if self.task == "classification" else _REGRESSION_KEYS
        shown = [f"{k}={format_number(self.metrics[k])}" for k in keys if k in self.metrics]
        if shown:
            lines.append("  " + " ".join(shown))
        if self.fairness is not None:
            diffs = " ".join(f"{k}={format_number(v)}"
                             for k, v in self.fairness.differences.items())
            lines.append(f"  fairness by {self.fairness.attribute} "
                         f"({len(self.fairness.groups)} groups)" + (f": {diffs}" if diffs else ""))
        kind = next((k for k in _IMPORTANCE_KINDS if self.importances.get(k)), None)
        if kind is not None:
            top = _ranked(self.importances[kind])[:3]
            lines.append(f"  top features ({kind}): "
                         + ", ".join(f"{name}={format_number(v)}" for name, v in top))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _headline(self) -> str:
        return f"{self.task} on {self.n_samples} held-out sample{'s' if self.n_samples != 1 else ''}"


@dataclass(frozen=True)
class _Section:
    """One part of a rendered card, the same for Markdown and HTML."""

    title: str
    tables: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...] = ()
    lead: str = ""
    notes: tuple[str, ...] = ()
    figure: str = ""


def _sections(card: ModelCard) -> list[_Section]:
    out = [_Section("Metrics", ((("metric", "value"), tuple(
        (k, format_number(v)) for k, v in card.metrics.items())),))]
    if card.confusion is not None:
        names = tuple(str(label) for label in card.labels)
        rows = tuple((name, *(str(c) for c in counts))
                     for name, counts in zip(names, card.confusion, strict=True))
        out.append(_Section("Confusion matrix", (((("true ↓ predicted →"), *names), rows),),
                            figure="confusion_matrix"))
    if card.residuals is not None:
        out.append(_Section("Residuals (true − predicted)", ((("statistic", "value"), tuple(
            (k, format_number(v)) for k, v in card.residuals.items())),), figure="residuals"))
    kinds = [k for k in _IMPORTANCE_KINDS if card.importances.get(k)]
    if kinds:
        ranked = _ranked(card.importances[kinds[0]])
        header = ["feature"]
        for kind in kinds:
            header.append(kind)
            if kind == "permutation" and "permutation_std" in card.importances:
                header.append("permutation std")
        importance_rows: list[tuple[str, ...]] = []
        for name, _ in ranked[:TOP_FEATURES]:
            row = [name]
            for column in header[1:]:
                values = card.importances["permutation_std" if column == "permutation std"
                                          else column]
                row.append(format_number(values[name]) if name in values else "")
            importance_rows.append(tuple(row))
        lead = (f"Top {TOP_FEATURES} of {len(ranked)} features by {kinds[0]} importance."
                if len(ranked) > TOP_FEATURES else f"Features by {kinds[0]} importance.")
        out.append(_Section("Feature importance", ((tuple(header), tuple(importance_rows)),), lead=lead,
                            figure="importances"))
    if card.fairness is not None:
        fair = card.fairness
        columns = fair.columns
        group_rows = tuple((name, *(format_number(row[c]) for c in columns))
                           for name, row in fair.groups.items())
        tables = [(("group", *columns), group_rows)]
        if fair.differences:
            tables.append((("difference", "value"), tuple(
                (k, format_number(v)) for k, v in fair.differences.items())))
        out.append(_Section(f"Fairness by {fair.attribute}", tuple(tables), notes=fair.notes,
                            figure="fairness"))
    if card.notes:
        out.append(_Section("Notes", notes=card.notes))
    return out


def _ranked(values: dict[str, float]) -> list[tuple[str, float]]:
    """Features by value, largest first (NaN last); ties keep the features' order."""
    return sorted(values.items(), key=lambda kv: -kv[1] if kv[1] == kv[1] else math.inf)


_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|#&$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: str) -> str:
    """Text as literal Markdown: punctuation that would format or break a table escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(text.split()))


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = html.escape
    head = "".join(f'<th style="text-align:left;padding-right:1em">{esc(h)}</th>'
                   for h in header)
    body = "".join("<tr>" + "".join(f'<td style="text-align:left;padding-right:1em">'
                                    f"{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="nbmlops-card-table"><tr>{head}</tr>{body}</table>'


# -- evaluate ---------------------------------------------------------------------------
def evaluate(model: Any, X: Any, y: Any, *, sensitive: Any = None, task: Task | None = None,
             explain: bool = True, shap: bool = False, random_state: int = 0,
             n_repeats: int = 5) -> ModelCard:
    """Evaluate a fitted scikit-learn ``model`` on held-out ``X``, ``y`` as a model card.

    ``sensitive`` is a column name of ``X`` or one value per row (an array, list or
    Series); the card then compares the model across its groups (missing values form one
    group). When the model knows its features (``feature_names_in_``), ``X`` goes to it
    restricted to them, so a sensitive column it was not trained on is only used to group;
    otherwise ``X`` goes to the model as given. ``task`` is
    ``"classification"`` or ``"regression"``; by default the model's own kind, else what
    ``y`` looks like. ``explain`` computes permutation importances (``n_repeats`` shuffles
    per feature, seeded by ``random_state``) and reads impurity importances where the
    model (or a Pipeline's last step) has them; ``shap`` adds mean absolute SHAP values on
    a sample of at most 200 rows (needs ``pip install "nbmlops[shap]"``).
    """
    shap_module = _import_shap() if shap else None  # fail before the slow part
    data = _check_data(X, y, sensitive)  # the sensitive values come from the full X ...
    X = _model_features(model, X)  # ... the model sees only its own features
    data = dataclasses.replace(data, features=[str(c) for c in X.columns]) \
        if hasattr(X, "columns") else data
    kind = _task(model, data.y, task)
    y_pred = _predict(model, X, data.n)
    notes: list[str] = []
    labels: list[Any] = []
    confusion: list[list[int]] | None = None
    residuals: dict[str, float] | None = None
    if kind == "classification":
        labels = _labels(model, data.y, y_pred)
        metrics, confusion = _classification(model, X, data.y, y_pred, labels, notes)
    else:
        metrics, residuals = _regression(data.y, y_pred)
    importances: dict[str, dict[str, float]] = {}
    if explain and not hasattr(model, "fit"):
        notes.append("permutation importance omitted: scikit-learn computes it for "
                     "estimators only (the model has no fit())")
    elif explain:
        importances.update(_permutation(model, X, data.y, data.features, kind,
                                        n_repeats=n_repeats, random_state=random_state))
        impurity = _impurity(model, data.features)
        if impurity is not None:
            importances["impurity"] = impurity
    if shap_module is not None:
        importances["shap"] = _shap_values(shap_module, model, X, data, kind, random_state,
                                           notes)
    fairness = None
    if data.group_codes is not None:
        fairness = _fairness(data, y_pred, kind, labels)
        metrics.update(fairness.differences)
    figures = _figures(kind, confusion, labels, data.y, y_pred, importances, fairness,
                       random_state)
    return ModelCard(task=kind, metrics=metrics, confusion=confusion, labels=labels,
                     importances=importances, fairness=fairness, figures=figures,
                     n_samples=data.n, residuals=residuals, model=_model_name(model),
                     notes=tuple(notes))


# -- step 1: the inputs -----------------------------------------------------------------
@dataclass(frozen=True)
class _Data:
    n: int
    features: list[str]
    y: NDArray[Any]
    attribute: str = ""
    group_codes: NDArray[Any] | None = None  # the group index of each row
    group_names: list[str] = field(default_factory=list)


def _import_shap() -> Any:
    try:
        import shap
    except ImportError as exc:
        raise MissingExtraError("SHAP explanations", extra="shap", module="shap") from exc
    return shap


def _check_data(X: Any, y: Any, sensitive: Any) -> _Data:
    import numpy as np

    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be a table of rows by features (2-dimensional); "
                         f"got shape {tuple(shape)}")
    n = int(shape[0])
    if n == 0:
        raise ValueError("X has no rows: evaluate() needs held-out rows to score the model on")
    columns = getattr(X, "columns", None)
    features = ([str(c) for c in columns] if columns is not None
                else [f"x{i}" for i in range(int(shape[1]))])
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.ravel()
    if y_arr.ndim != 1:
        raise ValueError(f"y must be one target per row; got shape {y_arr.shape} "
                         "(multi-output models are not supported)")
    if len(y_arr) != n:
        raise ValueError(f"X has {n} rows but y has {len(y_arr)} values: "
                         "pass the targets of the same held-out rows")
    y_arr = _plain(y_arr)
    if sensitive is None:
        return _Data(n, features, y_arr)
    if isinstance(sensitive, str):
        if columns is None:
            raise ValueError(f"sensitive={sensitive!r} names a column, but X has no column "
                             f"names (it is not a DataFrame): pass the {n} values instead")
        if sensitive not in columns:
            names = [repr(str(c)) for c in columns]
            listed = ", ".join(names[:20]) + (f", … ({len(names)} in all)"
                                              if len(names) > 20 else "")
            raise ValueError(f"sensitive column {sensitive!r} is not in X; its columns are "
                             f"{listed}")
        values = np.asarray(X[sensitive].to_numpy(dtype=object), dtype=object)
        attribute = sensitive
    else:
        values = np.asarray(sensitive, dtype=object)
        if values.ndim != 1 or len(values) != n:
            raise ValueError(f"sensitive must be a column name of X or one value per row; "
                             f"got shape {values.shape} for {n} rows")
        name = getattr(sensitive, "name", None)
        attribute = str(name) if name is not None else "sensitive"
    codes, names = _group_codes(values)
    return _Data(n, features, y_arr, attribute, codes, names)


def _plain(values: NDArray[Any]) -> NDArray[Any]:
    """An object array that holds only numbers as a numeric array (scikit-learn's metrics
    cannot tell what kind of target an object array of integers is)."""
    import numpy as np

    if values.dtype == object and all(isinstance(v, numbers.Number) for v in values.tolist()):
        return np.asarray(values.tolist())
    return values


def _group_codes(values: NDArray[Any]) -> tuple[NDArray[Any], list[str]]:
    """Each row's group index, and the groups' labels: values in sorted order, missing
    values (None, NaN) last as one group."""
    import numpy as np
    import pandas as pd

    missing = np.asarray(pd.isna(values), dtype=bool)
    uniques = list(pd.unique(values[~missing]))
    try:
        uniques.sort()
    except TypeError:  # values of several types: order by their text
        uniques.sort(key=str)
    names = [str(u) for u in uniques]
    if len(set(names)) < len(names):  # 1 and "1" are different groups
        names = [repr(u) for u in uniques]
    index = {u: i for i, u in enumerate(uniques)}
    codes = np.array([len(uniques) if m else index[v]
                      for v, m in zip(values, missing, strict=True)], dtype=np.intp)
    if missing.any():
        names.append(MISSING_GROUP)
    return codes, names


def _task(model: Any, y: NDArray[Any], task: str | None) -> Task:
    if task is not None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
        return "classification" if task == "classification" else "regression"
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    except AttributeError:  # not a scikit-learn estimator: no tags to read
        pass
    from sklearn.utils.multiclass import type_of_target

    return "classification" if type_of_target(y) in ("binary", "multiclass") else "regression"


def _model_name(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        return " → ".join(type(step).__name__ for _, step in steps)
    return type(model).__name__


# -- step 2: predict --------------------------------------------------------------------
def _model_features(model: Any, X: Any) -> Any:
    """``X`` restricted to the features the model was fitted on, when it says which."""
    names = getattr(model, "feature_names_in_", None)
    columns = getattr(X, "columns", None)
    if names is None or columns is None:
        return X
    wanted = [str(n) for n in names]
    have = {str(c) for c in columns}
    if not set(wanted) <= have or len(wanted) == len(columns):
        return X  # let the model say what is wrong, or nothing to drop
    return X[list(names)]


def _predict(model: Any, X: Any, n: int) -> NDArray[Any]:
    import numpy as np
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not callable(getattr(model, "predict", None)):
        raise ValueError(f"{type(model).__name__} has no predict(): evaluate() needs a "
                         "fitted scikit-learn model")
    try:
        if hasattr(model, "fit"):
            check_is_fitted(model)
        y_pred = np.asarray(model.predict(X))
    except NotFittedError as exc:
        raise NotFittedError(
            f"{_model_name(model)} is not fitted: fit it on training data first "
            "(model.fit(X_train, y_train)), then evaluate it on held-out rows") from exc
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred.ravel()
    if y_pred.shape != (n,):
        raise ValueError(f"model.predict(X) returned shape {y_pred.shape}, "
                         f"expected one prediction per row ({n},)")
    return _plain(y_pred)


# -- step 3: score ----------------------------------------------------------------------
def _labels(model: Any, y: NDArray[Any], y_pred: NDArray[Any]) -> list[Any]:
    """The model's classes in its own order, then any other label seen (sorted)."""
    import numpy as np

    classes = getattr(model, "classes_", None)
    known: list[Any] = [] if classes is None else np.asarray(classes).tolist()
    seen = set(np.asarray(y).tolist()) | set(np.asarray(y_pred).tolist())
    extra = [v for v in seen if v not in known]
    try:
        extra.sort()
    except TypeError:
        extra.sort(key=str)
    return known + extra


def _classification(model: Any, X: Any, y: NDArray[Any], y_pred: NDArray[Any],
                    labels: list[Any], notes: list[str]
                    ) -> tuple[dict[str, float], list[list[int]]]:
    from sklearn import metrics as skm

    binary = len(labels) == 2
    average: dict[str, Any] = ({"average": "binary", "pos_label": labels[1]} if binary
                               else {"average": "macro"})
    metrics = {
        "accuracy": float(skm.accuracy_score(y, y_pred)),
        "precision": float(skm.precision_score(y, y_pred, zero_division=0, **average)),
        "recall": float(skm.recall_score(y, y_pred, zero_division=0, **average)),
        "f1": float(skm.f1_score(y, y_pred, zero_division=0, **average)),
    }
    auc = _roc_auc(model, X, y, labels, notes)
    if auc is not None:
        metrics["roc_auc"] = auc
    confusion: list[list[int]] = skm.confusion_matrix(y, y_pred, labels=labels).tolist()
    return metrics, confusion


def _roc_auc(model: Any, X: Any, y: NDArray[Any], labels: list[Any], notes: list[str]
             ) -> float | None:
    """Binary: from predict_proba's positive column or decision_function. Multiclass:
    one-vs-rest, macro-averaged, from predict_proba. None (and a note) when undefined."""
    import numpy as np
    from sklearn import metrics as skm

    has_proba = callable(getattr(model, "predict_proba", None))
    if len(labels) == 2:
        positive = np.asarray(y == labels[1], dtype=bool)
        if positive.all() or not positive.any():
            notes.append("roc_auc omitted: y holds only one class")
            return None
        if has_proba:
            classes = np.asarray(model.classes_).tolist()
            column = classes.index(labels[1]) if labels[1] in classes else 1
            scores = np.asarray(model.predict_proba(X))[:, column]
        elif callable(getattr(model, "decision_function", None)):
            scores = np.asarray(model.decision_function(X)).ravel()
        else:
            notes.append("roc_auc omitted: the model has neither predict_proba nor "
                         "decision_function")
            return None
        return float(skm.roc_auc_score(positive, scores))
    if not has_proba:
        notes.append("roc_auc omitted: multiclass ROC AUC needs predict_proba")
        return None
    try:
        auc = float(skm.roc_auc_score(y, np.asarray(model.predict_proba(X)),
                                      multi_class="ovr", average="macro",
                                      labels=np.asarray(model.classes_).tolist()))
    except ValueError as exc:  # a class absent from y, labels beyond the model's classes
        notes.append(f"roc_auc omitted: {exc}")
        return None
    return auc


def _regression(y: NDArray[Any], y_pred: NDArray[Any]
                ) -> tuple[dict[str, float], dict[str, float]]:
    import numpy as np
    from sklearn import metrics as skm

    metrics = {
        "mae": float(skm.mean_absolute_error(y, y_pred)),
        "rmse": float(skm.root_mean_squared_error(y, y_pred)),
        "r2": float(skm.r2_score(y, y_pred)) if len(y) > 1 else math.nan,
    }
    residual = np.asarray(y, dtype=float) - np.asarray(y_pred, dtype=float)
    q = np.quantile(residual, [0.05, 0.25, 0.5, 0.75, 0.95])
    summary = {"mean": float(residual.mean()), "std": float(residual.std()),
               "min": float(residual.min()), "q05": float(q[0]), "q25": float(q[1]),
               "median": float(q[2]), "q75": float(q[3]), "q95": float(q[4]),
               "max": float(residual.max())}
    return metrics, summary


# -- step 4: explain --------------------------------------------------------------------
def _permutation(model: Any, X: Any, y: NDArray[Any], features: list[str], task: Task, *,
                 n_repeats: int, random_state: int) -> dict[str, dict[str, float]]:
    """How much the model's own score (accuracy or R² for a model without ``score``)
    drops when one feature's values are shuffled."""
    from sklearn.inspection import permutation_importance

    scoring = (None if callable(getattr(model, "score", None))
               else "accuracy" if task == "classification" else "r2")
    result = permutation_importance(model, X, y, scoring=scoring, n_repeats=n_repeats,
                                    random_state=random_state)
    return {"permutation": dict(zip(features, map(float, result.importances_mean),
                                    strict=True)),
            "permutation_std": dict(zip(features, map(float, result.importances_std),
                                        strict=True))}


def _impurity(model: Any, features: list[str]) -> dict[str, float] | None:
    """``feature_importances_`` of the model, or of a Pipeline's last step (named by the
    features that step sees, where the pipeline can tell them)."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    final, names = model, features
    if isinstance(model, Pipeline):
        final = model.steps[-1][1]
        if len(model.steps) > 1:
            try:
                names = [str(n) for n in model[:-1].get_feature_names_out()]
            except Exception:  # a step that cannot name its outputs
                names = []
    values = getattr(final, "feature_importances_", None)
    if values is None:
        return None
    importances = np.asarray(values, dtype=float).ravel()
    if len(names) != len(importances):
        names = [f"x{i}" for i in range(len(importances))]
    return dict(zip(names, map(float, importances), strict=True))


def _shap_values(shap_module: Any, model: Any, X: Any, data: _Data, task: Task,
                 random_state: int, notes: list[str]) -> dict[str, float]:
    """Mean |SHAP value| per feature over a sample of rows (and over the model's outputs,
    e.g. the classes' probabilities).

    Trees and linear models get shap's fast explainers; so does a Pipeline's last step,
    on the rows as its transformers turn them out. Anything else is explained through its
    prediction function (model-agnostic, much slower: shap compiles it with numba)."""
    import numpy as np

    rows = _sample(data.n, SHAP_ROWS, random_state)
    sample = _take(X, rows)
    background = np.arange(min(SHAP_BACKGROUND, len(rows)))
    final = _final_step_inputs(model, sample)
    if final is not None:
        estimator, inputs, names = final
        try:
            explainer = shap_module.Explainer(estimator, _take(inputs, background))
        except TypeError:  # a last step shap has no fast explainer for
            pass
        else:
            notes.append(f"SHAP values are of the pipeline's last step "
                         f"({type(estimator).__name__}), on the features its "
                         "transformers produce")
            return _mean_abs_shap(explainer, inputs, names)
    try:
        explainer = shap_module.Explainer(model, _take(sample, background))
    except TypeError:  # not a model shap knows: explain its prediction function
        explainer = shap_module.Explainer(_prediction_function(model, X, task),
                                          _take(sample, background))
    return _mean_abs_shap(explainer, sample, data.features)


def _final_step_inputs(model: Any, sample: Any) -> tuple[Any, Any, list[str]] | None:
    """A Pipeline's last step, the sample as that step sees it, and its feature names."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    front = model[:-1]
    try:
        inputs = front.transform(sample)
    except Exception:  # a step that cannot transform on its own: use the whole pipeline
        return None
    if hasattr(inputs, "toarray"):  # sparse (one-hot encoded) output
        inputs = inputs.toarray()
    width = int(inputs.shape[1])
    try:
        names = [str(n) for n in front.get_feature_names_out()]
    except Exception:  # a step that cannot name its outputs
        names = []
    if len(names) != width:
        names = [f"x{i}" for i in range(width)]
    return model.steps[-1][1], inputs, names


def _mean_abs_shap(explainer: Any, inputs: Any, names: list[str]) -> dict[str, float]:
    import inspect

    import numpy as np

    options = ({"silent": True} if "silent" in inspect.signature(explainer.__call__).parameters
               else {})
    values = np.abs(np.asarray(explainer(inputs, **options).values, dtype=float))
    per_feature = values.mean(axis=0)
    if per_feature.ndim > 1:  # one column per output (class): average them
        per_feature = per_feature.mean(axis=1)
    if len(names) != len(per_feature):
        names = [f"x{i}" for i in range(len(per_feature))]
    return dict(zip(names, map(float, per_feature), strict=True))


def _prediction_function(model: Any, X: Any, task: Task) -> Callable[[Any], Any]:
    predict = (model.predict_proba if task == "classification"
               and callable(getattr(model, "predict_proba", None)) else model.predict)
    columns = getattr(X, "columns", None)
    if columns is None:
        return predict  # type: ignore[no-any-return]
    import pandas as pd

    def on_frame(values: Any) -> Any:  # shap passes arrays; the model was fitted on a frame
        return predict(pd.DataFrame(values, columns=columns))

    return on_frame


def _sample(n: int, size: int, random_state: int) -> NDArray[Any]:
    import numpy as np

    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size, replace=False))


def _take(X: Any, rows: NDArray[Any]) -> Any:
    import numpy as np

    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if hasattr(X, "shape"):
        return X[rows]
    return np.asarray(X)[rows]


# -- step 5: compare the groups ---------------------------------------------------------
def _fairness(data: _Data, y_pred: NDArray[Any], task: Task, labels: list[Any]) -> Fairness:
    import numpy as np

    assert data.group_codes is not None
    binary = task == "classification" and len(labels) == 2
    groups: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for i, name in enumerate(data.group_names):
        mask = data.group_codes == i
        y_true, pred = data.y[mask], y_pred[mask]
        row = {"count": float(mask.sum())}
        if task == "classification":
            row["accuracy"] = float(np.mean(y_true == pred))
            if binary:
                actual = np.asarray(y_true == labels[1], dtype=bool)
                chosen = np.asarray(pred == labels[1], dtype=bool)
                row["selection_rate"] = float(chosen.mean())
                row["tpr"] = float(chosen[actual].mean()) if actual.any() else math.nan
                row["fpr"] = float(chosen[~actual].mean()) if (~actual).any() else math.nan
                if not actual.any():
                    notes.append(f"group {name} has no positives (y = {labels[1]}): its TPR "
                                 "is undefined (NaN) and left out of "
                                 "equalized_odds_difference")
                if actual.all():
                    notes.append(f"group {name} has no negatives: its FPR is undefined (NaN) "
                                 "and left out of equalized_odds_difference")
        else:
            error = np.asarray(y_true, dtype=float) - np.asarray(pred, dtype=float)
            row["mae"] = float(np.abs(error).mean())
            row["rmse"] = float(np.sqrt(np.mean(error ** 2)))
            row["mean_prediction"] = float(np.asarray(pred, dtype=float).mean())
        groups[name] = row
    differences: dict[str, float] = {}
    if binary:
        differences["demographic_parity_difference"] = _spread(
            [r["selection_rate"] for r in groups.values()])
        tpr = _spread([r["tpr"] for r in groups.values()])
        fpr = _spread([r["fpr"] for r in groups.values()])
        defined = [d for d in (tpr, fpr) if not math.isnan(d)]
        differences["equalized_odds_difference"] = max(defined) if defined else math.nan
    elif task == "regression":
        differences["mean_prediction_difference"] = _spread(
            [r["mean_prediction"] for r in groups.values()])
    else:
        notes.append("demographic parity and equalized odds are defined for binary "
                     "classification; the table compares accuracy")
    if len(groups) == 1:
        notes.append(f"{data.attribute} has a single group here: there is nothing to compare")
    return Fairness(attribute=data.attribute, groups=groups, differences=differences,
                    notes=tuple(notes))


def _spread(values: list[float]) -> float:
    """max − min of the defined values (NaN when none is)."""
    defined = [v for v in values if not math.isnan(v)]
    return max(defined) - min(defined) if defined else math.nan


# -- step 6: draw -----------------------------------------------------------------------
def _figures(task: Task, confusion: list[list[int]] | None, labels: list[Any],
             y: NDArray[Any], y_pred: NDArray[Any], importances: dict[str, dict[str, float]],
             fairness: Fairness | None, random_state: int) -> dict[str, bytes]:
    figures: dict[str, bytes] = {}
    if confusion is not None:
        figures["confusion_matrix"] = _confusion_figure(confusion, labels)
    if task == "regression":
        figures["residuals"] = _residuals_figure(y, y_pred, random_state)
    if any(importances.get(k) for k in _IMPORTANCE_KINDS):
        figures["importances"] = _importances_figure(importances)
    if fairness is not None and len(fairness.columns) > 1:
        figures["fairness"] = _fairness_figure(fairness)
    return figures


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _confusion_figure(confusion: list[list[int]], labels: list[Any]) -> bytes:
    import numpy as np
    from matplotlib.figure import Figure

    counts = np.asarray(confusion, dtype=float)
    k = len(labels)
    side = min(3.0 + 0.45 * k, 12.0)
    fig = Figure(figsize=(side, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    if k > ANNOTATED_CLASSES:  # counts too many to write: a colour scale instead
        fig.colorbar(image, ax=ax, shrink=0.8)
    names = [_short(str(label), 16) for label in labels]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0,
                  ha="right" if k > 4 else "center", parse_math=False)
    ax.set_yticks(range(k), names, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= ANNOTATED_CLASSES:
        high = counts.max() / 2 if counts.size else 0.0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > high else "#24292f")
    return _png(fig)


def _residuals_figure(y: NDArray[Any], y_pred: NDArray[Any], random_state: int) -> bytes:
    import numpy as np
    from matplotlib.figure import Figure

    rows = _sample(len(y), SCATTER_POINTS, random_state)
    predicted = np.asarray(y_pred, dtype=float)[rows]
    residual = np.asarray(y, dtype=float)[rows] - predicted
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(predicted, residual, s=10, alpha=0.5, color="#1f77b4")
    ax.axhline(0.0, color="#d62728", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true − predicted)")
    if len(rows) < len(y):
        ax.set_title(f"{len(rows)} of {len(y)} rows", fontsize=9)
    ax.grid(alpha=0.3)
    return _png(fig)


def _importances_figure(importances: dict[str, dict[str, float]]) -> bytes:
    from matplotlib.figure import Figure

    kinds = [k for k in _IMPORTANCE_KINDS if importances.get(k)]
    shown = min(TOP_FEATURES, max(len(importances[k]) for k in kinds))
    fig = Figure(figsize=(3.8 * len(kinds) + 1.2, 1.0 + 0.28 * shown), layout="constrained")
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    std = importances.get("permutation_std", {})
    for ax, kind in zip(axes, kinds, strict=True):
        top = _ranked(importances[kind])[:TOP_FEATURES][::-1]  # largest at the top
        names = [_short(name) for name, _ in top]
        values = [v for _, v in top]
        errors = [std.get(name, 0.0) for name, _ in top] if kind == "permutation" else None
        ax.barh(range(len(top)), values, xerr=errors, color="#4c78a8", ecolor="#57606a")
        ax.set_yticks(range(len(top)), names, parse_math=False)
        ax.set_title(kind, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _fairness_figure(fairness: Fairness) -> bytes:
    """One bar per metric for each group, side by side (rates, or target units)."""
    from matplotlib.figure import Figure

    columns = [c for c in fairness.columns if c != "count"]
    names = [_short(name, 16) for name in fairness.groups]
    width = 0.8 / len(columns)
    fig = Figure(figsize=(min(3.0 + 0.35 * len(columns) * len(names), 14.0), 3.4),
                 layout="constrained")
    ax = fig.subplots()
    for i, column in enumerate(columns):
        values = [row[column] for row in fairness.groups.values()]
        positions = [g + (i - (len(columns) - 1) / 2) * width for g in range(len(names))]
        ax.bar(positions, values, width=width, label=column, color=_PALETTE[i % len(_PALETTE)])
        for x, value in zip(positions, values, strict=True):
            if math.isnan(value):  # an undefined rate: say so rather than draw 0
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#57606a")
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0,
                  ha="right" if len(names) > 4 else "center", parse_math=False)
    if all(c in _RATES for c in columns):  # rates on their whole scale: small gaps look small
        ax.set_ylim(0.0, 1.05)
    ax.axhline(0.0, color="#424242", linewidth=0.8)
    ax.set_title(f"by {_short(fairness.attribute)}", fontsize=10, parse_math=False)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
