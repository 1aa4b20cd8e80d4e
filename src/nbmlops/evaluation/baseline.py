"""What production performance is judged against: a version's held-out metrics with a
confidence interval, and (binary classifiers with probabilities) the calibration map that
confidence-based performance estimation (CBPE) needs.

:func:`held_out_baseline` runs when a version is registered with held-out data
(``register(..., evaluate=(X_test, y_test))``) and returns a JSON-able mapping, stored with
the version as ``performance.json``:

* ``metrics``: classification accuracy, precision, recall, F1 (binary: of the positive
  class, the model's second class as in scikit-learn; multiclass: macro), ROC AUC;
  regression MAE, RMSE, R²;
* ``intervals``: each metric's 95% percentile bootstrap interval over the held-out rows
  (``RESAMPLES`` resamples, seeded): a production window is degraded when its metric falls
  below the interval (above it, for MAE and RMSE);
* ``calibration``: an isotonic regression (scikit-learn) of "the row is positive" on the
  positive class's probability, fitted on the held-out rows, stored as its thresholds
  (``x``, ``y``) and applied by linear interpolation, as scikit-learn's own ``predict``
  does, so estimating needs no scikit-learn object.

:func:`metrics_of` computes the same metrics on a window of labelled production rows.
Class labels are compared by :func:`class_key` (``1``, ``1.0``, ``True`` and ``"1"`` are one
class), because labels arrive from CSV files and JSON bodies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

RESAMPLES = 200
CONFIDENCE = 0.95
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION = ("mae", "rmse", "r2")


def class_key(value: Any) -> str:
    """A class label as compared: ``1``, ``1.0``, ``True``, ``"1"`` are all ``"1"``."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        value = item()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def metrics_of(task: str, y_true: Any, y_pred: Any, *, scores: Any = None,
               classes: Sequence[str] = (), positive: str | None = None) -> dict[str, float]:
    """The window's metrics (sequences or arrays), as scikit-learn defines them, in NumPy
    (a bootstrap computes them hundreds of times). Classification labels and predictions
    are class keys; binary precision, recall and F1 are of ``positive`` (0 when undefined,
    as ``zero_division=0``), multiclass ones macro-averaged over the classes present;
    ``scores`` (the positive class's probability, binary only) give ROC AUC when both
    classes are present."""
    if task == "regression":
        t = np.asarray(y_true, dtype=float)
        p = np.asarray(y_pred, dtype=float)
        residual = t - p
        out = {"mae": float(np.mean(np.abs(residual))),
               "rmse": float(np.sqrt(np.mean(residual**2)))}
        total = float(np.sum((t - t.mean()) ** 2))
        if len(t) > 1 and total > 0:
            out["r2"] = 1.0 - float(np.sum(residual**2)) / total
        return out
    t = np.asarray(list(y_true), dtype=object)
    p = np.asarray(list(y_pred), dtype=object)
    binary = positive is not None and len(classes) <= 2
    per_class = [positive] if binary else sorted(set(t.tolist()) | set(p.tolist()))
    precision, recall, f1 = [], [], []
    for c in per_class:
        is_t, is_p = t == c, p == c
        tp = float(np.sum(is_t & is_p))
        fp, fn = float(np.sum(~is_t & is_p)), float(np.sum(is_t & ~is_p))
        precision.append(tp / (tp + fp) if tp + fp else 0.0)
        recall.append(tp / (tp + fn) if tp + fn else 0.0)
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    out = {"accuracy": float(np.mean(t == p)), "precision": float(np.mean(precision)),
           "recall": float(np.mean(recall)), "f1": float(np.mean(f1))}
    if binary and scores is not None and len(scores) == len(t):
        auc = roc_auc(t == positive, scores)
        if auc is not None:
            out["roc_auc"] = auc
    return out


