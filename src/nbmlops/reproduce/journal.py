"""The cell journal: every executed cell of a kernel session, recorded off the cell's path.

On the cell's path (:meth:`Journal.record`, called from IPython's ``post_run_cell``) the
journal only numbers the execution and queues (code, cell id, execution count, time). A
background thread does the rest: it hashes the code, reads the names the cell reads and
binds from its AST (the analysis ``%%track`` uses) and notes the data files the code names
(size and modification time), keeping the session's entries and code in memory, and writes
them to the store in batches, the code once per distinct source. It works when the kernel
is quiet (``QUIET_S`` after the last cell), or every ``WRITE_S`` while cells run back to
back, so it does not take the GIL from running cells. It writes only into a store that exists: until
a run is tracked (or anything else creates the store) entries wait in memory, so loading
the extension creates nothing.

A tracked run reads the session from memory (:meth:`Journal.session`: no store read or
write on the cell's path); its slice is written later by the tracking writer, right after
:meth:`Journal.flush` has written the entries it points at. Closing the journal (on unload
and at interpreter exit) writes what is left.

Each journal has a session id of its own: a kernel restart starts a new chain.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import hashlib
import os
import stat
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from nbmlops import tracking
from nbmlops._types import JournalEntry, SliceWrite
from nbmlops.errors import StoreError

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

TRACK_MAGIC = "%%track"
QUIET_S = 0.25  # the background writer works once no cell ran for this long ...
WRITE_S = 1.0  # ... or at least this often while cells run back to back
_MAX_PATH = 1024


def source_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def _path_literals(tree: ast.AST) -> tuple[str, ...]:
    """String literals of the code that could name a file (checked on the disk later)."""
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text and len(text) <= _MAX_PATH and "\n" not in text and "." in text:
                found[text] = None
    return tuple(found)


def files_now(paths: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Those of ``paths`` that are files now: (size, mtime ns)."""
    found: dict[str, tuple[int, int]] = {}
    for text in paths:
        try:
            st = os.stat(text)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            found[text] = (st.st_size, st.st_mtime_ns)
    return found


def files_named(tree: ast.AST) -> dict[str, tuple[int, int]]:
    """Data files the code names as string literals that exist now: (size, mtime ns)."""
    return files_now(_path_literals(tree))


