"""Scoring a file with a registered model, chunk by chunk, recorded as a run.

The input is a Parquet file (or a folder of Parquet part files) or a CSV file; the output,
Parquet or CSV; both told by their names (:mod:`nbmlops.datafiles`). The output holds the input's columns and the prediction
(``prediction``, or ``proba_<class>`` columns with ``proba=True``), row for row.

* ``engine="pandas"`` reads one chunk at a time (Parquet record batches, CSV chunks), so
  memory holds a chunk, not the file; the output is written as it goes.
* ``engine="dask"`` maps the model over a ``dask.dataframe``'s partitions in parallel and
  writes a Parquet output as a folder of part files (as dask does), which pandas, pyarrow
  and dask all read as one table.

Every chunk is checked against the version's signature before it is scored, and the output
is written under a temporary name and renamed into place only when every row is scored: a
failure leaves no half-written output and no earlier output is clobbered. The work is a run
(kind ``deploy``) with the input's and the output's fingerprints, the model version as
params and the row count and rate as metrics.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nbmlops import tracking
from nbmlops.datafiles import Format, input_format, is_compressed, output_format
from nbmlops.progress import NoProgress, Progress, ProgressState
from nbmlops.serving.model import ServedModel
from nbmlops.tracking import finish

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.workspace import Workspace

Engine = Literal["pandas", "dask"]
ENGINES: tuple[Engine, ...] = ("pandas", "dask")


@dataclass(frozen=True)
class BatchResult:
    """What a batch scoring did: where from and to, with which version, how many rows."""

    run_id: str
    model: str
    version: int
    source: Path
    dest: Path
    rows: int
    seconds: float
    engine: Engine

    def __str__(self) -> str:
        rate = f" ({self.rows / self.seconds:,.0f} rows/s)" if self.seconds > 0 else ""
        return (f"scored {self.rows:,} rows of {self.source.name} with "
                f"{self.model}/{self.version} into {self.dest} in {self.seconds:.1f} s"
                f"{rate} · run {self.run_id[:8]}")


def check_paths(source: Path, dest: Path) -> tuple[Format, Format]:
    """The input's and output's formats (by :mod:`nbmlops.datafiles`' rule), or a
    ValueError/FileNotFoundError saying what to change (before any model is loaded or run
    started)."""
    src_fmt = input_format(source, "input file")
    dest_fmt = output_format(dest, "output")
    if dest.resolve() == source.resolve():
        raise ValueError(f"the output {dest} is the input; write the scores elsewhere")
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"the output's folder {dest.parent} does not exist; create "
                                "it first")
    return src_fmt, dest_fmt


def score(ws: Workspace, reference: str, source: str | os.PathLike[str],
          dest: str | os.PathLike[str], *, engine: Engine = "pandas",
          chunk_size: int = 100_000, proba: bool = False,
          trusted: bool | Sequence[str] = False,
          experiment: str = "batch", progress: Progress | None = None) -> BatchResult:
    """Score ``source`` with the version ``reference`` names into ``dest`` (see module)."""
    from nbmlops.registry import load
    from nbmlops.serving.sources import served

    source, dest = Path(source), Path(dest)
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of rows, not {chunk_size!r}")
    src_fmt, dest_fmt = check_paths(source, dest)
    if engine == "dask":
        _require_dask()
    model = served(load(ws, reference, trusted=trusted))
    if proba and not model.can_predict_proba:
        raise ValueError(f"{model.reference} has no predict_proba ({type(model.model).__name__});"
                         " drop proba")
    scorer = _Scorer(model, proba)
    progress = progress or NoProgress()
    run = tracking.start_run(ws,
        experiment=experiment, name=f"batch {model.reference}", kind="deploy",
        params={"model": model.name, "version": model.version, "reference": str(reference),
                "engine": engine, "chunk_size": chunk_size, "proba": proba},
        tags={"model": model.reference, "mode": "batch"})
    started = time.perf_counter()
    meter = _Meter(progress, f"scoring {source.name} with {model.reference}")
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        run.log_input(source, name=source.name)
        meter.total = _row_count(source) if src_fmt == "parquet" else None
        meter.update()
        if engine == "pandas":
            _score_pandas(scorer, source, src_fmt, tmp, dest_fmt, chunk_size, meter)
        else:
            _score_dask(scorer, source, src_fmt, tmp, dest_fmt, chunk_size, meter)
        _replace(tmp, dest)
        seconds = time.perf_counter() - started
        run.log_output(dest, name=dest.name)
        run.log_metrics({"rows": meter.done,
                         "rows_per_s": meter.done / seconds if seconds > 0 else 0.0})
    except BaseException as exc:
        _remove(tmp)
        meter.close("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        finish(run, exc)
        raise
    if meter.total is None:  # a CSV input: the count is known now
        meter.total = meter.done
        meter.update()
    meter.close("finished")
    finish(run)
    return BatchResult(run_id=run.id, model=model.name, version=model.version, source=source,
                       dest=dest, rows=meter.done, seconds=seconds, engine=engine)


class _Scorer:
    """One chunk in, the same rows with the prediction columns out."""

    def __init__(self, model: ServedModel, proba: bool) -> None:
        self.model = model
        self.proba = proba

    def columns(self) -> list[str]:
        if not self.proba:
            return [self.model.output_column]
        return [f"proba_{c}" for c in self.model.classes or []]

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        features = self._features(chunk)
        out = chunk.copy(deep=False)
        if len(chunk) == 0:
            for name in self.columns():
                out[name] = []
            return out
        if self.proba:
            probabilities = self.model.model.predict_proba(features)
            for i, name in enumerate(self.columns()):
                out[name] = probabilities[:, i]
        else:
            out[self.model.output_column] = self.model.model.predict(features)
        return out

    def _features(self, chunk: pd.DataFrame) -> pd.DataFrame:
        from nbmlops.registry import enforce

        signature = self.model.signature
        return chunk if signature is None else enforce(signature, chunk)


class _Meter:
    """Rows scored so far, told to a progress display (thread-safe: dask scores partitions
    on several threads)."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.description = description
        self.total: int | None = None
        self.done = 0
        self._start = time.perf_counter()
        self._lock = threading.Lock()

    def state(self) -> ProgressState:
        return ProgressState(description=self.description, done=self.done, total=self.total,
                             elapsed_s=time.perf_counter() - self._start, best=None,
                             metric="", unit="rows")

    def add(self, rows: int) -> None:
        with self._lock:
            self.done += rows
            self.progress.update(self.state())

    def update(self) -> None:
        with self._lock:
            self.progress.update(self.state())

    def close(self, status: str) -> None:
        self.progress.close(self.state(), status)


def _row_count(source: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        files = sorted(source.rglob("*.parquet")) if source.is_dir() else [source]
        return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in files)
    except Exception:
        return None  # unreadable: reading it proper says why


def _chunks(source: Path, fmt: Format, chunk_size: int) -> Iterator[pd.DataFrame]:
    import pandas as pd

    if fmt == "csv":
        with pd.read_csv(source, chunksize=chunk_size) as reader:
            yield from reader
        return
    import pyarrow as pa
    import pyarrow.dataset as ds

    # record batches stop at row-group ends: gather them into chunks of chunk_size rows
    dataset = ds.dataset(source, format="parquet")
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in dataset.to_batches(batch_size=chunk_size):
        while batch.num_rows:
            take = min(batch.num_rows, chunk_size - count)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == chunk_size:
                yield pa.Table.from_batches(pending).to_pandas()
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending).to_pandas()


