"""Argument helpers shared by the magics (argparse problems become UsageError)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from IPython.core.error import UsageError


def names(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """``--params a b,c`` -> ("a", "b", "c"); None when the flag was not given."""
    if values is None:
        return None
    out = tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())
    return out


def tags(values: Sequence[str]) -> dict[str, str]:
    """``--tag k=v`` (repeatable) -> {"k": "v"}; anything else is a UsageError."""
    out: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag {raw!r}: write tags as KEY=VALUE, e.g. --tag team=growth")
        out[key.strip()] = value
    return out


def parse(magic: Any, line: str, *, sort_flags: Iterable[str] = ()) -> Any:
    """A magic's arguments, split the way a shell would (quotes removed), parsed by its
    ``@magic_arguments`` parser (whose errors are UsageErrors)."""
    from IPython.utils.process import arg_split  # type: ignore[attr-defined]

    from nbmlops.cli import attach_sort_values

    argv = arg_split(line, posix=True)
    if sort_flags:
        argv = attach_sort_values(argv, sort_flags)
    return magic.parser.parse_args(argv)