def _analysis(code: str, transform: Callable[[str], str]
              ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(names read, names bound or changed in place, literals that may name files)."""
    body = code
    if code.lstrip().startswith("%%"):
        first, _, rest = code.lstrip().partition("\n")
        if first.split()[0] != TRACK_MAGIC:
            return (), (), ()
        body = rest
    try:
        tree = ast.parse(transform(body))
    except (SyntaxError, ValueError, TypeError, RecursionError):
        return (), (), ()
    except Exception:  # a transformer of the user's failed: the cell did not run either
        return (), (), ()
    names = tracking.cell_names(tree)
    binds = tuple(dict.fromkeys((*names.binds, *names.mutated)))
    return names.reads, binds, _path_literals(tree)


def _without_magics(code: str) -> str:
    """The code with its IPython magic and shell lines blanked (outside a kernel, where
    IPython's transforms are not at hand)."""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                     for ln in code.splitlines())


def code_literals(code: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(names read, names bound or changed in place, string literals that may name files)
    of a cell's code, read outside a kernel: magic and shell lines are left out."""
    return _analysis(code, _without_magics)


def analyze_code(code: str, transform: Callable[[str], str]
                 ) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[int, int]]]:
    """(names read, names bound or changed in place, data files named) of a cell's code.
    A ``%%track`` cell is its body; another cell magic reads and binds nothing we know."""
    reads, binds, literals = _analysis(code, transform)
    return reads, binds, files_now(literals)


class Session(NamedTuple):
    """A journal's session as a tracked run reads it (the mappings grow as cells run: a
    run looks only at ``entries``' indices)."""

    entries: list[JournalEntry]
    codes: Mapping[str, str]
    binders: Mapping[str, list[int]]


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
        self._entries: list[JournalEntry] = []  # the session, analysed, in order
        self._codes: dict[str, str] = {}  # the session's code, once per source
        self._binders: dict[str, list[int]] = {}  # name -> indices of entries binding it
        self._analysed: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}
        # per store (by URL): how many of the entries it holds, and which sources
        self._written: dict[str, int] = {}
        self._stored_sources: dict[str, set[str]] = {}
        self._slices: dict[str, list[SliceWrite]] = {}  # per store: runs' slices to write
        self._analyse_lock = threading.Lock()  # the queue -> the entries (short)
        self._write_lock = threading.Lock()  # one store write at a time (may wait on I/O)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._notebook_path: str | None = None
        self._notebook_known = False
        self._oldest_unwritten: float | None = None  # monotonic time

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
        elif self._idle:  # only a sleeping writer is woken (see _loop)
            self._wake.set()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nbmlops-journal",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- off the cell's path ----------------------------------------------------------
    def _loop(self) -> None:
        """Work when the kernel is quiet (no cell recorded for QUIET_S), or at least every
        WRITE_S while cells run back to back. Cells do not wake it one by one: a thread
        that wants the GIL while cells run slows them by more than its own work."""
        while True:
            self._idle = True
            if not self._queue:
                self._wake.wait()  # until a cell is recorded, or the journal closes
            self._idle = False
            self._wake.clear()
            deadline = time.monotonic() + WRITE_S
            while not self._closed and time.monotonic() < deadline:
                seen = self._seq
                self._stop.wait(QUIET_S)
                if self._seq == seen:
                    break
            if self._closed:
                return
            with contextlib.suppress(Exception):  # kept in memory; the next turn retries
                self._analyse()
                if self._oldest_unwritten is not None or any(self._slices.values()):
                    self._drain(None)

    def _path(self) -> str | None:
        if not self._notebook_known:
            with contextlib.suppress(Exception):
                self._notebook_path = self._notebook()
            self._notebook_known = True
        return self._notebook_path

    def _analyse(self) -> None:
        """Turn queued cells into entries (hash, names, files), in order."""
        with self._analyse_lock:
            while self._queue:
                seq, when, code, cell_id, count, ok = self._queue.popleft()
                digest = source_hash(code)
                found = self._analysed.get(digest)
                if found is None:  # a source run again is analysed once
                    found = self._analysed[digest] = _analysis(code, self._transform)
                reads, binds, literals = found
                files = files_now(literals) if literals else {}
                self._codes.setdefault(digest, code)
                for name in binds:
                    self._binders.setdefault(name, []).append(len(self._entries))
                self._entries.append(JournalEntry(
                    session_id=self.session_id, seq=seq, time=when, source_hash=digest,
                    cell_id=cell_id, execution_count=count, notebook_path=self._path(),
                    reads=reads, binds=binds, files=files, ok=ok))
                if self._oldest_unwritten is None:
                    self._oldest_unwritten = time.monotonic()

    def _unwritten_count(self) -> int:
        return len(self._entries) - min(self._written.values(), default=0)

    def _write(self, ws: Workspace) -> None:
        """Write into ``ws`` what it does not hold yet, with the slices waiting for it, in
        one transaction (the caller holds the write lock)."""
        url = ws.store.url
        with self._analyse_lock:
            done = self._written.get(url, 0)
            entries = self._entries[done:]
            known = self._stored_sources.setdefault(url, set())
            sources = {e.source_hash: self._codes[e.source_hash] for e in entries
                       if e.source_hash not in known}
            slices = list(self._slices.get(url, ()))
        if entries or slices:
            ws.store.record_journal(entries, sources, slices)
        with self._analyse_lock:
            self._written[url] = done + len(entries)
            known.update(sources)
            if slices:
                del self._slices[url][:len(slices)]
            if len(self._entries) == self._written[url]:
                self._oldest_unwritten = None

    def add_slice(self, ws: Workspace, sl: SliceWrite) -> None:
        """Write run ``sl.run_id``'s slice into ``ws`` with the next batch (after the
        entries it points at, in the same transaction)."""
        with self._analyse_lock:
            self._slices.setdefault(ws.store.url, []).append(sl)

    def _drain(self, ws: Workspace | None) -> None:
        self._analyse()
        with self._write_lock:
            ws = ws or self._existing()
            if ws is not None:
                self._write(ws)

    def flush(self, ws: Workspace | None = None) -> None:
        """Write every queued cell now (into ``ws``, else into the store if one exists).
        Raises StoreError when the store refuses (the entries stay queued)."""
        self._drain(ws)

    def session(self) -> Session:
        """This session from memory: its entries in the order they ran, their code by
        source hash, and which entries bind each name (the cells not yet analysed are
        analysed now; nothing is read or written)."""
        self._analyse()
        with self._analyse_lock:
            return Session(list(self._entries), self._codes, self._binders)

    def pending(self) -> int:
        """Cells recorded but not yet in the store."""
        return len(self._queue) + self._unwritten_count()

    def close(self) -> None:
        """Stop the writer and write what is left, where a store exists."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            atexit.unregister(self.close)
        with contextlib.suppress(StoreError):
            self._drain(None)

    def state(self) -> Mapping[str, object]:
        return {"session": self.session_id, "on": self.enabled, "cells": self._seq,
                "pending": self.pending()}
