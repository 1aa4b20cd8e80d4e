"""Model signatures: inferred from a fitted model and its training data (or its
fingerprint); enforced on input by converting only what converts without loss."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from IPython.lib.pretty import pretty
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from nbmlops.errors import SignatureError
from nbmlops.registry.signature import Signature, enforce, infer
from nbmlops.tracking.fingerprint import fingerprint


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.integers(0, 10, size=n),
        "s": pd.Series(rng.choice(["red", "green", "blue"], size=n), dtype="str"),
        "extra": np.arange(n),
    })


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return np.arange(60) % 3


@pytest.fixture(scope="module")
def pipeline(train: pd.DataFrame, labels: np.ndarray) -> Any:
    """Reads b, a (numbers) and s (text); `extra` is not a feature."""
    columns = ColumnTransformer([("num", "passthrough", ["b", "a"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["s"])])
    return make_pipeline(columns, LogisticRegression()).fit(train[["b", "a", "s"]], labels)


SIG = Signature(inputs=(("a", "float64"), ("b", "int64"), ("s", "str")), output="int64",
                classes=(0, 1, 2))


# -- inference ---------------------------------------------------------------------------

def test_infer_from_a_frame_follows_the_models_features_and_order(
        pipeline: Any, train: pd.DataFrame) -> None:
    sig = infer(pipeline, train)
    assert sig is not None
    assert sig.inputs == (("b", "int64"), ("a", "float64"), ("s", "str"))
    assert sig.columns == ("b", "a", "s")
    assert sig.output == "int64"
    assert sig.classes == (0, 1, 2)
    assert all(type(c) is int for c in sig.classes)
    assert str(sig) == "inputs: b int64, a float64, s str -> output int64"
    assert pretty(sig) == str(sig)  # how a notebook shows it


def test_infer_from_a_fingerprint_matches_inference_from_the_data(
        pipeline: Any, train: pd.DataFrame) -> None:
    assert infer(pipeline, fingerprint=fingerprint(train)) == infer(pipeline, train)


def test_infer_from_an_array_names_columns_x0_x1(labels: np.ndarray) -> None:
    X = np.random.default_rng(1).normal(size=(60, 3))
    model = LogisticRegression().fit(X, labels)
    expected = Signature(inputs=(("x0", "float64"), ("x1", "float64"), ("x2", "float64")),
                         output="int64", classes=(0, 1, 2))
    assert infer(model, X) == expected
    assert infer(model, fingerprint=fingerprint(X)) == expected
    X32 = X.astype(np.float32)
    sig = infer(model, X32)
    assert sig is not None
    assert sig.inputs[0] == ("x0", "float32")


def test_infer_from_an_array_uses_the_models_feature_names(train: pd.DataFrame,
                                                         labels: np.ndarray) -> None:
    model = LinearRegression().fit(train[["a", "b"]], labels)
    sig = infer(model, train[["a", "b"]].to_numpy())
    assert sig is not None
    assert sig.inputs == (("a", "float64"), ("b", "float64"))


@pytest.mark.parametrize("y", [
    pytest.param(np.array(["no", "yes"] * 30), id="numpy-text"),
    pytest.param(pd.Series(["no", "yes"] * 30, dtype="str"), id="pandas-str"),
    pytest.param(pd.Series(["no", "yes"] * 30, dtype=object), id="pandas-object"),
])
def test_text_labels_give_a_str_output(train: pd.DataFrame, y: Any) -> None:
    model = LogisticRegression().fit(train[["a", "b"]], y)
    sig = infer(model, train)
    assert sig is not None
    assert (sig.output, sig.classes) == ("str", ("no", "yes"))
    assert all(type(c) is str for c in sig.classes)


def test_bool_labels_and_regressors_and_other_models(train: pd.DataFrame) -> None:
    X = train[["a", "b"]]
    clf = LogisticRegression().fit(X, train["b"] > 4)
    sig = infer(clf, train)
    assert sig is not None
    assert (sig.output, sig.classes) == ("bool", (False, True))
    reg = infer(LinearRegression().fit(X, train["a"]), train)
    assert reg is not None
    assert (reg.output, reg.classes) == ("float64", None)
    km = infer(KMeans(n_clusters=2, n_init=1, random_state=0).fit(X), train)
    assert km is not None
    assert km.inputs == (("a", "float64"), ("b", "int64"))
    assert (km.output, km.classes) == (None, None)


def test_without_the_data_the_models_own_columns_with_any_dtype(
        pipeline: Any, train: pd.DataFrame, labels: np.ndarray) -> None:
    named = Signature(inputs=(("b", "any"), ("a", "any"), ("s", "any")), output="int64",
                      classes=(0, 1, 2))
    assert infer(pipeline) == named  # feature names, but no dtypes: no guessing
    assert infer(pipeline, fingerprint=fingerprint(train["a"])) == named  # a Series
    # recorded data the model was not fitted on (no column s)
    assert infer(pipeline, fingerprint=fingerprint(train[["a", "b"]])) == named
    # an array with another number of columns: the model's own count
    model = LogisticRegression().fit(np.zeros((60, 2)) + labels[:, None], labels)
    positional = Signature(inputs=(("x0", "any"), ("x1", "any")), output="int64",
                           classes=(0, 1, 2))
    assert infer(model, fingerprint=fingerprint(np.zeros((5, 3)))) == positional
    assert infer(model, fingerprint=fingerprint(labels)) == positional  # 1-D
    assert infer(object()) is None  # nothing known about its input
    # "any" takes values as they are, but still names a missing column
    frame = enforce(named, {"a": [1.5], "b": ["7"], "s": ["red"], "extra": [0]})
    assert list(frame.columns) == ["b", "a", "s"]
    assert frame["b"].tolist() == ["7"]
    with pytest.raises(SignatureError, match=r"lacks column.*'s'") as info:
        enforce(named, {"a": [1.5], "b": [7]})
    assert info.value.column == "s"


def test_unfitted_model_with_data_has_inputs_but_no_output(train: pd.DataFrame) -> None:
    sig = infer(LogisticRegression(), train[["a", "b"]])
    assert sig == Signature(inputs=(("a", "float64"), ("b", "int64")))
    assert str(sig) == "inputs: a float64, b int64 -> output unknown"


def test_data_given_that_the_model_was_not_fitted_on_is_an_error(
        pipeline: Any, train: pd.DataFrame, labels: np.ndarray) -> None:
    with pytest.raises(SignatureError, match="'s'") as info:
        infer(pipeline, train[["a", "b"]])
    assert info.value.column == "s"
    model = LogisticRegression().fit(np.zeros((60, 2)) + labels[:, None], labels)
    with pytest.raises(SignatureError, match="fitted on 2 columns"):
        infer(model, np.zeros((5, 3)))
    with pytest.raises(TypeError):
        infer(model, [[1.0, 2.0]])


def test_json_round_trip(pipeline: Any, train: pd.DataFrame) -> None:
    sig = infer(pipeline, train)
    assert sig is not None
    d = sig.to_json()
    assert d == {"inputs": [["b", "int64"], ["a", "float64"], ["s", "str"]],
                 "output": "int64", "classes": [0, 1, 2]}
    assert Signature.from_json(d) == sig
    assert Signature.from_json(json.loads(json.dumps(d))) == sig
    bare = Signature(inputs=(("t", "datetime64[us, UTC]"),))
    assert Signature.from_json(json.loads(json.dumps(bare.to_json()))) == bare
    assert Signature.from_json({"inputs": [["a", "float64"]], "output": "int64"}) \
        == Signature(inputs=(("a", "float64"),), output="int64")
    assert hash(sig) == hash(Signature.from_json(d))


@pytest.mark.parametrize("bad", [
    {}, {"inputs": [["a"]]}, {"inputs": [["a", 1]]}, {"inputs": "ab"},
    {"inputs": [], "output": 3}, {"inputs": [], "classes": "ab"},
])
def test_malformed_json_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a signature"):
        Signature.from_json(bad)


# -- enforcement: columns ----------------------------------------------------------------

def test_missing_column_is_named() -> None:
    with pytest.raises(SignatureError, match="lacks column\\(s\\) 's'") as info:
        enforce(SIG, pd.DataFrame({"a": [1.0], "b": [1]}))
    assert info.value.column == "s"


def test_every_missing_column_is_named_the_first_in_column() -> None:
    with pytest.raises(SignatureError) as info:
        enforce(SIG, pd.DataFrame({"b": [1]}))
    assert info.value.column == "a"
    assert "'a', 's'" in str(info.value)
    assert "a float64, b int64, s str" in str(info.value)


def test_extra_columns_are_dropped_and_columns_reordered() -> None:
    frame = pd.DataFrame({"zz": [0, 0], "s": ["x", "y"], "b": [1, 2], "a": [0.5, 1.5]},
                         index=[10, 11])
    out = enforce(SIG, frame)
    assert list(out.columns) == ["a", "b", "s"]
    assert [str(t) for t in out.dtypes] == ["float64", "int64", "str"]
    assert list(out.index) == [10, 11]
    pd.testing.assert_frame_equal(out, frame[["a", "b", "s"]])


def test_a_duplicated_column_is_refused() -> None:
    frame = pd.DataFrame([[1.0, 2.0, 1, "x"]], columns=["a", "a", "b", "s"])
    with pytest.raises(SignatureError, match="appears 2 times") as info:
        enforce(SIG, frame)
    assert info.value.column == "a"


def test_the_callers_frame_is_not_changed() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [1.0, 2.0], "s": pd.Series(["x", None],
                                                                     dtype=object)})
    before = frame.copy(deep=True)
    out = enforce(SIG, frame)
    assert [str(t) for t in out.dtypes] == ["float64", "int64", "str"]
    out.loc[0, "a"] = -1.0
    out.loc[0, "s"] = "changed"
    pd.testing.assert_frame_equal(frame, before)
    same = pd.DataFrame({"a": [1.0], "b": [2], "s": ["x"]})
    kept = same.copy(deep=True)
    unchanged = enforce(SIG, same)  # no conversion at all
    unchanged.loc[0, "a"] = 99.0
    pd.testing.assert_frame_equal(same, kept)


def test_repeated_row_labels_are_kept() -> None:
    frame = pd.DataFrame({"s": ["x", "y", "z"], "a": [1, 2, 3], "b": [1.0, 2.0, 3.0]},
                         index=[7, 7, 8])
    out = enforce(SIG, frame)
    assert list(out.index) == [7, 7, 8]
    assert out["a"].tolist() == [1.0, 2.0, 3.0]


# -- enforcement: input shapes ---------------------------------------------------------

def test_records_and_dicts() -> None:
    records = [{"s": "x", "b": 1, "a": 1}, {"a": 2.5, "b": 2, "s": "y", "unused": True}]
    expected = pd.DataFrame({"a": [1.0, 2.5], "b": [1, 2], "s": pd.Series(["x", "y"],
                                                                          dtype="str")})
    pd.testing.assert_frame_equal(enforce(SIG, records), expected)
    columns = {"a": [1, 2.5], "b": [1, 2], "s": ["x", "y"]}
    pd.testing.assert_frame_equal(enforce(SIG, columns), expected)
    one = enforce(SIG, {"a": 1, "b": 1, "s": "x"})  # a dict of scalars is one record
    pd.testing.assert_frame_equal(one, expected.iloc[:1])


def test_a_record_missing_a_key_is_a_missing_value() -> None:
    out = enforce(SIG, [{"a": 1.0, "b": 1, "s": "x"}, {"b": 2, "s": "y"}])
    assert np.isnan(out["a"].iloc[1])
    with pytest.raises(SignatureError, match="missing") as info:
        enforce(SIG, [{"a": 1.0, "b": 1, "s": "x"}, {"a": 2.0, "s": "y"}])
    assert info.value.column == "b"


def test_no_records_give_an_empty_frame_of_the_signatures_dtypes() -> None:
    out = enforce(SIG, [])
    assert out.shape == (0, 3)
    assert [str(t) for t in out.dtypes] == ["float64", "int64", "str"]


def test_arrays_for_positional_signatures() -> None:
    sig = Signature(inputs=(("x0", "float64"), ("x1", "float64")), output="float64")
    arr = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = enforce(sig, arr)
    pd.testing.assert_frame_equal(out, pd.DataFrame(arr, columns=["x0", "x1"]))
    out.iloc[0, 0] = 99.0
    assert arr[0, 0] == 1.0
    ints = enforce(sig, np.array([[1, 2]]))
    assert ints["x1"].dtype == np.float64
    with pytest.raises(SignatureError, match="shape"):
        enforce(sig, np.ones((2, 3)))
    with pytest.raises(SignatureError, match="shape"):
        enforce(sig, np.ones(2))
    with pytest.raises(SignatureError, match="no column names"):
        enforce(SIG, np.ones((2, 3)))


def test_unsupported_input_types() -> None:
    with pytest.raises(TypeError):
        enforce(SIG, pd.Series([1.0, 2, "x"], index=["a", "b", "s"]))
    with pytest.raises(TypeError):
        enforce(SIG, [[1.0, 2, "x"]])
    with pytest.raises(TypeError):
        enforce(SIG, "a,b,s")


def test_a_dtype_pandas_does_not_know_is_named() -> None:
    with pytest.raises(SignatureError, match="'nonsense'") as info:
        enforce(Signature(inputs=(("a", "nonsense"),)), {"a": [1]})
    assert info.value.column == "a"


# -- enforcement: conversions ---------------------------------------------------------

def _frame(values: Any) -> pd.DataFrame:
    return pd.DataFrame({"c": values})


def _enforce(expected: str, values: Any) -> pd.Series:
    return enforce(Signature(inputs=(("c", expected),)), _frame(values))["c"]


LOSSLESS = [
    ("float64", np.array([1, -2], dtype=np.int64), [1.0, -2.0]),
    ("float64", np.array([2**53, -(2**53)], dtype=np.int64), [2.0**53, -(2.0**53)]),
    ("float64", np.array([2**60], dtype=np.int64), [2.0**60]),  # a power of two: exact
    ("float64", np.array([7], dtype=np.uint8), [7.0]),
    ("float64", np.array([True, False]), [1.0, 0.0]),
    ("float64", np.array([0.1, 2.5], dtype=np.float32), [np.float32(0.1), 2.5]),
    ("float64", pd.array([1, None], dtype="Int64"), [1.0, np.nan]),
    ("float64", pd.Series([1, 2.5, None], dtype=object), [1.0, 2.5, np.nan]),
    ("float64", pd.Series([True, 2, 0.5], dtype=object), [1.0, 2.0, 0.5]),
    ("float64", pd.Categorical([1.5, 2.5, 1.5]), [1.5, 2.5, 1.5]),
    ("float32", np.array([0.5, 0.25, np.inf, np.nan]), [0.5, 0.25, np.inf, np.nan]),
    ("int64", np.array([1.0, -3.0, 2.0**62]), [1, -3, 2**62]),
    ("int64", np.array([True, False]), [1, 0]),
    ("int64", pd.Series([1, 2**62], dtype=object), [1, 2**62]),
    ("int64", pd.array([4, 5], dtype="Int64"), [4, 5]),
    ("int32", np.array([2**31 - 1, -(2**31)], dtype=np.int64), [2**31 - 1, -(2**31)]),
    ("uint8", np.array([0, 255], dtype=np.int64), [0, 255]),
    ("uint64", pd.Series([2**64 - 1], dtype=object), [2**64 - 1]),
    ("bool", pd.Series([True, False], dtype=object), [True, False]),
    ("bool", pd.array([True, False], dtype="boolean"), [True, False]),
    ("Int64", np.array([1.0, np.nan]), [1, pd.NA]),
    ("boolean", pd.Series([True, None], dtype=object), [True, pd.NA]),
    ("str", pd.Series(["x", None], dtype=object), ["x", np.nan]),
    ("str", pd.Categorical(["x", "y"]), ["x", "y"]),
    ("object", pd.Series(["x", None], dtype="str"), ["x", np.nan]),
    ("category", pd.Series(["x", "y", "x"], dtype="str"), ["x", "y", "x"]),
    ("category", np.array([3, 1]), [3, 1]),
    ("datetime64[us]", ["2024-01-02", None], [pd.Timestamp("2024-01-02"), pd.NaT]),
    ("datetime64[ns]", pd.to_datetime(["2024-01-02"]).astype("datetime64[us]"),
     [pd.Timestamp("2024-01-02")]),
    ("datetime64[s]", pd.to_datetime(["2024-01-02 03:04:05"]),
     [pd.Timestamp("2024-01-02 03:04:05")]),
    ("datetime64[ns, UTC]", pd.date_range("2024-01-01 01:00", periods=1, tz="Europe/Paris"),
     [pd.Timestamp("2024-01-01 00:00", tz="UTC")]),
    ("datetime64[us, UTC]", ["2024-01-01T01:00:00+01:00"],
     [pd.Timestamp("2024-01-01 00:00", tz="UTC")]),
]


@pytest.mark.parametrize(("expected", "values", "result"), LOSSLESS,
                         ids=[f"{e}<-{getattr(v, 'dtype', 'list')}-{i}"
                              for i, (e, v, _) in enumerate(LOSSLESS)])
def test_lossless_conversions_are_made(expected: str, values: Any, result: list[Any]) -> None:
    out = _enforce(expected, values)
    assert str(out.dtype) == expected
    want = pd.Series(result, name="c").astype(expected)
    pd.testing.assert_series_equal(out, want, check_categorical=False)


LOSSY = [
    ("float64", pd.Series([1.0, "abc"], dtype=object), "'abc'", 1, "not a number"),
    ("float64", ["1.5"], "'1.5'", 0, "not a number"),
    ("float64", np.array([2**53 + 1], dtype=np.int64), "9007199254740993", 0, "exactly"),
    ("float64", pd.Series([0.5, 2**53 + 1], dtype=object), "9007199254740993", 1,
     "exactly"),
    ("float64", pd.to_datetime(["2024-01-01"]), "Timestamp('2024-01-01 00:00:00')", 0,
     "not a number"),
    ("float32", np.array([0.5, 0.1]), "0.1", 1, "exactly as float32"),
    ("float32", np.array([1e300]), "1e+300", 0, "exactly as float32"),
    ("float32", np.array([2**24 + 1], dtype=np.int64), "16777217", 0, "exactly"),
    ("int64", np.array([1.0, 1.5]), "1.5", 1, "whole number"),
    ("int64", np.array([np.inf]), "inf", 0, "not finite"),
    ("int64", np.array([2.0**63]), "9.223372036854776e+18", 0, "out of int64's range"),
    ("int64", pd.Series([2**64], dtype=object), "18446744073709551616", 0, "range"),
    ("int64", np.array([2**63], dtype=np.uint64), "9223372036854775808", 0, "range"),
    ("int64", ["1", "2"], "'1'", 0, "not a number"),
    ("int32", np.array([1, 2**40], dtype=np.int64), "1099511627776", 1,
     "out of int32's range"),
    ("uint8", np.array([-1]), "-1", 0, "out of uint8's range"),
    ("uint64", pd.Series([2**63, -1], dtype=object), "-1", 1, "out of uint64's range"),
    ("Int64", np.array([0.5, np.nan]), "0.5", 0, "whole number"),
    ("bool", np.array([1.0, 0.0]), "1.0", 0, "not a bool"),
    ("bool", np.array([1, 0]), "1", 0, "not a bool"),
    ("bool", pd.Series([True, "yes"], dtype=object), "'yes'", 1, "not a bool"),
    ("str", np.array([1, 2]), "1", 0, "not text"),
    ("str", pd.Series(["x", 2], dtype=object), "2", 1, "not text"),
    ("object", np.array([1.5]), "1.5", 0, "not text"),
    ("datetime64[us]", ["2024-01-01", "nope"], "'nope'", 1, "cannot parse"),
    ("datetime64[us]", pd.Series([1.0, 2.0], dtype=object), "1.0", 0, "not a date"),
    ("datetime64[us]", np.array([20240101]), "20240101", 0, "not a date"),
    ("datetime64[us]", pd.date_range("2024-01-01", periods=1, tz="UTC"),
     "Timestamp('2024-01-01 00:00:00+0000', tz='UTC')", 0, "has a timezone"),
    ("datetime64[ns, UTC]", ["2024-01-01"], "'2024-01-01'", 0, "no timezone"),
    ("datetime64[s]", pd.to_datetime(["2024-01-01 00:00:00.0", "2024-01-01 00:00:00.5"]),
     "Timestamp('2024-01-01 00:00:00.500000')", 1, "exactly as datetime64[s]"),
    ("datetime64[ns]", pd.to_datetime(["2024-01-01", "3000-01-01"]),
     "Timestamp('3000-01-01 00:00:00')", 1, "out of datetime64[ns]'s range"),
    ("timedelta64[ns]", np.array([5]), "5", 0, "only timedelta64[ns] itself"),
]


@pytest.mark.parametrize(("expected", "values", "shown", "row", "reason"), LOSSY,
                         ids=[f"{e}<-{shown}" for e, _, shown, _, _ in LOSSY])
def test_lossy_conversions_are_refused_naming_column_and_value(
        expected: str, values: Any, shown: str, row: int, reason: str) -> None:
    with pytest.raises(SignatureError) as info:
        _enforce(expected, values)
    message = str(info.value)
    assert info.value.column == "c"
    assert f"column 'c' expects {expected}" in message
    assert f"row {row} holds {shown}," in message
    assert reason in message


@pytest.mark.parametrize(("expected", "values"), [
    ("int64", np.array([1.0, np.nan])),
    ("int64", pd.Series([1, None], dtype=object)),
    ("int64", pd.array([1, None], dtype="Int64")),
    ("int32", [1, None]),
    ("bool", pd.Series([True, None], dtype=object)),
    ("bool", pd.array([True, None], dtype="boolean")),
])
def test_missing_values_in_int_or_bool_columns_are_refused(expected: str,
                                                           values: Any) -> None:
    with pytest.raises(SignatureError, match=re.escape(
            f"column 'c' expects {expected}, which cannot hold missing values, but row 1 "
            "is missing")) as info:
        _enforce(expected, values)
    assert info.value.column == "c"
    assert "float or nullable" in str(info.value)


@pytest.mark.parametrize(("expected", "values"), [
    ("float64", [1.5, None]),
    ("object", pd.Series(["x", None], dtype=object)),
    ("str", ["x", None]),
    ("category", ["x", None]),
    ("datetime64[us]", pd.to_datetime(["2024-01-01", None])),
    ("Int64", pd.array([1, None], dtype="Int64")),
])
def test_missing_values_pass_where_the_dtype_holds_them(expected: str, values: Any) -> None:
    out = _enforce(expected, values)
    assert str(out.dtype) == expected
    assert out.isna().tolist() == [False, True]


def test_row_labels_are_reported_from_the_callers_index() -> None:
    frame = pd.DataFrame({"a": [1.0, 1.5], "b": [1.0, 1.5], "s": ["x", "y"]},
                         index=pd.Index(["first", "second"]))
    with pytest.raises(SignatureError,
                       match=re.escape("row 'second' holds 1.5, which is not a whole")):
        enforce(SIG, frame)


def test_enforced_input_predicts_like_the_training_frame(pipeline: Any,
                                                        train: pd.DataFrame) -> None:
    sig = infer(pipeline, train)
    assert sig is not None
    records = train.head(8).drop(columns=["extra"]).to_dict(orient="records")
    records = [{k: (float(v) if k == "b" else v) for k, v in r.items()} for r in records]
    out = enforce(sig, records)
    np.testing.assert_array_equal(pipeline.predict(out),
                                  pipeline.predict(train.head(8)[["b", "a", "s"]]))
