"""A server's own output, kept where its deployment's artifacts are.

A background server writes its output to a local file (``server-<id>.log`` beside the
deployment's prediction log). When the artifacts live on object storage, :class:`Shipper`
uploads what was appended to that file as numbered segments
``<url>/segment-<n>.log`` every ``every_s`` seconds and when the server stops, so
``nbmlops deploy --logs NAME`` on another machine shows it; each segment is one PUT, so a
reader sees whole segments only. :func:`tail` reads the last lines of either kind.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SEGMENT_GLOB = "segment-*.log"
_MAX_TAIL = 256 * 1024


class Shipper:
    """Upload what is appended to ``local`` to ``url`` in segments, in the background."""

    def __init__(self, local: Path | str, url: str, *, options: Mapping[str, Any] | None = None,
                 every_s: float = 5.0, max_segment: int = 4 << 20) -> None:
        from nbmlops.artifacts import open_filesystem

        self.local = Path(local)
        self.url = url.rstrip("/")
        self.fs, root = open_filesystem(self.url, options)
        self.root = root.rstrip("/")
        self.every_s = every_s
        self.max_segment = max_segment
        self._offset = 0
        self._seq = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="nbmlops-serverlog")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.ship()

    def ship(self) -> int:
        """Upload what was appended since the last call; the bytes shipped."""
        with self._lock:
            shipped = 0
            try:
                with self.local.open("rb") as fh:
                    fh.seek(self._offset)
                    while chunk := fh.read(self.max_segment):
                        self._seq += 1
                        self.fs.pipe_file(f"{self.root}/segment-{self._seq:08d}.log", chunk)
                        self._offset += len(chunk)
                        shipped += len(chunk)
                self.error = ""
            except Exception as exc:  # the next call tries again from the same offset
                self.error = f"{type(exc).__name__}: {exc}"
            return shipped

    def close(self) -> None:
        """Stop shipping in the background and upload what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.ship()


def tail(location: str | Path | None, lines: int = 50, *,
         options: Mapping[str, Any] | None = None) -> str:
    """The last ``lines`` lines of a server's log: a local file, or segments at a URL."""
    from nbmlops.artifacts import is_url

    if location is None:
        return "(no log: this server was started in the foreground, so its output went to " \
               "its terminal)"
    if isinstance(location, str) and is_url(location):
        text = _remote_tail(location, options)
    else:
        try:
            with open(location, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - _MAX_TAIL))
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"(cannot read {location}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def _remote_tail(url: str, options: Mapping[str, Any] | None) -> str:
    from nbmlops.artifacts import open_filesystem

    try:
        fs, root = open_filesystem(url.rstrip("/"), options)
        root = root.rstrip("/")
        fs.invalidate_cache(root)
        try:
            found = fs.ls(root, detail=False)
        except FileNotFoundError:
            return f"(no output from this server in {url} yet)"
        names = sorted(n for n in (str(f).rsplit("/", 1)[-1] for f in found)
                       if fnmatch.fnmatch(n, SEGMENT_GLOB))
        chunks: list[bytes] = []
        size = 0
        for name in reversed(names):  # the newest segments, up to the tail's size
            data = fs.cat_file(f"{root}/{name}")
            chunks.insert(0, data)
            size += len(data)
            if size >= _MAX_TAIL:
                break
    except Exception as exc:
        return f"(cannot read {url}: {type(exc).__name__}: {exc})"
    return b"".join(chunks)[-_MAX_TAIL:].decode(errors="replace")


__all__ = ["SEGMENT_GLOB", "Shipper", "tail"]
