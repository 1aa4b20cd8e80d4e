"""The prediction log: what a deployment was asked and what it answered, as Parquet.

Each worker keeps the rows of the requests it serves (all of them, or a random
``sample`` share of the requests) in memory as column lists, and a background thread
writes them every ``flush_s`` seconds (or sooner past ``flush_rows``) to a new part file
``part-<unix ms>-<pid>-<n>.parquet`` in the deployment's folder, written under a
temporary name and renamed, so a reader never sees half a file. The folder is bounded:
past ``max_rows`` rows in all, the oldest parts are deleted. If writing fails (a full
disk), at most ``max_buffered`` rows wait in memory; the rest are counted as dropped, and
serving goes on.

A part's columns: the model's input columns (with the signature's dtypes), the
prediction (``prediction``; ``proba_<class>`` for ``?proba=true`` requests), and
``_time`` (UTC), ``_version`` (the model version that answered) and ``_request`` (an id
shared by the rows of one request); a shadow challenger's rows (scored, never answered)
have ``_shadow`` true. :func:`read` gathers them into one DataFrame.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    import pandas as pd

PART_GLOB = "part-*.parquet"
# one request as kept until written: input frame, outputs, time, version, request id
_Entry = tuple["pd.DataFrame", Mapping[str, Sequence[Any]], float, int, str]
META = ("_time", "_version", "_request", "_shadow")  # _shadow: a shadow challenger's rows


class PredictionLog:
    """One worker's writer into a deployment's prediction log folder."""

    def __init__(self, folder: Path, *, sample: float = 1.0, max_rows: int = 1_000_000,
                 flush_s: float = 2.0, flush_rows: int = 20_000, max_buffered: int = 200_000,
                 dtypes: Mapping[str, str] | None = None,
                 on_drop: Callable[[int], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"the prediction log sample must be between 0 and 1 (got {sample})")
        if max_rows < 1:
            raise ValueError(f"the prediction log needs room for at least 1 row (got {max_rows})")
        self.folder = folder
        self.sample = sample
        self.max_rows = max_rows
        self.flush_s = flush_s
        self.flush_rows = flush_rows
        self.max_buffered = max_buffered
        self.dtypes = dict(dtypes or {})
        self._on_drop = on_drop
        self._on_error = on_error
        self._pending: list[_Entry] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._part_rows: dict[str, int] = {}
        self.written = 0
        self.dropped = 0

    # -- the request path: cheap --------------------------------------------------------
    def wants(self) -> bool:
        """Whether to keep this request (the sample is drawn per request)."""
        return self.sample >= 1.0 or random.random() < self.sample

    def add(self, frame: pd.DataFrame, outputs: Mapping[str, Sequence[Any]], *,
            version: int, request: str) -> None:
        """Keep one request's rows: its input frame (not changed afterwards) and its
        outputs (same length). Only a reference is kept here: the writer thread turns
        them into columns, off the request's path."""
        n = len(frame)
        if n == 0:
            return
        with self._lock:
            if self._rows + n > self.max_buffered:
                self._drop(n)
                return
            self._pending.append((frame, outputs, time.time(), version, request))
            self._rows += n
            full = self._rows >= self.flush_rows
        if full:
            self._wake.set()

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self._on_drop is not None:
            self._on_drop(n)

    # -- the writer thread ----------------------------------------------------------------
    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="nbmlops-predlog", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        """Stop the writer and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._rows:
                return
            pending, rows = self._pending, self._rows
            self._pending, self._rows = [], 0
        try:
            self._write(_columns(pending, rows), rows)
        except Exception as exc:  # keep them for the next try, within the bound
            with self._lock:
                if self._rows + rows <= self.max_buffered:
                    self._pending[:0] = pending
                    self._rows += rows
                else:
                    self._drop(rows)
            if self._on_error is not None:
                self._on_error(f"could not write the prediction log to {self.folder}: {exc}")

    def _write(self, columns: dict[str, list[Any]], rows: int) -> None:
        import pyarrow.parquet as pq

        table = _table(columns, self.dtypes)
        self._seq += 1
        name = f"part-{int(time.time() * 1000):013d}-{os.getpid()}-{self._seq:06d}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, self.folder / name)
        self._part_rows[name] = rows
        self.written += rows
        self._bound()

    def _bound(self) -> None:
        """Delete the oldest parts while the folder holds more than ``max_rows`` rows."""
        import pyarrow.parquet as pq

        parts = sorted(p.name for p in self.folder.glob(PART_GLOB))
        counts = []
        for name in parts:
            if name not in self._part_rows:
                try:
                    self._part_rows[name] = pq.read_metadata(self.folder / name).num_rows
                except (OSError, ValueError):  # another worker just deleted or is renaming it
                    continue
            counts.append((name, self._part_rows[name]))
        total = sum(n for _, n in counts)
        for name, n in counts:
            if total <= self.max_rows:
                break
            (self.folder / name).unlink(missing_ok=True)
            self._part_rows.pop(name, None)
            total -= n


def _columns(entries: Sequence[_Entry], rows: int) -> dict[str, list[Any]]:
    """The requests' rows as column lists (a column a request lacks is None there)."""
    columns: dict[str, list[Any]] = {}
    done = 0

    def column(name: str) -> list[Any]:
        found = columns.get(name)
        if found is None:
            found = columns[name] = [None] * done
        return found

    for frame, outputs, when, version, request in entries:
        n = len(frame)
        for name in frame.columns:
            column(str(name)).extend(frame[name].tolist())
        for name, values in outputs.items():
            column(name).extend(values)
        column("_time").extend([when] * n)
        column("_version").extend([version] * n)
        column("_request").extend([request] * n)
        done += n
        for values in columns.values():  # columns this request did not have
            if len(values) < done:
                values.extend([None] * (done - len(values)))
    assert done == rows
    return columns


