"""How the CLI writes what it shows: JSON (NaN/inf made JSON-safe), CSV, tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def dump_json(obj: Any, out: TextIO) -> None:
    json.dump(obj, out, indent=2, default=_json_default, ensure_ascii=False, allow_nan=False)
    out.write("\n")


def clean_floats(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null / strings."""
    if isinstance(obj, float):
        if obj != obj:
            return None
        if obj in (float("inf"), float("-inf")):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {k: clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_floats(v) for v in obj]
    return obj


def write_frame(frame: Any, fmt: str, out: TextIO, empty: str) -> None:
    """A DataFrame as ``fmt`` (csv, json or table); ``empty`` when a table has no rows."""
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "json":
        records = frame.assign(**{c: frame[c].map(lambda t: t.isoformat())
                                  for c in frame.columns if c in ("time", "created_at")})
        dump_json(clean_floats(records.to_dict(orient="records")), out)
    elif frame.empty:
        out.write(empty + "\n")
    else:
        out.write(frame.to_string(index=False, na_rep="") + "\n")


def line_writer(out: TextIO) -> Callable[[str], None]:
    """Each line of a long run (a job's outcome, a note) written and flushed as it comes."""
    def write(line: str) -> None:
        out.write(f"{line}\n")
        out.flush()
    return write


__all__ = ["clean_floats", "dump_json", "line_writer", "write_frame"]
