"""Content fingerprints: equal data hashes alike (across calls, processes and memory
layouts); any change to values, labels, order, dtypes or index changes the hash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbmlops.tracking.fingerprint import HASH_NAME, fingerprint, fingerprint_file

_BUILD = textwrap.dedent(
    """
    import numpy as np
    import pandas as pd

    def build():
        n = 6
        return pd.DataFrame(
            {
                "f": np.linspace(0.0, 1.0, n),
                "i": np.arange(n, dtype="int64") * 7,
                "b": np.array([True, False] * 3),
                "t": pd.date_range("2024-01-01", periods=n, freq="h"),
                "tz": pd.date_range("2024-01-01", periods=n, freq="D", tz="Europe/Paris"),
                "td": pd.to_timedelta(np.arange(n), unit="s"),
                "cat": pd.Categorical(list("abcabc")),
                "s": pd.Series(["x", "y", None, "zz", "é", ""], dtype="str"),
                "o": pd.Series([1, "1", None, 2.5, (1, 2), "x"], dtype=object),
                "ni": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
            },
            index=pd.MultiIndex.from_arrays([list("aabbcc"), np.arange(n) % 2],
                                            names=["k", "j"]),
        )
    """
)
_ns: dict[str, object] = {}
exec(_BUILD, _ns)
build: Callable[[], pd.DataFrame] = _ns["build"]  # type: ignore[assignment]


def _hash(value: object) -> str:
    return fingerprint(value).content_hash


def _all_distinct(values: list[object]) -> None:
    hashes = [_hash(v) for v in values]
    assert len(set(hashes)) == len(hashes), hashes


# -- stability ----------------------------------------------------------------------------


def test_stable_across_calls_and_copies() -> None:
    df = build()
    first = fingerprint(df)
    assert fingerprint(df) == first
    assert fingerprint(build()) == first
    assert fingerprint(df.copy(deep=True)) == first
    assert first.content_hash.startswith(f"{HASH_NAME}:")
    assert len(first.content_hash.split(":", 1)[1]) == 32
    assert len(first.digest) == 64
    assert int(first.digest, 16) >= 0


def test_stable_across_processes(tmp_path: Path) -> None:
    script = _BUILD + textwrap.dedent(
        """
        from nbmlops.tracking.fingerprint import fingerprint
        fp = fingerprint(build())
        print(fp.content_hash)
        print(fp.digest)
        """
    )
    # another hash seed: nothing may depend on Python's randomised str hashes
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env=env, cwd=tmp_path)
    content_hash, digest = out.stdout.split()
    here = fingerprint(build())
    assert content_hash == here.content_hash
    assert digest == here.digest


def test_describes_the_frame() -> None:
    df = build()
    fp = fingerprint(df)
    assert fp.kind == "dataframe"
    assert fp.shape == (6, 10)
    assert fp.columns == ("f", "i", "b", "t", "tz", "td", "cat", "s", "o", "ni")
    schema = dict(fp.schema)
    assert schema["f"] == "float64"
    assert schema["i"] == "int64"
    assert schema["b"] == "bool"
    assert schema["cat"] == "category"
    assert schema["ni"] == "Int64"
    assert schema["tz"].endswith(", Europe/Paris]")
    assert fp.source is None
    assert fp.size_bytes is not None
    assert fp.size_bytes > 0


def test_size_bytes_of_numeric_frame() -> None:
    df = pd.DataFrame(np.zeros((10, 3)), columns=list("abc"))
    assert fingerprint(df).size_bytes == 10 * 3 * 8


# -- every change is seen -----------------------------------------------------------------


def _set_cell(df: pd.DataFrame, col: str, row: int, value: object) -> pd.DataFrame:
    out = df.copy(deep=True)
    out.iloc[row, out.columns.get_loc(col)] = value
    return out


@pytest.mark.parametrize(
    ("col", "value"),
    [
        ("f", 0.2000001),
        ("i", 8),
        ("b", False),
        ("t", pd.Timestamp("2024-01-01 00:00:01")),
        ("tz", pd.Timestamp("2024-01-01 00:00:01", tz="Europe/Paris")),
        ("td", pd.Timedelta(seconds=10)),
        ("cat", "c"),
        ("s", "y "),
        ("s", "nan"),  # row 2 is missing: the text "nan" is not a missing value
        ("o", 1.0),  # was "1": the int and the str differ
        ("o", "None"),  # row 2 is None
        ("ni", 0),  # row 1 is <NA>
    ],
)
def test_single_cell_change_changes_hash(col: str, value: object) -> None:
    df = build()
    row = {"f": 0, "o": 1, "s": 2, "ni": 1}.get(col, 0)
    if col == "o" and value == "None":
        row = 2
    changed = _set_cell(df, col, row, value)
    assert changed[col].iloc[row] is not df[col].iloc[row]
    assert _hash(changed) != _hash(df)
    assert fingerprint(changed).digest != fingerprint(df).digest


def test_every_cell_matters() -> None:
    base = pd.DataFrame({"a": np.arange(5.0), "b": np.arange(5) * 2})
    variants = [base]
    for col in base.columns:
        for row in range(len(base)):
            variants.append(_set_cell(base, col, row, 99))
    _all_distinct(variants)


def test_labels_order_dtypes_and_index_all_matter() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
    renamed = df.rename(columns={"b": "c"})
    reordered = df[["b", "a"]]
    as_float = df.astype({"a": "float64"})
    as_int32 = df.astype({"a": "int32"})
    new_index = df.set_axis([10, 11, 12])
    shifted_range = df.set_axis(pd.RangeIndex(1, 4))
    index_as_str = df.set_axis(["0", "1", "2"])
    int_label = df.rename(columns={"a": 1})
    str_label = df.rename(columns={"a": "1"})
    rows_swapped = df.iloc[[1, 0, 2]].set_axis(pd.RangeIndex(3))
    _all_distinct([df, renamed, reordered, as_float, as_int32, new_index, shifted_range,
                   index_as_str, int_label, str_label, rows_swapped])
    assert fingerprint(reordered).columns == ("b", "a")
    assert dict(fingerprint(as_int32).schema)["a"] == "int32"


def test_index_values_are_content() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index(["x", "y"]))
    assert _hash(df) != _hash(df.set_axis(["x", "z"]))
    assert _hash(df) == _hash(df.set_axis(["x", "y"]))


# -- equal data, different layout ---------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int8", "uint16", "bool"])
def test_column_by_column_equals_one_block(dtype: str) -> None:
    values = (np.arange(12).reshape(4, 3) % 2).astype(dtype)
    block = pd.DataFrame(values, columns=["a", "b", "c"])
    by_column = pd.DataFrame(index=pd.RangeIndex(4))
    for i, name in enumerate(["a", "b", "c"]):
        by_column[name] = values[:, i].copy()
    from_dict = pd.DataFrame({name: values[:, i] for i, name in enumerate("abc")})
    fortran = pd.DataFrame(np.asfortranarray(values), columns=["a", "b", "c"])
    assert block.equals(by_column)
    assert _hash(block) == _hash(by_column) == _hash(from_dict) == _hash(fortran)
    assert fingerprint(block) == fingerprint(by_column)


def test_sliced_view_equals_copy() -> None:
    big = pd.DataFrame(np.arange(40.0).reshape(10, 4), columns=list("abcd"))
    view = big.iloc[::2, 1:3]
    assert _hash(view) == _hash(view.copy(deep=True))
    assert _hash(view) != _hash(big.iloc[1::2, 1:3])


def test_range_index_hashes_like_equal_int_index() -> None:
    ranged = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    materialised = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.Index([0, 1, 2]))
    filtered = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}, index=[9, 0, 1, 2]).iloc[1:]
    assert isinstance(ranged.index, pd.RangeIndex)
    assert not isinstance(materialised.index, pd.RangeIndex)
    assert ranged.equals(materialised)
    assert _hash(ranged) == _hash(materialised) == _hash(filtered)
    stepped = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.RangeIndex(0, 6, 2))
    assert _hash(stepped) == _hash(ranged.set_axis([0, 2, 4]))
    assert _hash(stepped) != _hash(ranged)


# -- dtypes -------------------------------------------------------------------------------


def test_datetimes_naive_aware_and_timezones() -> None:
    naive = pd.Series(pd.date_range("2024-03-01", periods=3, freq="D"))
    utc = naive.dt.tz_localize("UTC")
    paris = utc.dt.tz_convert("Europe/Paris")  # the same instants, shown elsewhere
    seconds = naive.astype("datetime64[s]")
    _all_distinct([naive, utc, paris, seconds])
    assert fingerprint(utc).schema[0][1].endswith(", UTC]")
    assert _hash(naive) == _hash(pd.Series(pd.date_range("2024-03-01", periods=3)))
    with_nat = naive.copy()
    with_nat.iloc[1] = pd.NaT
    assert _hash(with_nat) != _hash(naive)


def test_timedelta() -> None:
    a = pd.Series(pd.to_timedelta([1, 2, 3], unit="s"))
    assert _hash(a) == _hash(pd.Series(pd.to_timedelta([1, 2, 3], unit="s")))
    assert _hash(a) != _hash(pd.Series(pd.to_timedelta([1, 2, 4], unit="s")))
    assert _hash(a) != _hash(pd.Series(pd.to_timedelta([1, 2, 3], unit="ms")))


def test_category() -> None:
    base = pd.Series(pd.Categorical(["a", "b", "a"], categories=["a", "b"]))
    same = pd.Series(pd.Categorical(["a", "b", "a"], categories=["a", "b"]))
    value_changed = pd.Series(pd.Categorical(["a", "b", "b"], categories=["a", "b"]))
    # the same codes under other categories
    other_categories = pd.Series(pd.Categorical(["x", "y", "x"], categories=["x", "y"]))
    reordered_categories = pd.Series(pd.Categorical(["a", "b", "a"], categories=["b", "a"]))
    extra_category = pd.Series(pd.Categorical(["a", "b", "a"], categories=["a", "b", "c"]))
    ordered = pd.Series(pd.Categorical(["a", "b", "a"], categories=["a", "b"], ordered=True))
    int_categories = pd.Series(pd.Categorical([1, 2, 1]))
    str_categories = pd.Series(pd.Categorical(["1", "2", "1"]))
    with_missing = pd.Series(pd.Categorical(["a", None, "a"], categories=["a", "b"]))
    assert _hash(base) == _hash(same)
    _all_distinct([base, value_changed, other_categories, reordered_categories,
                   extra_category, ordered, int_categories, str_categories, with_missing])


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_strings(dtype: object) -> None:
    base = pd.Series(["a", "b", None], dtype=dtype)  # type: ignore[call-overload]
    assert _hash(base) == _hash(pd.Series(["a", "b", None], dtype=dtype))  # type: ignore[call-overload]
    _all_distinct([
        base,
        pd.Series(["a", "c", None], dtype=dtype),  # type: ignore[call-overload]
        pd.Series(["a", "b", "nan"], dtype=dtype),  # type: ignore[call-overload]
        pd.Series(["a", "b", "<NA>"], dtype=dtype),  # type: ignore[call-overload]
        pd.Series(["a", "b", "None"], dtype=dtype),  # type: ignore[call-overload]
        pd.Series(["a", "b", ""], dtype=dtype),  # type: ignore[call-overload]
        pd.Series(["b", "a", None], dtype=dtype),  # type: ignore[call-overload]
    ])


def test_string_dtypes_are_told_apart() -> None:
    values = ["a", "b", "c"]
    _all_distinct([pd.Series(values, dtype="str"), pd.Series(values, dtype="string"),
                   pd.Series(values, dtype=object)])


def test_object_with_mixed_types() -> None:
    def obj(*values: object) -> pd.Series:
        return pd.Series(list(values), dtype=object)

    base = obj(1, "a", None, 2.5, (1, 2))
    assert _hash(base) == _hash(obj(1, "a", None, 2.5, (1, 2)))
    _all_distinct([
        base,
        obj("1", "a", None, 2.5, (1, 2)),  # int 1 -> str "1"
        obj(1.0, "a", None, 2.5, (1, 2)),  # int 1 -> float 1.0
        obj(True, "a", None, 2.5, (1, 2)),  # int 1 -> bool True
        obj(1, "a", "None", 2.5, (1, 2)),  # None -> "None"
        obj(1, "a", float("nan"), 2.5, (1, 2)),  # None -> NaN
        obj(1, "a", None, "2.5", (1, 2)),
        obj(1, "a", None, 2.5, "(1, 2)"),
        obj(1, "a", None, 2.5, [1, 2]),
        obj(np.int64(1), "a", None, 2.5, (1, 2)),
    ])


def test_object_column_of_lists() -> None:
    tokens = pd.Series([["a", "b"], [], ["c"]])
    fp = fingerprint(tokens)
    assert fp.schema == (("None", "object"),)
    assert fp == fingerprint(pd.Series([["a", "b"], [], ["c"]]))
    _all_distinct([tokens, pd.Series([["a", "b"], [], ["d"]]), pd.Series([("a", "b"), (), ("c",)]),
                   pd.Series(["['a', 'b']", "[]", "['c']"])])


def test_object_types_are_positional() -> None:
    assert _hash(pd.Series([1, "1"], dtype=object)) != _hash(pd.Series(["1", 1], dtype=object))


def test_nullable_int_with_missing_values() -> None:
    base = pd.Series(pd.array([1, None, 3], dtype="Int64"))
    assert _hash(base) == _hash(pd.Series(pd.array([1, None, 3], dtype="Int64")))
    _all_distinct([
        base,
        pd.Series(pd.array([1, 0, 3], dtype="Int64")),
        pd.Series(pd.array([1, 1, 3], dtype="Int64")),
        pd.Series(pd.array([1, -1, 3], dtype="Int64")),
        pd.Series(pd.array([1, 2, 3], dtype="Int64")),
        pd.Series(pd.array([1, 2, 3], dtype="int64")),
        pd.Series(pd.array([None, 1, 3], dtype="Int64")),
        pd.Series(pd.array([1, None, 3], dtype="Int32")),
        pd.Series([1.0, np.nan, 3.0]),
    ])


def test_nullable_boolean_and_float() -> None:
    _all_distinct([
        pd.Series(pd.array([True, None], dtype="boolean")),
        pd.Series(pd.array([True, False], dtype="boolean")),
        pd.Series(pd.array([True, True], dtype="boolean")),
        pd.Series(pd.array([1.5, None], dtype="Float64")),
        pd.Series(pd.array([1.5, 0.0], dtype="Float64")),
    ])


def test_multiindex() -> None:
    def frame(k: list[str], j: list[int]) -> pd.DataFrame:
        return pd.DataFrame({"v": [1.0, 2.0, 3.0]},
                            index=pd.MultiIndex.from_arrays([k, j], names=["k", "j"]))

    base = frame(["a", "a", "b"], [0, 1, 0])
    assert _hash(base) == _hash(frame(["a", "a", "b"], [0, 1, 0]))
    swapped = base.swaplevel()
    assert isinstance(swapped.index, pd.MultiIndex)
    _all_distinct([
        base,
        frame(["a", "a", "c"], [0, 1, 0]),
        frame(["a", "a", "b"], [0, 1, 1]),
        swapped,
        base.reset_index(drop=True),
    ])


def test_multiindex_columns() -> None:
    cols = pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])
    df = pd.DataFrame([[1, 2]], columns=cols)
    other = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("b", "y")]))
    assert _hash(df) != _hash(other)
    assert fingerprint(df).columns == ("('a', 'x')", "('a', 'y')")


def test_empty_frames() -> None:
    empty = fingerprint(pd.DataFrame())
    assert empty.shape == (0, 0)
    assert empty.schema == ()
    assert empty.size_bytes == 0
    assert empty == fingerprint(pd.DataFrame())
    no_rows = pd.DataFrame({"a": pd.Series([], dtype="float64")})
    no_rows_int = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    no_rows_b = pd.DataFrame({"b": pd.Series([], dtype="float64")})
    _all_distinct([pd.DataFrame(), no_rows, no_rows_int, no_rows_b])
    assert fingerprint(no_rows).shape == (0, 1)


# -- Series -------------------------------------------------------------------------------


def test_series() -> None:
    s = pd.Series([1.0, 2.0, 3.0], name="x")
    fp = fingerprint(s)
    assert fp.kind == "series"
    assert fp.shape == (3,)
    assert fp.schema == (("x", "float64"),)
    assert fp.size_bytes == 24
    assert fp == fingerprint(pd.Series([1.0, 2.0, 3.0], name="x"))
    _all_distinct([
        s,
        s.rename("y"),
        s.rename(None),
        pd.Series([1.0, 2.0, 4.0], name="x"),
        s.set_axis([5, 6, 7]),
        s.to_frame(),
    ])


def test_series_and_frame_column_differ_in_kind() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]})
    assert fingerprint(df["x"]).kind == "series"
    assert fingerprint(df).digest != fingerprint(df["x"]).digest


# -- ndarray ------------------------------------------------------------------------------


def test_ndarray_1d_and_2d() -> None:
    a = np.arange(6, dtype="float64")
    fp = fingerprint(a)
    assert fp.kind == "ndarray"
    assert fp.shape == (6,)
    assert fp.schema == (("", "float64"),)
    assert fp.size_bytes == 48
    m = a.reshape(2, 3)
    assert fingerprint(m).shape == (2, 3)
    _all_distinct([a, m, a.reshape(3, 2), a.astype("float32"), a.astype("int64"),
                   a.reshape(2, 3).T.copy()])
    assert _hash(np.asfortranarray(m)) == _hash(m)
    assert _hash(m[:, ::2]) == _hash(m[:, ::2].copy())
    changed = a.copy()
    changed[3] = 3.5
    assert _hash(changed) != _hash(a)


def test_ndarray_datetime_and_strings() -> None:
    d = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    assert _hash(d) == _hash(d.copy())
    assert _hash(d) != _hash(np.array(["2024-01-01", "2024-01-03"], dtype="datetime64[D]"))
    u = np.array([["a", "bb"], ["ccc", ""]])
    assert _hash(u) == _hash(u.copy())
    _all_distinct([u, np.array([["a", "bb"], ["ccc", "d"]]), u.astype("S3")])


def test_structured_arrays() -> None:
    dt = np.dtype([("a", "i4"), ("b", "f8"), ("c", "U3")])
    rec = np.array([(1, 0.5, "x"), (2, 1.5, "yy")], dtype=dt)
    fp = fingerprint(rec)
    assert fp.schema == (("a", "int32"), ("b", "float64"), ("c", "<U3"))
    assert fp.columns == ("a", "b", "c")
    assert fp.shape == (2,)
    changed = rec.copy()
    changed["b"][1] = 2.5
    renamed = rec.astype(np.dtype([("a", "i4"), ("z", "f8"), ("c", "U3")]))
    _all_distinct([rec, changed, renamed])


def test_structured_array_padding_is_not_content() -> None:
    dt = np.dtype([("a", "i1"), ("b", "f8")], align=True)
    assert dt.itemsize == 16  # seven bytes of padding after "a"
    x = np.zeros(3, dtype=dt)
    y = np.zeros(3, dtype=dt)
    x["a"], x["b"] = [1, 2, 3], [0.5, 1.5, 2.5]
    y["a"], y["b"] = [1, 2, 3], [0.5, 1.5, 2.5]
    y.view(np.uint8).reshape(3, 16)[:, 1:8] = 0xAB  # garbage in the padding only
    assert (x == y).all()
    assert _hash(x) == _hash(y)
    y["b"][0] = 9.0
    assert _hash(x) != _hash(y)


def test_object_arrays() -> None:
    a = np.array([1, "a", None, 2.5], dtype=object)
    assert _hash(a) == _hash(np.array([1, "a", None, 2.5], dtype=object))
    _all_distinct([
        a,
        np.array(["1", "a", None, 2.5], dtype=object),
        np.array([1, "a", "None", 2.5], dtype=object),
        np.array([1, "a", None, "2.5"], dtype=object),
        a.reshape(2, 2),
        np.array(["1", "a", "None", "2.5"]),
    ])
    assert _hash(np.array([1, "1"], dtype=object)) != _hash(np.array(["1", 1], dtype=object))
    assert fingerprint(a.reshape(2, 2)).shape == (2, 2)
    assert fingerprint(np.array([], dtype=object)).shape == (0,)
    assert _hash(np.array([b"a", b"b"])) != _hash(np.array([b"a", b"c"]))


def test_zero_dimensional_arrays() -> None:
    assert fingerprint(np.array(1.5)).shape == ()
    assert _hash(np.array(1.5)) != _hash(np.array(2.5))
    assert _hash(np.array("x", dtype=object)) != _hash(np.array("y", dtype=object))


@pytest.mark.parametrize("value", [[1, 2, 3], {"a": [1]}, "text", 42, 1.5, None,
                                   pd.Index([1, 2]), (1, 2)])
def test_unsupported_types_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError, match=f"cannot fingerprint a {type(value).__name__}"):
        fingerprint(value)


# -- files --------------------------------------------------------------------------------


def test_fingerprint_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "data.CSV"
    f.write_bytes(b"a,b\n1,2\n")
    fp = fingerprint_file(f)
    assert fp.kind == "file"
    assert fp.size_bytes == 8
    assert fp.shape == (8,)
    assert fp.schema == (("format", "csv"),)
    assert fp.source == str(f.resolve())
    assert fp.content_hash.startswith(f"{HASH_NAME}:")

    monkeypatch.chdir(tmp_path)
    relative = fingerprint_file(Path("data.CSV"))
    assert relative.source == str(f.resolve())
    assert relative == fp

    copy = tmp_path / "sub" / "copy.csv"
    copy.parent.mkdir()
    copy.write_bytes(f.read_bytes())
    same_bytes = fingerprint_file(copy)
    assert same_bytes.content_hash == fp.content_hash
    assert same_bytes.digest == fp.digest  # the same dataset, wherever it was read from
    assert same_bytes.source == str(copy.resolve())

    f.write_bytes(b"a,b\n1,3\n")  # same size, one byte differs
    changed = fingerprint_file(f)
    assert changed.size_bytes == 8
    assert changed.content_hash != fp.content_hash
    assert changed.digest != fp.digest


def test_fingerprint_file_format_and_large_file(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    data = bytes(range(256)) * (5 * 4096 + 3)  # more than one 4 MiB read
    blob.write_bytes(data)
    fp = fingerprint_file(blob)
    assert fp.schema == (("format", "bytes"),)
    assert fp.size_bytes == len(data)
    renamed = tmp_path / "blob.parquet"
    renamed.write_bytes(data)
    other = fingerprint_file(renamed)
    assert other.content_hash == fp.content_hash
    assert other.schema == (("format", "parquet"),)
    assert other.digest != fp.digest
    truncated = tmp_path / "short"
    truncated.write_bytes(data[:-1])
    assert fingerprint_file(truncated).content_hash != fp.content_hash


def test_fingerprint_file_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fingerprint_file(tmp_path / "nope.csv")


def test_fingerprint_folder_of_part_files(tmp_path: Path) -> None:
    folder = tmp_path / "preds.parquet"
    (folder / "sub").mkdir(parents=True)
    (folder / "part.1.parquet").write_bytes(b"one")
    (folder / "part.0.parquet").write_bytes(b"zero")
    (folder / "sub" / "part.2.parquet").write_bytes(b"")
    fp = fingerprint_file(folder)
    assert fp.kind == "file"
    assert fp.schema == (("format", "parquet"), ("files", "3"))
    assert fp.size_bytes == fp.shape[0] == 7
    assert fp.source == str(folder.resolve())
    copy = tmp_path / "copy"
    (copy / "sub").mkdir(parents=True)
    for name in ("sub/part.2.parquet", "part.0.parquet", "part.1.parquet"):  # another order
        (copy / name).write_bytes((folder / name).read_bytes())
    assert fingerprint_file(copy) == replace(fp, source=str(copy.resolve()))
    # the bytes moved from one file to the next, a renamed file, a changed one: all differ
    (copy / "part.0.parquet").write_bytes(b"zeroo")
    (copy / "part.1.parquet").write_bytes(b"ne")
    moved = fingerprint_file(copy)
    (copy / "part.1.parquet").rename(copy / "part.9.parquet")
    renamed = fingerprint_file(copy)
    (copy / "part.9.parquet").write_bytes(b"NE")
    changed = fingerprint_file(copy)
    hashes = {fp.content_hash, moved.content_hash, renamed.content_hash, changed.content_hash}
    assert len(hashes) == 4
    (copy / "notes.txt").write_bytes(b"")
    assert fingerprint_file(copy).schema == (("format", "folder"), ("files", "4"))


def test_a_frame_with_several_blocks_hashes_like_the_same_data_in_one() -> None:
    rng = np.random.default_rng(3)
    one_block = pd.DataFrame(rng.normal(size=(1000, 3)), columns=["a", "b", "c"])
    grown = one_block[["a", "b"]].copy()
    grown["c"] = one_block["c"].to_numpy()  # a second float block
    assert fingerprint(grown).content_hash == fingerprint(one_block).content_hash
