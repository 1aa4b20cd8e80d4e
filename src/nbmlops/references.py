"""Model references: the one way a registered model version is named in text.

``churn`` (the latest version), ``churn/3`` (version 3) or ``churn@production`` (the
version the alias points at). The registry, the API, the model server, the CLI and the
panel's server all parse references here, so each accepts and refuses the same texts with
the same one-line ``ValueError``:

* a name is letters, digits, ``.``, ``_`` or ``-`` (no ``@`` or ``/``), at most 255;
* an alias starts with a letter, then letters, digits, ``_`` or ``-``, at most 64;
* a version is a number from 1 to 2**63 - 1 (what the store can hold) in the digits 0-9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_VERSION = 2**63 - 1

_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,254}$")
_ALIAS = re.compile(r"^[A-Za-z][\w-]{0,63}$")
_REF = re.compile(r"^(?P<name>[^@/]+?)(?:@(?P<alias>[^@/]+)|/(?P<version>[^@/]+))?$")
_VERSION = re.compile(r"^[0-9]{1,19}$")
_SHOWN = 60  # a longer text is cut in messages, which stay one short line


def _shown(text: object) -> str:
    if isinstance(text, str) and len(text) > _SHOWN:
        return repr(f"{text[:40]}…")
    return repr(text)


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"model name {_shown(name)}: use letters, digits, '.', '_' or '-' "
                         "(not '@' or '/', which name aliases and versions), at most 255")
    return name


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise ValueError(f"alias {_shown(alias)}: start with a letter; use letters, digits, "
                         "'_' or '-', at most 64 (e.g. staging, production)")
    return alias


@dataclass(frozen=True, slots=True)
class Reference:
    """``churn`` (the latest version), ``churn/3`` or ``churn@production``."""

    model: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"{self.model}@{self.alias}"
        return f"{self.model}/{self.version}" if self.version else self.model


def parse_reference(text: str) -> Reference:
    """``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS`` as a :class:`Reference`, or a
    one-line ``ValueError`` saying how to write it."""
    match = _REF.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"model reference {_shown(text)}: write NAME, NAME/VERSION or "
                         "NAME@ALIAS (e.g. churn/3 or churn@production)")
    name = check_model_name(match["name"])
    if match["version"] is not None:
        number = match["version"]
        if not _VERSION.match(number) or not 1 <= int(number) <= MAX_VERSION:
            raise ValueError(f"model reference {_shown(text)}: a version is a number from 1 "
                             f"to {MAX_VERSION} in the digits 0-9")
        return Reference(name, version=int(number))
    if match["alias"] is not None:
        return Reference(name, alias=check_alias(match["alias"]))
    return Reference(name)


__all__ = ["MAX_VERSION", "Reference", "check_alias", "check_model_name", "parse_reference"]
