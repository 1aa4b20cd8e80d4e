"""Content fingerprints of DataFrames, Series, arrays and files.

A fingerprint holds the schema (names and dtypes), the shape and a content hash:
XXH3-128 over a canonical byte stream of every column and the index. Numeric,
boolean and datetime columns are hashed straight from their memory (no copy), so a
1,000,000 x 20 float frame takes a few tens of milliseconds; strings, categoricals and
objects go through pandas' vectorised hashing first.

The hash identifies content; it is not a security boundary (XXH3 is not cryptographic).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import xxhash

from nbmlops._types import DatasetFingerprint

HASH_NAME = "xxh3_128"
_FILE_BUF = 1 << 22


def _digest(kind: str, shape: tuple[int, ...], schema: tuple[tuple[str, str], ...],
            content_hash: str) -> str:
    blob = json.dumps([kind, list(shape), [list(s) for s in schema], content_hash],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _feed_objects(h: Any, values: Any) -> None:
    """Feed a 1-D object array's values.

    pandas hashes str values in C, but would stringify anything else itself: 1 and "1", or
    None and "None", would hash alike, and a list would fail. So unless every value is a
    str (the usual case), each value's type is fed too, and non-str values as their repr.
    """
    np = sys.modules["numpy"]
    pd = sys.modules["pandas"]
    if pd.api.types.infer_dtype(values, skipna=False) not in ("string", "empty"):
        types = np.fromiter(map(type, values), dtype=object, count=len(values))
        h.update(pd.util.hash_array(types, categorize=True).data)  # str(int): "<class 'int'>"
        values = np.fromiter((v if isinstance(v, str) else repr(v) for v in values),
                             dtype=object, count=len(values))
    h.update(pd.util.hash_array(values, categorize=False).data)


def _feed_array(h: Any, arr: Any) -> None:
    """Feed a NumPy array's values (its dtype and shape are fed by the caller)."""
    np = sys.modules["numpy"]
    if arr.dtype.names:  # field by field: the padding between fields holds arbitrary bytes
        for name in arr.dtype.names:
            _feed_array(h, arr[name])
        return
    if arr.dtype.kind in "biufcmMV" and not arr.dtype.hasobject:
        if arr.dtype.kind in "mM":
            arr = arr.view(np.int64)
        h.update(np.ascontiguousarray(arr).data)
        return
    pd = sys.modules.get("pandas")
    if arr.dtype.kind in "OUS" and pd is not None:
        _feed_objects(h, arr.reshape(-1).astype(object, copy=False))
        return
    h.update(pickle.dumps(arr, protocol=5))


def _feed_values(h: Any, values: Any) -> int:
    """Feed a Series' or Index's values, whatever their dtype; return their size in bytes.

    Numeric dtypes feed their values' memory (no copy, whatever the frame's internal
    block layout). Other dtypes feed the uint64 hashes of their values, then what those
    hashes cannot tell apart: which values are missing, and (objects) each value's type.
    """
    np = sys.modules["numpy"]
    pd = sys.modules["pandas"]
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        arr = values.to_numpy(copy=False)
        if dtype.kind in "mM":
            arr = arr.view(np.int64)
        h.update(np.ascontiguousarray(arr).data)
        return int(arr.nbytes)
    if isinstance(dtype, pd.CategoricalDtype):
        cat = values.array
        codes = np.ascontiguousarray(cat.codes)
        h.update(codes.data)
        h.update(repr((list(cat.categories), bool(cat.ordered)))
                 .encode("utf-8", "surrogatepass"))
        return int(codes.nbytes)
    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        _feed_objects(h, series.to_numpy())
    else:
        hashed = pd.util.hash_pandas_object(series, index=False, categorize=False).to_numpy()
        h.update(np.ascontiguousarray(hashed).data)
    # a missing string hashes as the text "nan" or "<NA>" would
    h.update(np.ascontiguousarray(series.isna().to_numpy(dtype=bool)).data)
    return int(series.array.nbytes)