def roc_auc(is_positive: Any, scores: Any) -> float | None:
    """ROC AUC as the Mann-Whitney statistic (ties count half); None with one class."""
    from scipy.stats import rankdata

    pos = np.asarray(is_positive, dtype=bool)
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def held_out_baseline(model: Any, X: Any, y: Any, *, resamples: int = RESAMPLES,
                      random_state: int = 0) -> dict[str, Any]:
    """The baseline a version's production windows are judged against (see the module).
    ``X`` may carry columns the model was not fitted on (a sensitive attribute kept for the
    card's fairness figures): the model sees only its own features, as the card's does."""
    from nbmlops.evaluation.metrics import model_features, task_of

    X = model_features(model, X)

    y_arr = np.asarray(y).ravel()
    n = len(y_arr)
    if n < 2:
        raise ValueError("the held-out data needs at least 2 rows for a baseline")
    task = task_of(model, y_arr, None)
    rng = np.random.default_rng(random_state)
    draws = [rng.integers(0, n, n) for _ in range(resamples)]
    out: dict[str, Any] = {"task": task, "rows": n, "confidence": CONFIDENCE,
                           "resamples": resamples}
    if task == "regression":
        pred = np.asarray(model.predict(X), dtype=float)
        metrics = metrics_of(task, y_arr, pred)
        boot = [metrics_of(task, y_arr[d], pred[d]) for d in draws]
        out.update(classes=None, positive=None, calibration=None)
    else:
        classes = [class_key(c) for c in getattr(model, "classes_", sorted(set(y_arr)))]
        positive = classes[1] if len(classes) == 2 else None
        t = np.asarray([class_key(v) for v in y_arr], dtype=object)
        p = np.asarray([class_key(v) for v in model.predict(X)], dtype=object)
        scores = None
        if positive is not None and callable(getattr(model, "predict_proba", None)):
            scores = np.asarray(model.predict_proba(X), dtype=float)[:, 1]
        metrics = metrics_of(task, t, p, scores=scores, classes=classes, positive=positive)
        boot = [metrics_of(task, t[d], p[d], scores=None if scores is None else scores[d],
                           classes=classes, positive=positive) for d in draws]
        out.update(classes=classes, positive=positive,
                   calibration=None if scores is None else calibration_map(scores,
                                                                           t == positive))
    tail = (1 - CONFIDENCE) / 2 * 100
    intervals = {}
    for key in metrics:
        values = [b[key] for b in boot if key in b and math.isfinite(b[key])]
        if values:
            low, high = np.percentile(values, [tail, 100 - tail])
            intervals[key] = [float(low), float(high)]
    out.update(metrics=metrics, intervals=intervals)
    return out


def calibration_map(scores: Any, positive: Any) -> dict[str, list[float]]:
    """Isotonic regression of ``positive`` (0/1) on ``scores``, as a monotone map through
    the centre of each of its blocks (the blocks' mean score, their share of positives
    shrunk by half a pseudo-row of each class, so a small block at either tail is not
    taken as certain, then pooled again where the shrinking broke the order): interpolating between centres keeps the order of rows within a block,
    which the step function would flatten (centred isotonic regression)."""
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype=float)
    t = np.asarray(positive, dtype=float)
    order = np.argsort(s, kind="stable")
    s, t = s[order], t[order]
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, t).predict(s)
    starts = np.r_[0, np.nonzero(np.diff(fitted))[0] + 1]
    ends = np.r_[starts[1:], len(s)]
    xs, ys, sizes = [], [], []
    for a, b in zip(starts, ends, strict=True):
        xs.append(float(s[a:b].mean()))
        ys.append(float((t[a:b].sum() + 0.5) / (b - a + 1.0)))
        sizes.append(float(b - a))
    # Shrinking moves a small block at the bottom up and one at the top down, past its
    # neighbours: pool the violators again, each block weighted by its rows, so a block of
    # one row gives way to its neighbours (a running maximum would instead lift every block
    # above it to the small block's value: one negative row with the lowest score made all
    # the low scores at least 1/3).
    ys = IsotonicRegression(y_min=0.0, y_max=1.0).fit(
        np.arange(len(ys)), ys, sample_weight=sizes).predict(np.arange(len(ys)))
    return {"x": xs, "y": [float(v) for v in ys]}


def calibrate(calibration: Mapping[str, Sequence[float]], scores: Any) -> Any:
    """Calibrated probabilities of ``scores`` (what the isotonic regression predicts)."""
    return np.interp(np.asarray(scores, dtype=float), calibration["x"], calibration["y"])


def estimate(calibration: Mapping[str, Sequence[float]], scores: Any, predicted_positive: Any
             ) -> dict[str, float]:
    """CBPE: the expected accuracy and ROC AUC of rows whose labels are not known, from the
    expected confusion matrix their calibrated probabilities imply (as NannyML's CBPE).

    A row predicted positive is right with probability ``c`` (its calibrated probability),
    one predicted negative with ``1 - c``. ROC AUC: ranking the rows by score, the expected
    true and false positives above each threshold are the running sums of ``c`` and
    ``1 - c``; the curve through them (ties in score taken together) is integrated."""
    s = np.asarray(scores, dtype=float)
    if len(s) == 0:
        return {}
    c = calibrate(calibration, s)
    pred = np.asarray(predicted_positive, dtype=bool)
    out = {"accuracy": float(np.mean(np.where(pred, c, 1.0 - c)))}
    order = np.argsort(-s, kind="stable")
    s_sorted, c_sorted = s[order], c[order]
    tp, fp = np.cumsum(c_sorted), np.cumsum(1.0 - c_sorted)
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]  # end of each tie
    if tp[-1] > 0 and fp[-1] > 0:
        tpr = np.r_[0.0, tp[last] / tp[-1]]
        fpr = np.r_[0.0, fp[last] / fp[-1]]
        out["roc_auc"] = float(np.trapezoid(tpr, fpr))
    return out
