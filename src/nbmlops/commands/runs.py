"""What ``%runs`` and ``nbmlops runs list`` share (their options differ: the magic shows
a page by default and shows or compares runs inline)."""

from __future__ import annotations


def hidden_candidates(experiment: str | None, where: str | None) -> str | None:
    """What to say when a listing comes out empty but candidate runs of searches, left
    out unless asked for, match; None when none does."""
    from nbmlops import api

    n = int(api.runs(experiment, where=where, kind="candidate", limit=1).attrs["total"])
    if not n:
        return None
    return (f"{n} hidden candidate run{'s' if n > 1 else ''} of searches "
            f"match{'es' if n == 1 else ''}: add --all (or --kind candidate) to list them")


__all__ = ["hidden_candidates"]
