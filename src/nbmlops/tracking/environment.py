"""The software a run ran on, and the git state of its project.

The environment (Python, platform, installed packages) is read once per process, from
the ``*.dist-info``/``*.egg-info`` folder names on ``sys.path`` (a few milliseconds,
where parsing every METADATA file takes a few hundred). The git commit is read from the
``.git`` folder directly on every run (no subprocess); whether the work tree is dirty
needs ``git status`` and is found in a background thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from nbmlops._types import Environment

# name-version.dist-info, or name-version[-pyX.Y[-platform]].egg-info from older installers
_DIST = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)(?:-py\d+(?:\.\d+)*(?:-.+)?)?"
                   r"\.(?:dist-info|egg-info)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    """{normalised distribution name: version} for what ``sys.path`` can import."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            m = _DIST.match(item)
            if m:
                found.setdefault(_normalise(m["name"]), m["version"])
    return dict(sorted(found.items()))


@lru_cache(maxsize=1)
def capture_environment() -> Environment:
    """This process's environment (computed once, then cached)."""
    packages = installed_packages()
    python = platform.python_version()
    impl = platform.python_implementation()
    plat = platform.platform()
    blob = json.dumps([python, impl, plat, packages], sort_keys=True)
    return Environment(digest=hashlib.sha256(blob.encode()).hexdigest(), python=python,
                       implementation=impl, platform=plat,
                       packages=tuple(packages.items()))


def find_git_dir(start: Path) -> Path | None:
    """The .git folder of the repository holding ``start`` (None outside a repository)."""
    try:
        return _git_dir(start.resolve())
    except OSError:
        return None


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot.read_text().strip()
            if text.startswith("gitdir:"):
                target = Path(text.split(":", 1)[1].strip())
                return target if target.is_absolute() else (folder / target).resolve()
    return None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        return (git_dir / common.read_text().strip()).resolve()
    return git_dir


def git_commit(start: Path, git_dir: Path | None = None) -> str | None:
    """The commit HEAD points at, read from the .git folder (None outside a repository).

    Pass ``git_dir`` (from :func:`find_git_dir`) to skip looking for the repository.
    """
    try:
        git_dir = git_dir or _git_dir(start.resolve())
        if git_dir is None:
            return None
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        for base in (git_dir, _common_dir(git_dir)):
            loose = base / ref
            if loose.is_file():
                return loose.read_text().strip() or None
        packed = _common_dir(git_dir) / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
    except OSError:
        return None
    return None  # a branch without commits yet


def git_dirty(start: Path, timeout: float = 10.0) -> bool | None:
    """Does the work tree differ from HEAD (tracked files only)? None if git can't tell."""
    try:
        out = subprocess.run(
            ["git", "-C", str(start), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return bool(out.stdout.strip())
