"""Artifact names: relative POSIX paths that can never leave the folder they are written to.

A name comes from users (``log_artifact(..., name=...)``) or from stored metadata, so it is
checked in every form an attacker could hide a traversal in: as given, percent-decoded
(``%2e%2e%2f``, repeatedly: ``%252e``), Unicode-normalised (NFKC folds fullwidth
``．．／`` into ``../``), and any mix of the two (fullwidth ``％２ｅ`` is ``%2e``).

Characters that NFKC leaves alone but that read as a folder separator (division slash
``∕``, fraction slash ``⁄``, big solidus ``⧸``, set minus ``∖``, …) are refused, so a name
never looks like a path it is not; so are ``#`` and ``?``, which cut a name short wherever
it becomes part of a URL.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from nbmlops.errors import ArtifactError

MAX_NAME = 512
_MAX_FORMS = 16
_DRIVE = re.compile(r"^[A-Za-z]:")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# look like '/' or '\\' but survive NFKC; '#' and '?' end a URL path
_LOOKALIKES = {
    "\u2215": "a division slash", "\u2044": "a fraction slash", "\u29f8": "a big solidus",
    "\u2571": "a diagonal line", "\u27cb": "a rising diagonal", "\u2afd": "a double solidus",
    "\u2afb": "a triple solidus", "\u0337": "a combining solidus",
    "\u0338": "a combining solidus", "\u1735": "a slash-like punctuation mark",
    "\u2216": "a set minus", "\u29f5": "a reverse solidus operator",
    "\u29f9": "a big reverse solidus", "\u2572": "a diagonal line",
    "\u27cd": "a falling diagonal",
}
_URL_SPECIAL = {"#": "'#'", "?": "'?'"}
ALLOWED = ("a relative path like 'model' or 'plots/roc.png' (folders separated by '/'; "
           "no '#', '?', '\\', '..' or look-alikes of '/')")


def _problem(form: str) -> str | None:
    if not form:
        return "it is empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in form):
        return "it holds control characters"
    if "\\" in form:
        return "it holds a backslash (use / between folders)"
    for char in form:
        if char in _URL_SPECIAL:
            return f"it holds {_URL_SPECIAL[char]}"
        if char in _LOOKALIKES:
            return f"it holds {_LOOKALIKES[char]} (U+{ord(char):04X}), which looks like '/'"
    if form.startswith("/") or _DRIVE.match(form):
        return "it is an absolute path"
    parts = form.split("/")
    if any(p in ("..", ".") for p in parts):
        return "it has a '.' or '..' segment"
    if any(p == "" for p in parts):
        return "it has an empty segment ('//' or a trailing '/')"
    return None


def check_name(name: object) -> str:
    """Return ``name`` if it is a safe artifact name; raise ArtifactError otherwise."""
    if not isinstance(name, str):
        raise ArtifactError(f"artifact name must be a string, not {type(name).__name__}")
    if len(name) > MAX_NAME:
        raise ArtifactError(f"artifact name is longer than {MAX_NAME} characters", name=name)
    forms = [name]
    for form in forms:  # grows until decoding (%252e -> %2e -> .) and NFKC find nothing new
        for nxt in (unquote(form), unicodedata.normalize("NFKC", form)):
            if nxt not in forms:
                forms.append(nxt)
        if len(forms) > _MAX_FORMS:
            raise ArtifactError(f"artifact name {name!r} is not allowed: it is encoded too many "
                                "times over", name=name)
    for form in forms:
        problem = _problem(form)
        if problem:
            raise ArtifactError(
                f"artifact name {name!r} is not allowed: {problem}. Use {ALLOWED}",
                name=name)
    return name


def check_sha256(digest: object) -> str:
    """A blob address must be exactly 64 lowercase hex digits."""
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise ArtifactError(f"{digest!r} is not a sha256 digest (64 lowercase hex digits)")
    return digest
