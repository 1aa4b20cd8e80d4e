"""``KEY=VALUE`` arguments, parsed once for every front end and capability.

``--tag team=growth``, ``--params C=1.0``, ``-p C=0.5``, ``--init forest='{...}'``,
``--model [NAME=]CLASS`` and ``--test psi | --test age=ks`` all read through here. Each
caller names its flag and says, in its own words, how the argument is written; the error
(``ValueError`` unless the caller passes its own class) reads ``FLAG 'ITEM': HINT``.

Below the capabilities: this module imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def split(item: str, *, flag: str, hint: str, error: Callable[[str], Exception] = ValueError,
          key_required: bool = True) -> tuple[str, str]:
    """``"k = v"`` -> ``("k", " v")``: the key stripped, the value as typed (split at the
    first ``=``). Without an ``=`` (or, if ``key_required``, with an empty key) raises
    ``error(f"{flag} {item!r}: {hint}")``."""
    key, sep, value = item.partition("=")
    if not sep or (key_required and not key.strip()):
        raise error(f"{flag} {item!r}: {hint}")
    return key.strip(), value


def split_optional(item: str) -> tuple[str | None, str]:
    """``[KEY=]VALUE``: ``"rf=a.B"`` -> ``("rf", "a.B")``, ``"a.B"`` -> ``(None, "a.B")``."""
    key, sep, value = item.partition("=")
    return (key.strip(), value) if sep else (None, item)


def parse(items: Iterable[str], *, flag: str, hint: str,
          convert: Callable[[str, str], Any] | None = None,
          error: Callable[[str], Exception] = ValueError,
          key_required: bool = True) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` arguments as a dict (a later key wins). ``convert(key,
    text)`` turns each value into what the caller needs; without it values stay text."""
    out: dict[str, Any] = {}
    for item in items:
        key, text = split(item, flag=flag, hint=hint, error=error, key_required=key_required)
        out[key] = text if convert is None else convert(key, text)
    return out


def one_or_pairs(values: Sequence[str], *, flag: str, convert: Callable[[str], T],
                 hint: str = "give one value for every key, or KEY=VALUE pairs",
                 ) -> T | dict[str, T] | None:
    """``X`` for every key or ``KEY=X`` pairs (repeatable), never both: ``["psi"]`` ->
    ``"psi"``; ``["age=ks", "plan=chi2"]`` -> ``{"age": "ks", "plan": "chi2"}``; ``[]``
    -> None. Keys and values are stripped; both forms at once is ``f"{flag}: {hint}"``, a
    value ``convert`` rejects (ValueError) an error naming the flag."""
    every = [v for v in values if "=" not in v]
    per = dict(v.split("=", 1) for v in values if "=" in v)
    if len(every) > 1 or (every and per):
        raise ValueError(f"{flag}: {hint}")
    try:
        if every:
            return convert(every[0])
        return {k.strip(): convert(v.strip()) for k, v in per.items()} or None
    except ValueError:
        raise ValueError(f"{flag} {' '.join(values)}: not a valid value") from None


__all__ = ["one_or_pairs", "parse", "split", "split_optional"]
