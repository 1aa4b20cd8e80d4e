"""The cell journal: every executed cell of a kernel session, recorded off the cell's path.

On the cell's path (:meth:`Journal.record`, called from IPython's ``post_run_cell``) the
journal only numbers the execution and queues (code, cell id, execution count, time). A
background thread does the rest: it hashes the code, reads the names the cell reads and
binds from its AST (the analysis ``%%track`` uses), notes the data files the code names
(size and modification time), and writes batches to the store, the code once per distinct
source. It writes only into a store that exists: until a run is tracked (or anything else
creates the store) entries wait in memory, so loading the extension creates nothing.
:meth:`Journal.flush` writes everything queued at once (closing the journal calls it);
:meth:`Journal.written` does so before a tracked run reads the session back (kept in
memory as it is written, so a long session is not read again for every run).

Each journal has a session id of its own: a kernel restart starts a new chain.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nbmlops import tracking
from nbmlops._types import JournalEntry
from nbmlops.errors import StoreError

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

TRACK_MAGIC = "%%track"
MAX_WAITING = 50_000  # entries kept in memory while no store exists (oldest dropped)
_MAX_PATH = 1024


def source_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def _files_named(tree: ast.AST) -> dict[str, tuple[int, int]]:
    """Data files the code names as string literals that exist now: (size, mtime ns)."""
    found: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        if not text or len(text) > _MAX_PATH or "\n" in text or "." not in text:
            continue
        try:
            st = Path(text).stat()
        except (OSError, ValueError):
            continue
        if Path(text).is_file():
            found[text] = (st.st_size, st.st_mtime_ns)
    return found


def analyze_code(code: str, transform: Callable[[str], str]
                 ) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[int, int]]]:
    """(names read, names bound or changed in place, data files named) of a cell's code.
    A ``%%track`` cell is its body; another cell magic reads and binds nothing we know."""
    body = code
    if code.lstrip().startswith("%%"):
        first, _, rest = code.lstrip().partition("\n")
        if first.split()[0] != TRACK_MAGIC:
            return (), (), {}
        body = rest
    try:
        tree = ast.parse(transform(body))
    except (SyntaxError, ValueError, TypeError, RecursionError):
        return (), (), {}
    except Exception:  # a transformer of the user's failed: the cell did not run either
        return (), (), {}
    names = tracking.cell_names(tree)
    binds = tuple(dict.fromkeys((*names.binds, *names.mutated)))
    return names.reads, binds, _files_named(tree)


class Journal:
    """The journal of one kernel session (see the module)."""

    def __init__(self, *, transform: Callable[[str], str],
                 notebook: Callable[[], str | None],
                 existing_workspace: Callable[[], Workspace | None]) -> None:
        self.session_id = uuid.uuid4().hex
        self.enabled = True
        self._transform = transform
        self._notebook = notebook
        self._existing = existing_workspace
        self._seq = 0
        self._queue: deque[tuple[int, float, str, str | None, int | None, bool]] = deque()
        self._waiting: list[JournalEntry] = []  # analysed, not yet in the store
        self._sources: dict[str, str] = {}  # code of sources not yet in the store
        self._stored_sources: set[str] = set()
        self._stored: list[JournalEntry] = []  # this session's entries in the store, in order
        self._stored_in: object = None  # the store they are in
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._notebook_path: str | None = None
        self._notebook_known = False

    # -- on the cell's path ------------------------------------------------------------
    def record(self, code: str, cell_id: str | None, execution_count: int | None,
               ok: bool) -> None:
        """Queue one executed cell (cheap: the work is done in the background)."""
        if not self.enabled or self._closed:
            return
        self._seq += 1
        self._queue.append((self._seq, time.time(), code, cell_id, execution_count, ok))
        if self._thread is None:
            self._start()
        self._wake.set()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nbmlops-journal",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- off the cell's path ----------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            with contextlib.suppress(Exception):  # kept in memory; the next flush retries
                self._drain(None)

    def _path(self) -> str | None:
        if not self._notebook_known:
            with contextlib.suppress(Exception):
                self._notebook_path = self._notebook()
            self._notebook_known = True
        return self._notebook_path

    def _analyse(self) -> None:
        while self._queue:
            seq, when, code, cell_id, count, ok = self._queue.popleft()
            digest = source_hash(code)
            reads, binds, files = analyze_code(code, self._transform)
            if digest not in self._stored_sources:
                self._sources[digest] = code
            self._waiting.append(JournalEntry(
                session_id=self.session_id, seq=seq, time=when, source_hash=digest,
                cell_id=cell_id, execution_count=count, notebook_path=self._path(),
                reads=reads, binds=binds, files=files, ok=ok))
        if len(self._waiting) > MAX_WAITING:
            del self._waiting[:len(self._waiting) - MAX_WAITING]

    def _write(self, ws: Workspace) -> None:
        """Write what waits into ``ws`` (the caller holds the write lock)."""
        entries, sources = list(self._waiting), dict(self._sources)
        ws.store.record_journal(entries, sources)
        if self._stored_in is ws.store:
            self._stored.extend(entries)
        del self._waiting[:len(entries)]
        self._stored_sources.update(sources)
        for digest in sources:
            self._sources.pop(digest, None)

    def _drain(self, ws: Workspace | None) -> None:
        with self._write_lock:
            self._analyse()
            if not self._waiting:
                return
            ws = ws or self._existing()
            if ws is not None:
                self._write(ws)

    def flush(self, ws: Workspace | None = None) -> None:
        """Write every queued cell now (into ``ws``, else into the store if one exists).
        Raises StoreError when the store refuses (the entries stay queued)."""
        self._drain(ws)

    def written(self, ws: Workspace) -> list[JournalEntry]:
        """This session's entries, all written into ``ws`` first, in the order they ran
        (kept in memory as they are written; read back from the store the first time)."""
        with self._write_lock:
            self._analyse()
            if self._waiting:
                self._write(ws)
            if self._stored_in is not ws.store:
                self._stored = ws.store.session_journal(self.session_id)
                self._stored_in = ws.store
            return list(self._stored)

    def pending(self) -> int:
        """Cells recorded but not yet in the store."""
        return len(self._queue) + len(self._waiting)

    def entries(self) -> list[JournalEntry]:
        """This session's cells not yet in the store, analysed (for a store-less look)."""
        with self._write_lock:
            self._analyse()
            return list(self._waiting)

    def close(self) -> None:
        """Stop the writer and write what is left, where a store exists."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            atexit.unregister(self.close)
        with contextlib.suppress(StoreError):
            self._drain(None)

    def state(self) -> Mapping[str, object]:
        return {"session": self.session_id, "on": self.enabled, "cells": self._seq,
                "pending": self.pending()}
