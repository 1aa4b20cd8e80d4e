"""Argument helpers shared by the magics (argparse problems become UsageError)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from nbmlops import keyvalue
from nbmlops.commands.arguments import Arguments, attach_sort_values


def names(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """``--params a b,c`` -> ("a", "b", "c"); None when the flag was not given."""
    if values is None:
        return None
    out = tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())
    return out


def tags(values: Sequence[str]) -> dict[str, str]:
    """``--tag k=v`` (repeatable) -> {"k": "v"}; anything else is a UsageError."""
    return keyvalue.parse(values, flag="--tag", error=UsageError,
                          hint="write tags as KEY=VALUE, e.g. --tag team=growth")


def arguments(table: Arguments) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A magic takes the arguments of ``table`` (a command's ARGUMENTS, shared with its
    CLI command), in the same order: a decorator under ``@magic_arguments()``."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for names, options in reversed(table):
            fn = argument(*names, **options)(fn)
        return fn
    return decorate


MAX_LINE = 100_000  # characters: far beyond any command line typed, bounded all the same
_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _value(namespace: Mapping[str, Any], match: re.Match[str]) -> str:
    name = match.group(1)
    return str(namespace[name]) if name in namespace else match.group(0)


def parse(magic: Any, line: str, *, sort_flags: Iterable[str] = ()) -> Any:
    """A magic's arguments, split the way a shell would (quotes removed), parsed by its
    ``@magic_arguments`` parser (whose errors are UsageErrors). A line longer than
    MAX_LINE, or with a quote left open, is a one-line UsageError too.

    The magics are marked ``@no_var_expand``: IPython would otherwise expand ``$name`` and
    evaluate ``{expression}`` in the line before we see it (in time quadratic in the
    line's length). Here only ``{name}`` of a variable the notebook defines is replaced by
    its value (``--strategy {strategy}``, as papermill parameters are used); anything
    else, such as ``{1+1}``, ``$name`` or an undefined ``{draft}``, reaches the magic as
    typed and nothing is evaluated."""
    from IPython.utils.process import arg_split  # type: ignore[attr-defined]

    owner = getattr(magic, "__self__", None)
    cell = magic.__name__ in (getattr(owner, "magics", None) or {}).get("cell", {})
    name = f"{'%%' if cell else '%'}{magic.__name__}"
    if len(line) > MAX_LINE:
        raise UsageError(f"{name}: the line is {len(line):,} characters long; at most "
                         f"{MAX_LINE:,} are accepted (pass values that long from Python: "
                         "nbmlops.<function>(...) does what each magic does)")
    namespace = getattr(getattr(owner, "shell", None), "user_ns", None) or {}
    line = _NAME.sub(lambda m: _value(namespace, m), line)
    try:
        argv = arg_split(line, posix=True)
    except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
        advice = ("a quote is left open: close it, or escape a quote meant literally "
                  "(\\\" or \\')" if "quotation" in str(exc) else
                  "the line ends in a backslash that escapes nothing: remove it")
        raise UsageError(f"{name}: {advice}") from None
    if sort_flags:
        argv = attach_sort_values(argv, sort_flags)
    return magic.parser.parse_args(argv)
