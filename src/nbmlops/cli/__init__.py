"""The ``nbmlops`` command line: a thin front end over :mod:`nbmlops.api`.

    nbmlops runs list [--experiment E] [--where EXPR] [--sort KEYS] [--limit N]
                      [--format table|json|csv]
    nbmlops runs show RUN_ID [--format text|json]
    nbmlops models list|show|promote|rollback|history ...
    nbmlops models protect|unprotect|approve|reject NAME ALIAS ...; models requests
    nbmlops audit list [--model M] [--user U] [--since 24h] | verify [--anchor H] | head
    nbmlops team init | add NAME --role R [--password-env VAR] | list | remove NAME | whoami
    nbmlops deploy REFERENCE [--port P] ... | --list | --stop NAME | --logs NAME
                   | --batch IN --out OUT | --export DIR
    nbmlops predictions NAME [--since 24h] [--format table|json|csv]
    nbmlops serve REFERENCE|BUNDLE [--host H] [--port P] [--workers N] ...
    nbmlops drift [REFERENCE] [CURRENT] [--deployment NAME --since 24h] [--test T] ...
    nbmlops monitor create MODEL [--schedule CRON] [--alert webhook=URL] ... | run FOLDER
                   | history [NAME]
    nbmlops feedback NAME LABELS.csv --id COLUMN --label COLUMN
    nbmlops performance NAME [--since 30d] [--window 1d] [--format text|json|csv]
    nbmlops export NOTEBOOK --job NAME [--params K=V ...] [--schedule CRON] [--target T ...]
    nbmlops jobs run FOLDER [-p K=V ...] | --all [DIR];  jobs list|show|history
    nbmlops ci [NOTEBOOK|FOLDER ...]
    nbmlops db info [--format text|json]
    nbmlops db upgrade

One module per command group (:mod:`~nbmlops.cli.runs`, ``tune``, ``models``, ``audit``, ``team``,
``deploy`` (with ``predictions`` and ``serve``), ``drift``, ``monitor``, ``performance``
(with ``feedback``), ``jobs`` (with ``export``),
``ci``, ``db``), each adding its subparsers; a command a magic shares takes its
arguments and its run from :mod:`nbmlops.commands`. ``_output`` writes JSON, CSV and
tables; ``_arguments`` checks what argparse does not.

Exit status: 0 on success, 1 when nbmlops reports an error (the message says what to
do), 2 for a malformed command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from nbmlops.cli import (
    audit,
    ci,
    db,
    deploy,
    drift,
    jobs,
    models,
    monitor,
    performance,
    reproduce,
    runs,
    team,
    tune,
)
from nbmlops.cli._arguments import check_integers
from nbmlops.commands.arguments import SORT_FLAGS, attach_sort_values
from nbmlops.errors import NbmlopsError

# in the order `nbmlops --help` lists them
_GROUPS = (runs, tune, models, audit, team, deploy, drift, monitor, performance, jobs, ci,
           reproduce, db)


def build_parser() -> argparse.ArgumentParser:
    from nbmlops import __version__

    parser = argparse.ArgumentParser(
        prog="nbmlops", description="Jupyter-native MLOps: runs, searches and the store.")
    parser.add_argument("--version", action="version", version=f"nbmlops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["serve"]:  # its own parser: `nbmlops serve --help` shows its options
        from nbmlops.serving.__main__ import main as serve_main

        return serve_main(raw[1:], prog="nbmlops serve")
    parser = build_parser()
    args = parser.parse_args(attach_sort_values(raw, SORT_FLAGS))
    try:
        check_integers(parser, args)
        return int(args.func(args, out))
    except (NbmlopsError, ValueError, OverflowError) as exc:  # bad input: one line, exit 1
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"nbmlops: error: {message or type(exc).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `nbmlops runs list | head`
        return 0


__all__ = ["build_parser", "main"]
