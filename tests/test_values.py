"""What a namespace value is for capture: params, metrics, datasets, estimators."""

from __future__ import annotations

import enum
import json
import math
import os
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import BaggingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from nbmlops.tracking.values import (
    MAX_CONTAINER_ITEMS,
    MAX_PARAM_JSON,
    as_metric,
    as_param,
    coerce_param,
    estimator_params,
    ignorable_name,
    is_capturable,
    is_dataset,
    is_estimator,
    is_fitted,
    to_metric_value,
)


def _id(value: object) -> str:
    """A test id that is the same in every process (no ``<object at 0x...>``)."""
    text = repr(value)
    return type(value).__name__ if " at 0x" in text or len(text) > 40 else text


class Color(enum.IntEnum):
    RED = 1


class Mode(enum.StrEnum):
    FAST = "fast"


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["_", "__", "_3", "_i3", "_ih", "__builtins__", "_private", "In", "Out",
             "get_ipython", "exit", "quit", "display"])
def test_ignorable_names(name: str) -> None:
    assert ignorable_name(name)


@pytest.mark.parametrize("name", ["x", "df", "model_", "In_", "inputs", "Output", "display2",
                                  "exit_code", "i"])
def test_ordinary_names_are_not_ignorable(name: str) -> None:
    assert not ignorable_name(name)


# -- params ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (None, None),
        (True, True),
        (False, False),
        (0, 0),
        (-3, -3),
        (2.5, 2.5),
        (float("inf"), float("inf")),
        ("text", "text"),
        ("", ""),
        ("x" * MAX_PARAM_JSON, "x" * MAX_PARAM_JSON),
        ([1, "a", None, 2.5, True], [1, "a", None, 2.5, True]),
        ((1, "a"), [1, "a"]),
        ([], []),
        ({"lr": 0.1, "layers": [64, 32]}, {"lr": 0.1, "layers": [64, 32]}),
        ({}, {}),
        (list(range(MAX_CONTAINER_ITEMS)), list(range(MAX_CONTAINER_ITEMS))),
        (np.float64(0.5), 0.5),
        (np.float32(0.25), 0.25),
        (np.int64(3), 3),
        (np.uint8(255), 255),
        (np.bool_(True), True),
        (np.str_("adam"), "adam"),
        ([np.int32(1), np.float16(0.5)], [1, 0.5]),
        (Color.RED, 1),
        (Mode.FAST, "fast"),
        (10 ** (MAX_PARAM_JSON - 1) - 1, 10 ** (MAX_PARAM_JSON - 1) - 1),
        (-(10 ** (MAX_PARAM_JSON - 1)) + 1, -(10 ** (MAX_PARAM_JSON - 1)) + 1),
    ],
    ids=_id,
)
def test_as_param_accepts_plain_values(value: Any, plain: Any) -> None:
    ok, got = as_param(value)
    assert ok
    assert got == plain
    assert type(got) is type(plain)  # a plain copy: no NumPy scalar or enum member left
    if isinstance(got, list | dict):
        for a, b in zip(got.values() if isinstance(got, dict) else got,
                        plain.values() if isinstance(plain, dict) else plain, strict=True):
            assert type(a) is type(b)
    assert len(json.dumps(got)) <= MAX_PARAM_JSON + 2


def test_as_param_nan() -> None:
    ok, got = as_param(float("nan"))
    assert ok
    assert math.isnan(got)
    ok, got = as_param(np.float64("nan"))
    assert ok
    assert type(got) is float
    assert math.isnan(got)


@pytest.mark.parametrize(
    "value",
    [
        "x" * (MAX_PARAM_JSON + 1),
        list(range(MAX_CONTAINER_ITEMS + 1)),
        {f"k{i}": i for i in range(MAX_CONTAINER_ITEMS + 1)},
        ["x" * 600, "y" * 600],  # each item fits; the whole does not
        {"a": "x" * 999, "b": 1},
        {1: "int key"},
        {"a": [[1]]},  # nested too deep
        [[[1]]],
        {1, 2},
        b"bytes",
        1 + 2j,
        np.complex128(1),
        np.datetime64("2024-01-01"),
        np.array([1, 2]),
        pd.DataFrame({"a": [1]}),
        object(),
        LogisticRegression(),
        10 ** (MAX_PARAM_JSON - 1),  # 1000 digits: its JSON would not fit
        -(10 ** (MAX_PARAM_JSON - 1)),
        10 ** 5000,  # more digits than Python will even print
        [1, object()],
    ],
    ids=lambda v: type(v).__name__,
)
def test_as_param_refuses_what_is_not_a_small_plain_value(value: Any) -> None:
    ok, _ = as_param(value)
    assert not ok