def _feed_index(h: Any, index: Any) -> None:
    """Feed an index's values; a RangeIndex as the int64 values it stands for, so it
    hashes like an equal Index([0, 1, ...]) that filtering or concatenation leaves."""
    pd = sys.modules["pandas"]
    levels = ([index.get_level_values(i) for i in range(index.nlevels)]
              if isinstance(index, pd.MultiIndex) else [index])
    for level in levels:
        h.update(str(level.dtype).encode())
        _feed_values(h, level)


def _header(h: Any, kind: str, shape: tuple[int, ...], schema: tuple[tuple[str, str], ...],
            labels: list[Any]) -> None:
    h.update(json.dumps([kind, list(shape), schema, repr(labels)], ensure_ascii=False)
             .encode("utf-8", "surrogatepass"))


def fingerprint(value: Any) -> DatasetFingerprint:
    """Fingerprint a pandas DataFrame or Series or a NumPy array."""
    pd = sys.modules.get("pandas")
    h = xxhash.xxh3_128()
    if pd is not None and isinstance(value, pd.DataFrame):
        kind, shape = "dataframe", tuple(value.shape)
        schema = tuple((str(c), str(t)) for c, t in value.dtypes.items())
        _header(h, kind, shape, schema, list(value.columns))
        size = sum(_feed_values(h, col) for _, col in value.items())
        _feed_index(h, value.index)
    elif pd is not None and isinstance(value, pd.Series):
        kind, shape = "series", (len(value),)
        schema = ((str(value.name), str(value.dtype)),)
        _header(h, kind, shape, schema, [value.name])
        size = _feed_values(h, value)
        _feed_index(h, value.index)
    else:
        np = sys.modules.get("numpy")
        if np is None or not isinstance(value, np.ndarray):
            raise TypeError(f"cannot fingerprint a {type(value).__name__}; "
                            "give a DataFrame, Series, NumPy array or a file path")
        kind, shape = "ndarray", tuple(int(d) for d in value.shape)
        names = value.dtype.names
        schema = (tuple((n, str(value.dtype[n])) for n in names) if names
                  else (("", str(value.dtype)),))
        _header(h, kind, shape, schema, [])
        _feed_array(h, value)
        size = int(value.nbytes)
    content = f"{HASH_NAME}:{h.hexdigest()}"
    return DatasetFingerprint(digest=_digest(kind, shape, schema, content), kind=kind,
                              shape=shape, schema=schema, content_hash=content,
                              size_bytes=size)


def _feed_file(h: Any, path: Path) -> int:
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_FILE_BUF):
            h.update(chunk)
            size += len(chunk)
    return size


def fingerprint_file(path: Path) -> DatasetFingerprint:
    """Fingerprint a file by its bytes (its path is kept as the source).

    A folder (the part files dask writes, say) is fingerprinted by each file under it, in
    the order of their relative POSIX names: the name, the size and the bytes of each, so
    renaming, moving or changing any file changes the hash. Its schema gives the files'
    common extension (``folder`` if they differ) and their count.
    """
    path = Path(path)
    h = xxhash.xxh3_128()
    if path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*")
                       if p.is_file())
        size = 0
        for name, file in files:
            h.update(name.encode("utf-8", "surrogatepass") + b"\0")
            h.update(file.stat().st_size.to_bytes(8, "little"))
            size += _feed_file(h, file)
        suffixes = {Path(name).suffix.lstrip(".").lower() or "bytes" for name, _ in files}
        schema: tuple[tuple[str, str], ...] = (
            ("format", suffixes.pop() if len(suffixes) == 1 else "folder"),
            ("files", str(len(files))))
    else:
        size = _feed_file(h, path)
        schema = (("format", path.suffix.lstrip(".").lower() or "bytes"),)
    content = f"{HASH_NAME}:{h.hexdigest()}"
    return DatasetFingerprint(digest=_digest("file", (size,), schema, content), kind="file",
                              shape=(size,), schema=schema, content_hash=content,
                              size_bytes=size, source=str(path.resolve()))
