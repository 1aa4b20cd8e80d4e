"""Argument tables and command-line helpers the CLI and the magics share."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

# one argument: its names (``("--port",)`` or ``("reference",)``) and argparse's options
Argument = tuple[tuple[str, ...], dict[str, Any]]
Arguments = tuple[Argument, ...]

SORT_FLAGS = ("--sort", "-s")


def add_arguments(parser: argparse.ArgumentParser, arguments: Arguments, *,
                  skip: Iterable[str] = ()) -> None:
    """Add ``arguments`` to ``parser`` in order, leaving out those named in ``skip``."""
    left_out = set(skip)
    for names, options in arguments:
        if names[0] not in left_out:
            parser.add_argument(*names, **options)


def attach_sort_values(argv: list[str], flags: Iterable[str]) -> list[str]:
    """Command lines (here and in %runs): ``--sort -metrics.x`` is a value, not a flag."""
    wanted = set(flags)
    out: list[str] = []
    i = 0
    while i < len(argv):
        item = argv[i]
        if item in wanted and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            glue = "=" if item.startswith("--") else ""  # -s-x is argparse's short form
            out.append(f"{item}{glue}{argv[i + 1]}")
            i += 2
            continue
        out.append(item)
        i += 1
    return out


__all__ = ["SORT_FLAGS", "Argument", "Arguments", "add_arguments", "attach_sort_values"]