def _score_pandas(scorer: _Scorer, source: Path, src_fmt: Format, tmp: Path, dest_fmt: Format,
                  chunk_size: int, meter: _Meter) -> None:
    write, close = _writer(tmp, dest_fmt)
    try:
        for index, chunk in enumerate(_chunks(source, src_fmt, chunk_size)):
            write(scorer(chunk), index)
            meter.add(len(chunk))
    finally:
        close()


def _writer(tmp: Path, fmt: Format) -> tuple[Callable[[pd.DataFrame, int], None], Callable[[], None]]:
    """Append chunks to ``tmp``: the first sets the columns (and their types), the others
    must match them."""
    state: dict[str, Any] = {}

    if fmt == "csv":
        def write_csv(frame: pd.DataFrame, index: int) -> None:
            first = "columns" not in state
            if first:
                state["columns"] = list(frame.columns)
            elif list(frame.columns) != state["columns"]:
                raise ValueError(f"chunk {index + 1} of the input has other columns than the "
                                 "first")
            frame.to_csv(tmp, mode="w" if first else "a", header=first, index=False)

        return write_csv, lambda: None

    import pyarrow as pa
    import pyarrow.parquet as pq

    def write_parquet(frame: pd.DataFrame, index: int) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if "writer" not in state:
            state["writer"] = pq.ParquetWriter(tmp, table.schema, compression="zstd")
        schema = state["writer"].schema
        if not table.schema.equals(schema):
            try:
                table = table.select(schema.names).cast(schema)
            except (KeyError, ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"chunk {index + 1} of the input does not fit the columns and types of "
                    f"the first ({exc}); with a CSV input, a column that is whole numbers at "
                    "first and has gaps or decimals later changes type: convert the input to "
                    "Parquet, or give a larger chunk_size") from exc
        state["writer"].write_table(table)

    def close() -> None:
        if "writer" in state:
            state["writer"].close()
        else:  # an input with no rows: still a valid, empty output
            pq.write_table(pa.table({}), tmp)

    return write_parquet, close