@pytest.mark.parametrize(
    "value",
    [1, 2.5, "s", None, [1, 2], {"a": 1}, np.float64(1.5), object(), {1, 2},
     np.arange(5), 10 ** 5000, "x" * 5000, pd.DataFrame({"a": range(100)}),
     LogisticRegression(C=2.0)],
    ids=lambda v: type(v).__name__,
)
def test_coerce_param_is_always_storable(value: Any) -> None:
    got = coerce_param(value)
    text = json.dumps(got, ensure_ascii=False)  # as the store writes it
    assert len(got if isinstance(got, str) else text) <= MAX_PARAM_JSON
    ok, plain = as_param(value)
    if ok:
        assert got == plain
    else:
        assert isinstance(got, str)


def test_coerce_param_uses_repr_and_truncates() -> None:
    assert coerce_param({1, 2}) == "{1, 2}"
    assert coerce_param(LogisticRegression(C=2.0)) == "LogisticRegression(C=2.0)"
    long = coerce_param(list(range(1000)))
    assert len(long) == MAX_PARAM_JSON
    assert long.endswith("…")
    assert long.startswith("[0, 1, 2, ")
    assert coerce_param("x" * 1500) == repr("x" * 1500)[: MAX_PARAM_JSON - 1] + "…"


def test_coerce_param_survives_unprintable_values() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    assert coerce_param(Broken()) == "<test_coerce_param_survives_unprintable_values."\
        "<locals>.Broken object>"
    assert coerce_param(10 ** 5000) == "<int object>"


# -- metrics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, 0.5), (np.float64(0.25), 0.25), (np.float32(0.5), 0.5), (np.float16(2.0), 2.0),
     (float("inf"), float("inf")), (-0.0, 0.0)],
    ids=_id,
)
def test_as_metric_takes_floats(value: Any, expected: float) -> None:
    got = as_metric(value)
    assert isinstance(got, float)
    assert got == expected


def test_as_metric_nan() -> None:
    got = as_metric(float("nan"))
    assert got is not None
    assert math.isnan(got)


@pytest.mark.parametrize(
    "value",
    [1, 0, True, False, np.int64(1), np.bool_(True), "0.5", None, Decimal("0.5"),
     Fraction(1, 2), np.array(0.5), [0.5], 1 + 0j],
    ids=_id,
)
def test_as_metric_refuses_non_floats(value: Any) -> None:
    # ints are counts, sizes, seeds: not auto-captured as metrics; bools are flags
    assert as_metric(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 0.5),
        (3, 3.0),
        (True, 1.0),
        (False, 0.0),
        (np.int64(7), 7.0),
        (np.float32(0.5), 0.5),
        (np.bool_(True), 1.0),
        (Decimal("0.125"), 0.125),
        (Fraction(1, 4), 0.25),
        (np.array(0.75), 0.75),
        (float("-inf"), float("-inf")),
        (10 ** 20, 1e20),
    ],
    ids=_id,
)
def test_to_metric_value_takes_real_numbers(value: Any, expected: float) -> None:
    got = to_metric_value("m", value)
    assert type(got) is float
    assert got == expected


def test_to_metric_value_nan() -> None:
    assert math.isnan(to_metric_value("m", float("nan")))
    assert math.isnan(to_metric_value("m", np.nan))


@pytest.mark.parametrize(
    "value",
    ["0.5", "nan", b"1", np.str_("1"), None, 1 + 2j, [0.5], {"a": 1}, object(),
     np.array([0.5, 1.5])],
    ids=_id,
)
def test_to_metric_value_refuses_non_numbers(value: Any) -> None:
    with pytest.raises(TypeError) as info:
        to_metric_value("val_acc", value)
    message = str(info.value)
    assert "metric 'val_acc' must be a number" in message
    assert type(value).__name__ in message


def test_to_metric_value_error_truncates_long_values() -> None:
    with pytest.raises(TypeError) as info:
        to_metric_value("m", ["x" * 500])
    assert len(str(info.value)) < 150


