"""A run's params, latest metrics and tags as one compact, safe blob (``runs.summary``).

The normalized tables (params, latest_metrics, tags) are the truth. Listing thousands of
runs from them means reading one database row per value and parsing numbers from text,
which costs more than the whole budget of ``nbmlops.runs()``. So when a run ends (and
whenever an ended run's values change), the store also writes this projection of them:

    b"NBS1" | u32 header length | u32 number of floats | header | float64 values | text

* header (UTF-8 JSON): ``[metric keys, param keys, param kinds, tag keys]``, identical for
  every run that logged the same keys, so it is parsed once per such group;
* float64 values: the metrics, then the numeric params (kinds ``f`` float, ``i`` int);
* text (UTF-8 JSON list): the other params (kind ``j``), then the tag values.

Decoding a group of runs is one ``numpy.frombuffer``; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

MAGIC = b"NBS1"
_HEAD = struct.Struct("<4sII")
_MAX_EXACT_INT = 2**53


def encode(params: Mapping[str, Any], metrics: Mapping[str, float],
           tags: Mapping[str, str]) -> bytes:
    """The summary blob of a run's params (JSON values), latest metrics and tags."""
    mkeys, pkeys, tkeys = sorted(metrics), sorted(params), sorted(tags)
    numbers = [float(metrics[k]) for k in mkeys]
    kinds, texts = [], []
    for key in pkeys:
        value = params[key]
        if isinstance(value, float):
            kinds.append("f")
            numbers.append(value)
        elif isinstance(value, int) and not isinstance(value, bool) and \
                abs(value) <= _MAX_EXACT_INT:
            kinds.append("i")
            numbers.append(float(value))
        else:
            kinds.append("j")
            texts.append(value)
    texts.extend(tags[k] for k in tkeys)
    header = json.dumps([mkeys, pkeys, "".join(kinds), tkeys], ensure_ascii=False,
                        separators=(",", ":")).encode()
    text = json.dumps(texts, ensure_ascii=False, separators=(",", ":")).encode()
    return b"".join((_HEAD.pack(MAGIC, len(header), len(numbers)), header,
                     struct.pack(f"<{len(numbers)}d", *numbers), text))


class Columns:
    """Params, metrics and tags of ``n`` runs, one column per key, aligned by row."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.n = n
        self._np = np
        self.metrics: dict[str, Any] = {}  # key -> float64 array
        self._num: dict[str, Any] = {}  # param key -> float64 array of numeric values
        self._int: dict[str, bool] = {}  # param key -> every value given is an int
        self._obj: dict[str, list[Any]] = {}  # param key -> other values (None elsewhere)
        self.tags: dict[str, list[str | None]] = {}

    def _metric(self, key: str) -> Any:
        col = self.metrics.get(key)
        if col is None:
            col = self.metrics[key] = self._np.full(self.n, self._np.nan)
        return col

    def _numeric(self, key: str) -> Any:
        col = self._num.get(key)
        if col is None:
            col = self._num[key] = self._np.full(self.n, self._np.nan)
            self._int[key] = True
        return col

    def _object(self, key: str) -> list[Any]:
        col = self._obj.get(key)
        if col is None:
            col = self._obj[key] = [None] * self.n
        return col

    def _tag(self, key: str) -> list[str | None]:
        col = self.tags.get(key)
        if col is None:
            col = self.tags[key] = [None] * self.n
        return col

    # -- filling ---------------------------------------------------------------------------
    def set_param(self, row: int, key: str, value: Any) -> None:
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)
                                        and abs(value) <= _MAX_EXACT_INT):
            self._numeric(key)[row] = value
            if not isinstance(value, int):
                self._int[key] = False
        else:
            self._object(key)[row] = value

    def set_metric(self, row: int, key: str, value: float) -> None:
        self._metric(key)[row] = value

    def set_tag(self, row: int, key: str, value: str) -> None:
        self._tag(key)[row] = value

    def add_summaries(self, rows: Sequence[int], blobs: Sequence[bytes]) -> None:
        """Decode the summaries of ``rows``, grouped by header so each group is vectorised."""
        np = self._np
        groups: dict[bytes, tuple[list[int], list[bytes], list[bytes]]] = {}
        for row, blob in zip(rows, blobs, strict=True):
            magic, hlen, count = _HEAD.unpack_from(blob)
            if magic != MAGIC:
                raise ValueError("not a run summary")
            start = _HEAD.size
            header = blob[start:start + hlen]
            nums_end = start + hlen + 8 * count
            group = groups.get(header)
            if group is None:
                group = groups[header] = ([], [], [])
            group[0].append(row)
            group[1].append(blob[start + hlen:nums_end])
            group[2].append(blob[nums_end:])
        for header, (idx, numbers, texts) in groups.items():
            mkeys, pkeys, kinds, tkeys = json.loads(header)
            index = np.asarray(idx)
            width = len(mkeys) + kinds.count("f") + kinds.count("i")
            values = np.frombuffer(b"".join(numbers), dtype="<f8").reshape(len(idx), width)
            for j, key in enumerate(mkeys):
                self._metric(key)[index] = values[:, j]
            j = len(mkeys)
            text_params = []
            for key, kind in zip(pkeys, kinds, strict=True):
                if kind == "j":
                    text_params.append(key)
                    continue
                self._numeric(key)[index] = values[:, j]
                if kind == "f":
                    self._int[key] = False
                j += 1
            if text_params or tkeys:
                pcols = [self._object(k) for k in text_params]
                tcols = [self._tag(k) for k in tkeys]
                loads = json.loads
                for row, text in zip(idx, texts, strict=True):
                    items = loads(text.decode())
                    for col, value in zip(pcols, items, strict=False):
                        col[row] = value
                    for col, value in zip(tcols, items[len(pcols):], strict=True):
                        col[row] = value

    # -- reading --------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """One column per param: float64 (int64 when every value is an int and none is
        missing) for numbers, a list of values where any is not a number."""
        np = self._np
        out: dict[str, Any] = {}
        for key in sorted({*self._num, *self._obj}):
            num, obj = self._num.get(key), self._obj.get(key)
            if obj is None:
                assert num is not None
                if self._int[key] and not np.isnan(num).any():
                    out[key] = num.astype(np.int64)
                else:
                    out[key] = num
                continue
            merged = list(obj)
            if num is not None:
                as_int = self._int[key]
                for row in np.flatnonzero(~np.isnan(num)):
                    value = float(num[row])
                    merged[row] = int(value) if as_int and math.isfinite(value) else value
            out[key] = merged
        return out