def _require_dask() -> None:
    try:
        import dask.dataframe  # noqa: F401
    except ImportError as exc:
        raise ImportError('the dask engine needs dask.dataframe: pip install "nbmlops[dask]"'
                          ) from exc


def _score_dask(scorer: _Scorer, source: Path, src_fmt: Format, tmp: Path, dest_fmt: Format,
                chunk_size: int, meter: _Meter) -> None:
    import dask.dataframe as dd

    if src_fmt == "csv":  # a compressed file cannot be split into blocks
        frame = dd.read_csv(source, blocksize=None if is_compressed(source)
                            else max(chunk_size * 64, 1 << 20))
    else:
        frame = dd.read_parquet(source, split_row_groups="adaptive")

    # the output's columns and types, from scoring one real row (an empty frame has
    # no types to predict from)
    meta = scorer(frame.head(1, npartitions=-1)).iloc[:0]
    scored = frame.map_partitions(_Partition(scorer, meter), meta=meta)
    if dest_fmt == "csv":
        scored.to_csv(str(tmp), single_file=True, index=False)
    else:
        tmp.mkdir()
        scored.to_parquet(str(tmp), write_index=False, compression="zstd")


class _Partition:
    """Scores one partition and counts its rows (dask names the task by its token)."""

    def __init__(self, scorer: _Scorer, meter: _Meter) -> None:
        self.scorer = scorer
        self.meter = meter
        self.token = uuid.uuid4().hex

    def __dask_tokenize__(self) -> str:
        return self.token

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        out = self.scorer(chunk)
        self.meter.add(len(chunk))
        return out


def _replace(tmp: Path, dest: Path) -> None:
    """Move the finished output into place, replacing an earlier one (file or folder)."""
    if dest.is_dir() and not dest.is_symlink():
        old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.old")
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    elif tmp.is_dir() and dest.exists():
        dest.unlink()
        tmp.rename(dest)
    else:
        os.replace(tmp, dest)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


__all__ = ["ENGINES", "BatchResult", "Engine", "check_paths", "score"]