def _table(columns: dict[str, list[Any]], dtypes: Mapping[str, str]) -> Any:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame(columns)
    for name, dtype in dtypes.items():
        if name in frame.columns:
            try:
                frame[name] = frame[name].astype(dtype)
            except (TypeError, ValueError):
                pass  # kept as it came (it passed the signature when it was served)
    micros = (np.asarray(frame.pop("_time"), dtype="float64") * 1e6).astype("int64")
    frame["_version"] = frame["_version"].astype("int64")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.append_column("_time", pa.array(micros, type=pa.timestamp("us", tz="UTC")))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def window_start(since: str | float | datetime | timedelta | None,
                 now: float | None = None) -> datetime | None:
    """``"24h"``, ``"30m"``, ``"7d"`` (ago), a timedelta (ago), or a datetime, as a UTC time."""
    from datetime import UTC, datetime, timedelta

    if since is None or isinstance(since, datetime):
        return since if since is None or since.tzinfo else since.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    if isinstance(since, timedelta):
        return datetime.fromtimestamp(now - since.total_seconds(), tz=UTC)
    text = str(since).strip().lower()
    try:
        seconds = float(text[:-1]) * _UNITS[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"since {since!r}: write a duration such as 30m, 24h or 7d, or give "
                         "a datetime") from None
    return datetime.fromtimestamp(now - seconds, tz=UTC)


def read(folder: Path | str, *, since: datetime | None = None,
         until: datetime | None = None) -> pd.DataFrame:
    """Every row logged in ``folder`` (within ``[since, until)``), oldest first."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    tables = []
    for part in sorted(folder.glob(PART_GLOB)):
        try:
            ms = int(part.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if since is not None and ms < since.timestamp() * 1000 - 60_000:
            continue  # written well before the window: none of its rows can be in it
        try:
            tables.append(pq.read_table(part))
        except FileNotFoundError:  # the bound deleted it meanwhile
            continue
    if not tables:
        return pd.DataFrame({"_time": pd.Series([], dtype="datetime64[us, UTC]"),
                             "_version": pd.Series([], dtype="int64"),
                             "_request": pd.Series([], dtype="str")})
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    if since is not None:
        frame = frame[frame["_time"] >= pd.Timestamp(since)]
    if until is not None:
        frame = frame[frame["_time"] < pd.Timestamp(until)]
    return frame.sort_values("_time", kind="stable").reset_index(drop=True)
