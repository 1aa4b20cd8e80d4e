"""The prediction log: what a deployment was asked and what it answered, as Parquet.

Each worker keeps the rows of the requests it serves (all of them, or a random
``sample`` share of the requests) in memory as column lists, and a background thread
writes them every ``flush_s`` seconds (or sooner past ``flush_rows``), and when the server
stops, to a new part file ``part-<unix ms>-<writer>-<n>-<rows>.parquet`` in the
deployment's folder. The folder is a local path (the part is written under a temporary
name and renamed) or, when the artifacts live on object storage, a URL such as
``s3://bucket/prefix/deployments/churn/predictions`` (the part is uploaded in one PUT,
which S3 makes visible whole): either way a reader never sees half a part, and a drift
check on another machine reads what a server elsewhere logged. The folder is bounded:
past ``max_rows`` rows in all, the oldest parts are deleted. If writing fails (a full
disk), at most ``max_buffered`` rows wait in memory; the rest are counted as dropped, and
serving goes on.

A part's columns: the model's input columns (with the signature's dtypes), the
prediction (``prediction``; ``proba_<class>`` for ``?proba=true`` requests), and
``_time`` (UTC), ``_version`` (the model version that answered), ``_request`` (an id
shared by the rows of one request) and ``_id`` (the row's own id, ``<request>-<row>``, as
the answer gave it: labels that arrive later are attached by it); a shadow challenger's
rows (scored, never answered) have ``_shadow`` true, an ``_id`` of their own (never one an
answer gave) and ``_answered``: the id of the answered row they shadow, so the label sent
for that id is the ground truth of the shadow's prediction too. Logs written before
``_answered`` existed read as before (the column is absent). :func:`read` gathers the
parts into one DataFrame.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import io
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    import pandas as pd

    from nbmlops.serving.model import Rows

PART_GLOB = "part-*.parquet"
# one request as kept until written: input frame, outputs, time, version, request id
_Entry = tuple["pd.DataFrame | Rows", Mapping[str, Sequence[Any]], float, int, str]
# the log's own columns (_shadow: true on a shadow challenger's rows, scored, never answered;
# _answered: on those rows, the id of the answered row each shadows)
META = ("_time", "_version", "_request", "_id", "_shadow", "_answered")


class LocalFolder:
    """Parts in a folder on this machine: written under a temporary name, then renamed."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def __str__(self) -> str:
        return str(self.folder)

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def publish(self, name: str, table: Any) -> None:
        import pyarrow.parquet as pq

        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, self.folder / name)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.folder.glob(PART_GLOB))

    def rows(self, name: str) -> int:
        import pyarrow.parquet as pq

        return int(pq.read_metadata(self.folder / name).num_rows)

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def read(self, names: Sequence[str]) -> list[Any]:
        import pyarrow.parquet as pq

        tables = []
        for name in names:
            try:
                tables.append(pq.read_table(self.folder / name))
            except FileNotFoundError:  # the bound deleted it meanwhile
                continue
        return tables


