"""``nbmlops db info|upgrade``: the lineage store itself."""

from __future__ import annotations

import argparse
from typing import TextIO

from nbmlops.cli._output import dump_json


def _db_info(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.formatting import format_size

    settings, info = api.store_info()
    data = {
        "store": info.url, "configured_by": settings.source,
        "artifacts": settings.artifacts_location, "project_root": str(settings.project_root),
        "schema_revision": info.revision, "head_revision": info.head_revision,
        "experiments": info.experiments, "runs": dict(info.runs_by_status),
        "datasets": info.datasets, "artifact_blobs": info.artifacts,
        "artifact_bytes": info.artifact_bytes,
    }
    if args.format == "json":
        dump_json(data, out)
        return 0
    total = sum(info.runs_by_status.values())
    by_status = ", ".join(f"{n} {s}" for s, n in info.runs_by_status.items() if n)
    out.write(
        f"store        {info.url}  (from {settings.source})\n"
        f"artifacts    {settings.artifacts_location}\n"
        f"schema       {info.revision} (this nbmlops: {info.head_revision})\n"
        f"experiments  {info.experiments}\n"
        f"runs         {total}" + (f" ({by_status})" if by_status else "") + "\n"
        f"datasets     {info.datasets}\n"
        f"artifacts    {info.artifacts} blobs, {format_size(info.artifact_bytes)}\n")
    return 0


def _db_upgrade(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    before, after = api.upgrade_store()
    if before == after:
        out.write(f"the store is already at schema revision {after}\n")
    else:
        out.write(f"upgraded the store from schema revision {before or '(new)'} to {after}\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the lineage store itself")
    db_sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = db_sub.add_parser("info", help="where the store is, its schema revision and counts")
    info.add_argument("--format", choices=("text", "json"), default="text")
    info.set_defaults(func=_db_info)
    up = db_sub.add_parser("upgrade", help="upgrade the store's schema to this version's")
    up.set_defaults(func=_db_upgrade)


__all__ = ["add_parsers"]