# -- datasets and estimators ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (pd.DataFrame({"a": [1]}), True),
        (pd.DataFrame(), True),
        (pd.Series([1.0]), True),
        (np.arange(3), True),
        (np.zeros((2, 2)), True),
        (np.array([], dtype=float), True),
        (np.array(1.0), False),  # a 0-d array is a scalar, not a dataset
        (np.float64(1.0), False),
        ([1, 2, 3], False),
        ({"a": [1]}, False),
        (pd.Index([1, 2]), False),
        ("data.csv", False),
    ],
    ids=lambda v: type(v).__name__,
)
def test_is_dataset(value: Any, expected: bool) -> None:
    assert is_dataset(value) is expected


def _pipeline() -> Pipeline:
    return Pipeline([("scale", StandardScaler(with_mean=False)),
                     ("clf", LogisticRegression(C=0.5, max_iter=50))])


def _xy() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.5], [0.5, 2.0], [2.5, 2.5]])
    y = np.array([0, 0, 1, 1, 0, 1])
    return x, y


def test_is_estimator() -> None:
    assert is_estimator(StandardScaler())
    assert is_estimator(_pipeline())
    assert not is_estimator(StandardScaler)  # the class, not an estimator
    assert not is_estimator(object())
    assert not is_estimator(pd.DataFrame())
    assert not is_estimator(None)


def test_is_fitted_before_and_after_fit() -> None:
    x, y = _xy()
    clf = LogisticRegression()
    assert not is_fitted(clf)
    clf.fit(x, y)
    assert is_fitted(clf)

    pipe = _pipeline()
    assert not is_fitted(pipe)
    pipe.fit(x, y)
    assert is_fitted(pipe)

    scaler = StandardScaler()
    assert not is_fitted(scaler)
    scaler.fit(x)
    assert is_fitted(scaler)


def test_is_fitted_of_non_estimators_is_false() -> None:
    assert not is_fitted(42)
    assert not is_fitted(LogisticRegression)
    assert not is_fitted(object())


def test_estimator_params_of_a_pipeline() -> None:
    params = estimator_params("pipe", _pipeline())
    assert params["pipe"] == "Pipeline"
    # estimator-valued params are recorded as their class names
    assert params["pipe.scale"] == "StandardScaler"
    assert params["pipe.clf"] == "LogisticRegression"
    # nested params keep scikit-learn's own `step__param` keys
    assert params["pipe.scale__with_mean"] is False
    assert params["pipe.scale__with_std"] is True
    assert params["pipe.clf__C"] == 0.5
    assert params["pipe.clf__max_iter"] == 50
    assert params["pipe.clf__class_weight"] is None
    assert params["pipe.verbose"] is False
    assert "pipe.steps" not in params  # a list of (name, estimator) pairs is not a param
    assert all(k == "pipe" or k.startswith("pipe.") for k in params)
    expected = {f"pipe.{k}" for k, v in _pipeline().get_params(deep=True).items()
                if k != "steps"}
    assert set(params) - {"pipe"} == expected
    json.dumps(params)  # everything is storable


def test_estimator_params_of_a_meta_estimator() -> None:
    bag = BaggingClassifier(estimator=LogisticRegression(C=3.0), n_estimators=4)
    params = estimator_params("bag", bag)
    assert params["bag"] == "BaggingClassifier"
    assert params["bag.estimator"] == "LogisticRegression"
    assert params["bag.estimator__C"] == 3.0
    assert params["bag.n_estimators"] == 4


def test_estimator_params_skips_values_that_are_not_params() -> None:
    ft = FunctionTransformer(func=np.log1p, kw_args={"where": True})
    params = estimator_params("ft", ft)
    assert params["ft"] == "FunctionTransformer"
    assert "ft.func" not in params  # a function: neither a param nor an estimator
    assert params["ft.kw_args"] == {"where": True}
    assert params["ft.validate"] is False


def test_estimator_params_of_a_broken_estimator() -> None:
    class Broken(StandardScaler):
        def get_params(self, deep: bool = True) -> dict[str, Any]:
            raise RuntimeError("third-party bug")

    assert estimator_params("m", Broken()) == {"m": "Broken"}


def test_estimator_params_after_fit_are_unchanged() -> None:
    x, y = _xy()
    pipe = _pipeline()
    before = estimator_params("p", pipe)
    pipe.fit(x, y)
    assert estimator_params("p", pipe) == before


def test_is_capturable() -> None:
    assert not is_capturable(os)
    assert not is_capturable(len)
    assert not is_capturable(test_is_capturable)
    assert not is_capturable(StandardScaler)
    assert not is_capturable(StandardScaler().fit)
    assert is_capturable(1)
    assert is_capturable(StandardScaler())
    assert is_capturable(pd.DataFrame())
