"""Package surfaces that import what they name on first use (PEP 562).

A capability's ``__init__`` names what other code may use; importing the package must stay
cheap (``import nbmlops`` and a served model start lean), so each name is looked up in its
module only when first asked for, then kept in the package's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def surface(package: str, where: Mapping[str, str], aliases: Mapping[str, str] | None = None
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each name to the
    submodule defining it; ``aliases`` maps a name to the one it has in that submodule."""
    namespace = importlib.import_module(package).__dict__
    renamed = dict(aliases or {})

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), renamed.get(name, name))
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *where})

    return getattr_, dir_
