"""Checks on the CLI's parsed arguments that argparse does not make."""

from __future__ import annotations

import argparse

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what the store holds
MAX_LIMIT = 2**53  # the store adds to a limit and multiplies it: it stays inside 64 bits


def _names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each argument's destination -> how the command line spells it (``--limit``,
    ``VERSION``), over every subcommand."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(_names(sub))
        else:
            longest = max(action.option_strings, key=len, default=None)
            names.setdefault(action.dest, longest or str(action.metavar or action.dest.upper()))
    return names


def check_integers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every whole number on the command line fits the store's 64-bit integers (Python's
    own have no bound: 10**23 would reach the database and fail there)."""
    for dest, value in vars(args).items():
        if isinstance(value, int) and not isinstance(value, bool) and not (
                INT64_MIN <= value <= INT64_MAX):
            shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}…"
            bound = f"at most {INT64_MAX}" if value > 0 else f"at least {INT64_MIN}"
            raise ValueError(f"{_names(parser).get(dest, dest)} {shown} is out of range: "
                             f"give a whole number {bound}")


__all__ = ["INT64_MAX", "INT64_MIN", "MAX_LIMIT", "check_integers"]
