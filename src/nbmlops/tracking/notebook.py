"""Which notebook, and which cell of it, a kernel is running.

Front ends tell kernels different things:

* JupyterLab / jupyter_server start the kernel with ``JPY_SESSION_NAME`` (ipykernel puts
  it in the namespace as ``__session__``) and send each cell's id with the request;
* VS Code sets ``__vsc_ipynb_file__``;
* papermill sends neither. It does start the kernel as its own child process, so its
  command line names the input notebook; with ``--inject-paths`` (or ``inject_paths=True``)
  the namespace also holds ``PAPERMILL_INPUT_PATH``;
* any other runner can set ``NBMLOPS_NOTEBOOK`` for the kernel it starts.

When the request carries no cell id, the cell is found in the notebook file by its
source (papermill sends each cell's source verbatim); repeated identical cells are
matched in execution order.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

NOTEBOOK_ENV = "NBMLOPS_NOTEBOOK"
EXPERIMENT_ENV = "NBMLOPS_EXPERIMENT"
_NAMESPACE_KEYS = ("__session__", "__vsc_ipynb_file__", "PAPERMILL_INPUT_PATH")


def _absolute(path: str, base: Path | None = None) -> str:
    if "://" in path:
        return path  # a URL papermill can read (s3://, https://, ...)
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return os.path.normpath(p)


@lru_cache(maxsize=1)
def papermill_parent_notebook() -> str | None:
    """The input notebook of the papermill process that started this kernel, if any."""
    if not sys.platform.startswith("linux"):
        return None
    ppid = os.getppid()
    try:
        raw = Path(f"/proc/{ppid}/cmdline").read_bytes()
        cwd = Path(os.readlink(f"/proc/{ppid}/cwd"))
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    if not any(Path(a).name.startswith("papermill") or a == "papermill" for a in args[:3]):
        return None
    for arg in args[1:]:
        if arg.endswith(".ipynb"):
            return _absolute(arg, cwd)
    return None


def notebook_path(namespace: Mapping[str, Any], env: Mapping[str, str] | None = None
                  ) -> str | None:
    """The path of the notebook this kernel runs, when anything tells us."""
    env = os.environ if env is None else env
    for key in _NAMESPACE_KEYS:
        value = namespace.get(key)
        if isinstance(value, str) and value.strip():
            return _absolute(value)
    if env.get(NOTEBOOK_ENV):
        return _absolute(env[NOTEBOOK_ENV])
    return papermill_parent_notebook()


def experiment_for(path: str | None, env: Mapping[str, str] | None = None) -> str:
    """The default experiment: ``NBMLOPS_EXPERIMENT`` when set (a job sets it for its
    kernel), else the notebook's (or script's) name without its suffix."""
    env = os.environ if env is None else env
    if env.get(EXPERIMENT_ENV):
        return env[EXPERIMENT_ENV]
    if not path:
        return "default"
    return Path(path.rstrip("/")).stem or "default"


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


class CellLocator:
    """Find a cell's id in a notebook file from the cell's source."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], list[tuple[str, str]]]] = {}
        self._seen: dict[tuple[str, str], int] = {}

    def _cells(self, path: str) -> list[tuple[str, str]]:
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == key:
            return cached[1]
        with open(path, encoding="utf-8") as fh:
            nb = json.load(fh)
        cells = [(str(c["id"]), _source(c)) for c in nb.get("cells", [])
                 if c.get("cell_type") == "code" and c.get("id")]
        self._cache[path] = (key, cells)
        return cells

    def find(self, path: str | None, raw_cell: str) -> str | None:
        if not path or "://" in path:
            return None
        try:
            cells = self._cells(path)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        matches = [cid for cid, src in cells if src == raw_cell]
        if not matches:
            stripped = raw_cell.strip()
            matches = [cid for cid, src in cells if src.strip() == stripped]
        if not matches:
            return None
        seen_key = (path, raw_cell)
        n = self._seen.get(seen_key, 0)
        self._seen[seen_key] = n + 1
        return matches[n % len(matches)]
