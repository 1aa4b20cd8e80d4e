"""Argument helpers shared by the magics (argparse problems become UsageError)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
