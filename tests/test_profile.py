"""Reference profiles and samples of training data: figures checked against NumPy and
pandas, JSON without NaN, reproducible samples, Parquet round trips."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nbmlops.registry.profile import (
    QUANTILES,
    from_parquet_bytes,
    profile,
    quantile_key,
    sample,
    to_parquet_bytes,
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 500
    f = rng.normal(10.0, 3.0, size=n)
    f[rng.choice(n, 25, replace=False)] = np.nan
    return pd.DataFrame({
        "f": f,
        "i": rng.integers(-50, 50, size=n),
        "s": pd.Series(rng.choice(["a", "b", "c", "d"], size=n, p=[0.4, 0.3, 0.2, 0.1]),
                       dtype="str").mask(rng.random(n) < 0.05),
        "b": rng.random(n) < 0.3,
        "t": pd.date_range("2024-01-01", periods=n, freq="h"),
    })


def _json(p: dict[str, Any]) -> dict[str, Any]:
    """``p`` through JSON, refusing NaN and infinity."""
    out: dict[str, Any] = json.loads(json.dumps(p, allow_nan=False))
    return out


def test_numeric_figures_match_numpy(frame: pd.DataFrame) -> None:
    p = _json(profile(frame, bins=10))
    assert p["rows"] == 500
    assert list(p["columns"]) == ["f", "i", "s", "b", "t"]
    col = p["columns"]["f"]
    values = frame["f"].to_numpy()
    present = values[~np.isnan(values)]
    assert list(col) == ["kind", "dtype", "count", "missing", "missing_rate", "infinite",
                         "mean", "std", "min", "max", "quantiles", "histogram"]
    assert (col["kind"], col["dtype"]) == ("numeric", "float64")
    assert (col["count"], col["missing"], col["missing_rate"], col["infinite"]) \
        == (475, 25, 0.05, 0)
    assert col["mean"] == pytest.approx(present.mean())
    assert col["std"] == pytest.approx(present.std())  # population (ddof=0)
    assert (col["min"], col["max"]) == (present.min(), present.max())
    assert list(col["quantiles"]) == ["q00", "q01", "q05", "q10", "q25", "q50", "q75",
                                      "q90", "q95", "q99", "q100"]
    assert list(col["quantiles"].values()) == np.quantile(present, QUANTILES).tolist()
    assert col["quantiles"]["q50"] == pytest.approx(frame["f"].median())
    counts, edges = np.histogram(present, bins=10)
    assert col["histogram"]["counts"] == counts.tolist()
    assert col["histogram"]["bin_edges"] == edges.tolist()
    assert len(col["histogram"]["bin_edges"]) == 11
    assert sum(col["histogram"]["counts"]) == col["count"]
    assert col["histogram"]["bin_edges"][0] == col["min"]
    assert col["histogram"]["bin_edges"][-1] == col["max"]


def test_int_columns_keep_exact_int_bounds(frame: pd.DataFrame) -> None:
    col = profile(frame)["columns"]["i"]
    assert (col["dtype"], col["missing_rate"]) == ("int64", 0.0)
    assert type(col["min"]) is int
    assert (col["min"], col["max"]) == (int(frame["i"].min()), int(frame["i"].max()))
    assert col["mean"] == pytest.approx(frame["i"].mean())
    assert sum(col["histogram"]["counts"]) == 500
    assert len(col["histogram"]["bin_edges"]) == 21
    big = profile(pd.DataFrame({"n": np.array([2**62 + 1, 2**62 + 3], dtype=np.int64)}))
    assert big["columns"]["n"]["max"] == 2**62 + 3


def test_categorical_frequencies_match_value_counts(frame: pd.DataFrame) -> None:
    col = _json(profile(frame))["columns"]["s"]
    shares = frame["s"].value_counts(normalize=True)
    assert list(col) == ["kind", "dtype", "count", "missing", "missing_rate", "n_unique",
                         "frequencies", "other_share"]
    assert (col["kind"], col["dtype"]) == ("categorical", "str")
    assert col["missing"] == int(frame["s"].isna().sum())
    assert col["count"] == 500 - col["missing"]
    assert col["n_unique"] == 4
    assert list(col["frequencies"]) == list(shares.index)  # most common first
    assert list(col["frequencies"].values()) == pytest.approx(shares.tolist())
    assert col["other_share"] == 0.0
    topped = profile(frame, top=2)["columns"]["s"]
    assert list(topped["frequencies"]) == list(shares.index[:2])
    assert topped["other_share"] == pytest.approx(shares.iloc[2:].sum())
    assert profile(frame, top=0)["columns"]["s"]["other_share"] == pytest.approx(1.0)


def test_ties_are_ordered_by_value_and_values_named_as_strings() -> None:
    p = profile(pd.DataFrame({"o": pd.Series(["b", 1, "a", "b", "1", None, 2.5, "a"],
                                             dtype=object)}))
    col = p["columns"]["o"]
    # 1 and "1" share a name; shares are of the 7 non-missing values
    assert col["frequencies"] == {"1": 2 / 7, "a": 2 / 7, "b": 2 / 7, "2.5": 1 / 7}
    assert list(col["frequencies"]) == ["1", "a", "b", "2.5"]
    assert (col["n_unique"], col["count"], col["missing"]) == (4, 7, 1)


def test_bool_columns_are_categorical(frame: pd.DataFrame) -> None:
    col = profile(frame)["columns"]["b"]
    assert (col["kind"], col["dtype"], col["n_unique"]) == ("categorical", "bool", 2)
    assert set(col["frequencies"]) == {"True", "False"}
    assert col["frequencies"]["True"] == pytest.approx(frame["b"].mean())
    nullable = profile(pd.DataFrame({"b": pd.array([True, None, True], dtype="boolean")}))
    assert nullable["columns"]["b"]["frequencies"] == {"True": 1.0}
    assert nullable["columns"]["b"]["missing"] == 1


def test_category_columns_count_only_seen_values() -> None:
    cat = pd.Categorical(["x", "y", "x", None], categories=["x", "y", "never"])
    col = profile(pd.DataFrame({"c": cat}))["columns"]["c"]
    assert (col["kind"], col["dtype"]) == ("categorical", "category")
    assert col["frequencies"] == {"x": 2 / 3, "y": 1 / 3}
    assert (col["n_unique"], col["missing"]) == (2, 1)


def test_datetime_columns(frame: pd.DataFrame) -> None:
    col = _json(profile(frame))["columns"]["t"]
    assert col == {"kind": "datetime", "dtype": "datetime64[us]", "count": 500,
                   "missing": 0, "missing_rate": 0.0, "min": "2024-01-01T00:00:00",
                   "max": frame["t"].max().isoformat()}
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-03-01 12:00", None]).tz_localize(
        "Europe/Paris")})
    col = profile(aware)["columns"]["t"]
    assert (col["min"], col["max"], col["missing"]) == ("2024-03-01T12:00:00+01:00",
                                                        "2024-03-01T12:00:00+01:00", 1)


def test_constant_column_gets_one_bin() -> None:
    col = profile(pd.DataFrame({"k": [3.5] * 4}))["columns"]["k"]
    assert col["histogram"] == {"bin_edges": [3.5, 3.5], "counts": [4]}
    assert (col["std"], col["min"], col["max"]) == (0.0, 3.5, 3.5)
    assert set(col["quantiles"].values()) == {3.5}


def test_infinities_are_counted_apart() -> None:
    col = _json(profile(pd.DataFrame({"f": [1.0, np.inf, -np.inf, 3.0, np.nan]})))
    f = col["columns"]["f"]
    assert (f["count"], f["missing"], f["infinite"]) == (4, 1, 2)
    assert (f["min"], f["max"], f["mean"]) == (1.0, 3.0, 2.0)
    assert sum(f["histogram"]["counts"]) == 2


def test_all_missing_and_nullable_columns() -> None:
    frame = pd.DataFrame({
        "f": [np.nan, np.nan],
        "n": pd.array([None, None], dtype="Int64"),
        "o": pd.Series([None, None], dtype=object),
        "s": pd.Series([None, None], dtype="str"),
        "t": pd.to_datetime([None, None]),
        "m": pd.array([1, None], dtype="Int64"),
    })
    p = _json(profile(frame))
    for name in ("f", "n"):
        col = p["columns"][name]
        assert col["kind"] == "numeric"
        assert (col["count"], col["missing"], col["missing_rate"]) == (0, 2, 1.0)
        assert col["mean"] is col["std"] is col["min"] is col["max"] is None
        assert set(col["quantiles"].values()) == {None}
        assert col["histogram"] == {"bin_edges": [], "counts": []}
    for name in ("o", "s"):
        col = p["columns"][name]
        assert (col["kind"], col["count"], col["n_unique"]) == ("categorical", 0, 0)
        assert (col["frequencies"], col["other_share"]) == ({}, None)
    assert (p["columns"]["t"]["min"], p["columns"]["t"]["max"]) == (None, None)
    m = p["columns"]["m"]
    assert (m["kind"], m["dtype"], m["min"], m["max"], m["count"]) == ("numeric", "Int64",
                                                                         1, 1, 1)


def test_empty_frames(frame: pd.DataFrame) -> None:
    p = _json(profile(frame.iloc[:0]))
    assert p["rows"] == 0
    assert list(p["columns"]) == ["f", "i", "s", "b", "t"]
    assert all(c["missing_rate"] is None and c["count"] == 0 for c in p["columns"].values())
    assert profile(pd.DataFrame()) == {"rows": 0, "columns": {}}
    assert profile(pd.DataFrame(index=range(3))) == {"rows": 3, "columns": {}}


def test_the_whole_profile_is_strict_json(frame: pd.DataFrame) -> None:
    wild = frame.assign(inf=np.where(np.arange(500) % 2, np.inf, np.nan),
                        lists=pd.Series([[1], [2]] * 250, dtype=object),
                        huge=np.full(500, 1e308))
    text = json.dumps(profile(wild), allow_nan=False)
    assert json.loads(text)["columns"]["huge"]["std"] == 0.0
    assert json.loads(text)["columns"]["lists"]["frequencies"] == {"[1]": 0.5, "[2]": 0.5}
    assert profile(wild) == profile(wild.copy())  # deterministic


def test_arguments_are_checked(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="bins"):
        profile(frame, bins=0)
    with pytest.raises(ValueError, match="top"):
        profile(frame, top=-1)
    with pytest.raises(TypeError):
        profile(frame["f"])
    with pytest.raises(ValueError, match="twice"):
        profile(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    assert quantile_key(0.01) == "q01"
    assert quantile_key(1.0) == "q100"


# -- samples ------------------------------------------------------------------------------

def test_sample_is_bounded_reproducible_and_in_order() -> None:
    big = pd.DataFrame({"id": np.arange(5000), "v": np.arange(5000) * 0.5},
                       index=np.arange(5000) + 100)
    one = sample(big, n=300, seed=3)
    assert len(one) == 300
    assert list(one.index) == list(range(300))
    assert one["id"].is_monotonic_increasing
    assert one["id"].is_unique
    pd.testing.assert_frame_equal(one, sample(big, n=300, seed=3))
    assert not one.equals(sample(big, n=300, seed=4))
    pd.testing.assert_frame_equal(one, big.set_index("id", drop=False).loc[one["id"]]
                                  .reset_index(drop=True))
    assert len(sample(big)) == 1000
    assert len(sample(big, n=0)) == 0
    with pytest.raises(ValueError, match=">= 0"):
        sample(big, n=-1)


def test_small_frames_are_sampled_whole(frame: pd.DataFrame) -> None:
    shifted = frame.set_axis(frame.index + 7)
    whole = sample(shifted, n=500)
    pd.testing.assert_frame_equal(whole, frame)
    whole.loc[0, "f"] = -1.0
    assert shifted["f"].iloc[0] != -1.0


# -- parquet ------------------------------------------------------------------------------

def test_parquet_round_trip_keeps_dtypes() -> None:
    frame = pd.DataFrame({
        "f": [0.5, np.nan, 2.0],
        "f32": np.array([1.5, 2.5, 3.5], dtype=np.float32),
        "i": np.array([1, 2, 3], dtype=np.int64),
        "u8": np.array([1, 2, 255], dtype=np.uint8),
        "n": pd.array([1, None, 3], dtype="Int64"),
        "b": [True, False, True],
        "s": pd.Series(["x", None, "é"], dtype="str"),
        "c": pd.Categorical(["p", "q", "p"]),
        "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
        "tns": pd.to_datetime(["2024-01-01 00:00:00.000000001"] * 3).astype(
            "datetime64[ns]"),
        "tz": pd.date_range("2024-01-01", periods=3, freq="D", tz="Europe/Paris"),
    })
    data = to_parquet_bytes(frame)
    assert data[:4] == b"PAR1"
    back = from_parquet_bytes(data)
    pd.testing.assert_frame_equal(back, frame)
    assert [str(t) for t in back.dtypes] == [str(t) for t in frame.dtypes]
    reference = sample(frame, n=2, seed=0)
    pd.testing.assert_frame_equal(from_parquet_bytes(to_parquet_bytes(reference)), reference)