class RemoteFolder:
    """Parts under an fsspec URL (``s3://…``): each uploaded whole, in one request, so a
    reader lists only complete parts. ``options`` reach the driver (``endpoint_url``,
    ``profile``) and are never shown."""

    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        from nbmlops.artifacts import open_filesystem

        self.url = url.rstrip("/")
        fs, root = open_filesystem(self.url, options)
        self.fs, self.root = fs, root.rstrip("/")

    def __str__(self) -> str:
        return self.url

    def prepare(self) -> None:  # object stores have no folders to make
        return None

    def publish(self, name: str, table: Any) -> None:
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.fs.pipe_file(f"{self.root}/{name}", buffer.getvalue())

    def names(self) -> list[str]:
        try:
            self.fs.invalidate_cache(self.root)
            found = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        return sorted(n for n in (str(f).rsplit("/", 1)[-1] for f in found)
                      if fnmatch.fnmatch(n, PART_GLOB))

    def rows(self, name: str) -> int:
        import pyarrow.parquet as pq

        with self.fs.open(f"{self.root}/{name}", "rb") as fh:
            return int(pq.read_metadata(fh).num_rows)

    def delete(self, name: str) -> None:
        try:
            self.fs.rm_file(f"{self.root}/{name}")
        except FileNotFoundError:
            pass

    def read(self, names: Sequence[str]) -> list[Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not names:
            return []
        paths = [f"{self.root}/{name}" for name in names]
        # fetched concurrently; a part the bound deleted meanwhile is left out
        found = self.fs.cat(paths, on_error="omit")
        return [pq.read_table(pa.BufferReader(found[p])) for p in paths if p in found]


Folder = LocalFolder | RemoteFolder


def open_folder(location: Path | str, options: Mapping[str, Any] | None = None) -> Folder:
    """The prediction log folder at ``location``: a local path, or a URL on an fsspec
    filesystem read and written with ``options``."""
    from nbmlops.artifacts import is_url

    if isinstance(location, str) and is_url(location):
        return RemoteFolder(location, options)
    return LocalFolder(location)


def rows_in_name(name: str) -> int | None:
    """The row count a part's name carries (``part-<ms>-<writer>-<n>-<rows>.parquet``)."""
    fields = name.removesuffix(".parquet").split("-")
    if len(fields) == 5 and fields[4].isdigit():
        return int(fields[4])
    return None


class PredictionLog:
    """One worker's writer into a deployment's prediction log folder (a local path, or a
    URL on object storage, opened with ``options``)."""

    def __init__(self, folder: Path | str, *, options: Mapping[str, Any] | None = None, sample: float = 1.0, max_rows: int = 1_000_000,
                 flush_s: float = 2.0, flush_rows: int = 20_000, max_buffered: int = 200_000,
                 dtypes: Mapping[str, str] | None = None,
                 on_drop: Callable[[int], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"the prediction log sample must be between 0 and 1 (got {sample})")
        if max_rows < 1:
            raise ValueError(f"the prediction log needs room for at least 1 row (got {max_rows})")
        self.folder = open_folder(folder, options)
        # what another process needs to write parts to the same folder (the shadow's)
        self.settings: dict[str, Any] = {
            "folder": str(folder), "options": dict(options or {}), "max_rows": max_rows,
            "flush_s": flush_s, "flush_rows": flush_rows, "max_buffered": max_buffered,
            "dtypes": dict(dtypes or {})}
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
        self._writing = threading.Lock()  # one flush at a time (the writer, /feedback)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._writer = f"{os.getpid()}.{secrets.token_hex(3)}"  # unique across machines
        self._part_rows: dict[str, int] = {}
        self.written = 0
        self.dropped = 0

    # -- the request path: cheap --------------------------------------------------------
    def wants(self) -> bool:
        """Whether to keep this request (the sample is drawn per request)."""
        return self.sample >= 1.0 or random.random() < self.sample

    def add(self, frame: pd.DataFrame | Rows, outputs: Mapping[str, Sequence[Any]], *,
            version: int, request: str) -> None:
        """Keep one request's rows: its input frame or lean :class:`Rows` (not changed
        afterwards) and its outputs (same length). Only a reference is kept here: the writer thread turns
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
        self.folder.prepare()
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
        with self._writing:
            self._flush()

    def _flush(self) -> None:
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
        table = _table(columns, self.dtypes)
        self._seq += 1
        name = (f"part-{int(time.time() * 1000):013d}-{self._writer}-{self._seq:06d}-"
                f"{rows}.parquet")
        self.folder.publish(name, table)
        self._part_rows[name] = rows
        self.written += rows
        self._bound()

    def _bound(self) -> None:
        """Delete the oldest parts while the folder holds more than ``max_rows`` rows."""
        counts = []
        for name in self.folder.names():
            if name not in self._part_rows:
                known = rows_in_name(name)
                try:
                    self._part_rows[name] = known if known is not None else \
                        self.folder.rows(name)
                except (OSError, ValueError):  # another worker just deleted or is renaming it
                    continue
            counts.append((name, self._part_rows[name]))
        total = sum(n for _, n in counts)
        for name, n in counts:
            if total <= self.max_rows:
                break
            self.folder.delete(name)
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
        if "_id" not in outputs:  # given when a request's rows are logged in parts
            column("_id").extend(row_ids(request, n))
        done += n
        for values in columns.values():  # columns this request did not have
            if len(values) < done:
                values.extend([None] * (done - len(values)))
    assert done == rows
    return columns


def new_request_id(key: bytes | None = None, logged: bool = True) -> str:
    """A request's id: its time (milliseconds, 11 hex digits, so a label's lookup can skip
    log parts written before it) and 32 random bits. With the deployment's ``key``, also
    whether its rows go to the log (``1``/``0``) and a keyed tag of all that (8 hex
    digits): a label for it is then known to be for a row this deployment answered even
    before the worker that answered it has written its rows (:func:`issued`)."""
    base = f"{time.time_ns() // 1_000_000:011x}{os.urandom(4).hex()}"
    if key is None:
        return base
    base += "1" if logged else "0"
    return base + _tag(key, base)


_KEYED: dict[bytes, Any] = {}  # a keyed hasher per key, copied for each tag (cheaper)


def _tag(key: bytes, base: str) -> str:
    keyed = _KEYED.get(key)
    if keyed is None:
        keyed = _KEYED[key] = hashlib.blake2b(key=key, digest_size=4)
    hasher = keyed.copy()
    hasher.update(base.encode())
    return str(hasher.hexdigest())


def issued(row_id: str, keys: Sequence[bytes]) -> bool | None:
    """Whether the row id (``<request>-<row>``) was issued by a deployment holding one of
    ``keys``: True when its rows go to the log, False when they were sampled out, None
    when no key's tag matches (never issued, or issued without a key)."""
    request = row_id.rsplit("-", 1)[0]
    if len(request) != 28 or request[19] not in "01":
        return None
    base, tag = request[:20], request[20:]
    for key in keys:
        if hmac.compare_digest(_tag(key, base), tag):
            return request[19] == "1"
    return None


def request_time(row_id: str) -> float | None:
    """When the request of ``row_id`` was answered (epoch seconds), if its id says."""
    try:
        return int(row_id[:11], 16) / 1000.0
    except (ValueError, TypeError):
        return None


def row_ids(request: str, n: int) -> list[str]:
    """The ids of a request's ``n`` rows, as its answer gives them."""
    return [f"{request}-{i}" for i in range(n)]


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
         until: datetime | None = None, options: Mapping[str, Any] | None = None
         ) -> pd.DataFrame:
    """Every row logged in ``folder`` (a local path, or a URL read with ``options``) within
    ``[since, until)``, oldest first."""
    import pandas as pd
    import pyarrow as pa

    where = open_folder(folder, options)
    wanted = []
    for name in where.names():
        try:
            ms = int(name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if since is not None and ms < since.timestamp() * 1000 - 60_000:
            continue  # written well before the window: none of its rows can be in it
        wanted.append(name)
    tables = where.read(wanted)
    if not tables:
        return pd.DataFrame({"_time": pd.Series([], dtype="datetime64[us, UTC]"),
                             "_version": pd.Series([], dtype="int64"),
                             "_request": pd.Series([], dtype="str"),
                             "_id": pd.Series([], dtype="str")})
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    # the same order whichever part comes first (a shadow's process writes parts of its
    # own): inputs, outputs (each at the earliest place a part has it; ties by name), then
    # the log's own columns
    first: dict[str, int] = {}
    for table in tables:
        for at, name in enumerate(table.column_names):
            if not name.startswith("_"):
                first[name] = min(first.get(name, at), at)
    extra = sorted(c for c in frame.columns if c.startswith("_") and c not in META)
    frame = frame[sorted(first, key=lambda n: (first[n], n))
                  + [c for c in META if c in frame.columns] + extra]
    if since is not None:
        frame = frame[frame["_time"] >= pd.Timestamp(since)]
    if until is not None:
        frame = frame[frame["_time"] < pd.Timestamp(until)]
    return frame.sort_values("_time", kind="stable").reset_index(drop=True)
