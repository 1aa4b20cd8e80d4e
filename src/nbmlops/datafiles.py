"""Data files: which format a path holds, and reading one whole into a DataFrame.

One rule for every place that takes a data file (drift checks' sides, batch scoring's input
and output, ``nbmlops tune --data``), decided by the name, never by sniffing the bytes:

* ``.parquet`` or ``.pq``: Parquet. A folder is read as one table of Parquet part files
  (as dask and Spark write them), whatever its name, unless the name says CSV;
* ``.csv``: CSV, also compressed as ``.csv.gz``, ``.csv.bz2``, ``.csv.xz``, ``.csv.zst`` or
  ``.csv.zip`` (read only: outputs are written plain);
* anything else is a one-line ``ValueError`` naming the path; a path that is not there is a
  one-line ``FileNotFoundError``.

Streaming readers (batch scoring's chunks) ask :func:`input_format` / :func:`output_format`
and read in their own way; :func:`read` reads a whole file with pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import os

    import pandas as pd

Format = Literal["parquet", "csv"]

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIX = ".csv"
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")
_GIVE = "give the path of a .parquet or .csv file"


def format_of(path: str | os.PathLike[str]) -> Format | None:
    """The format the name says (None: neither), without touching the disk."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if not suffixes:
        return None
    if suffixes[-1] in PARQUET_SUFFIXES:
        return "parquet"
    if suffixes[-1] == CSV_SUFFIX or (suffixes[-1] in COMPRESSIONS and len(suffixes) > 1
                                      and suffixes[-2] == CSV_SUFFIX):
        return "csv"
    return None


def is_compressed(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in COMPRESSIONS


def input_format(path: str | os.PathLike[str], what: str = "file") -> Format:
    """The format of an existing data file or folder, or an error saying what to give."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} {path}; {_GIVE}")
    found = format_of(path)
    if path.is_dir():
        if found == "csv":
            raise ValueError(f"{what} {path} is a folder; only a folder of Parquet part files "
                             "can be read as one table")
        return "parquet"
    if found is None:
        raise ValueError(f"{what} {path} is neither .parquet nor .csv; give a file with one "
                         "of those extensions")
    return found


def output_format(path: str | os.PathLike[str], what: str = "output") -> Format:
    """The format a data file is to be written in, from its name (plain, uncompressed)."""
    found = format_of(path)
    if found is not None and is_compressed(path):
        raise ValueError(f"{what} {path} is a compressed name; outputs are written plain: "
                         "give a .parquet or .csv file")
    if found is None:
        raise ValueError(f"{what} {path} is neither .parquet nor .csv; give a file with one "
                         "of those extensions")
    return found


def read(path: str | os.PathLike[str], what: str = "file") -> pd.DataFrame:
    """The whole file (or folder of Parquet part files) as a DataFrame."""
    import pandas as pd

    path = Path(path)
    fmt = input_format(path, what)
    try:
        return pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except ImportError as exc:  # a compression's or Parquet engine's module
        raise ImportError(f"reading {what} {path} needs {exc.name or 'pyarrow'}; pip install "
                          f"{exc.name or 'pyarrow'}", name=exc.name) from exc


__all__ = ["Format", "format_of", "input_format", "is_compressed", "output_format", "read"]
