"""Content-addressed artifacts on the local filesystem.

A blob lives at ``<root>/<sha[:2]>/<sha>``. Writes go to a temporary file in the root,
are fsync'ed and renamed into place, so a reader never sees half a blob and a crash never
leaves one; writing bytes that are already there costs only their hash. Every read
verifies the sha256.

A writer killed mid-write leaves its ``.incoming-*`` file behind. A live writer touches
its file with every chunk, so one untouched for ``STALE_INCOMING_S`` has no writer any
more: the first write of each store removes those. A folder that cannot be written is an
:class:`ArtifactError` saying so, never a bare ``PermissionError``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from nbmlops._types import ArtifactRef
from nbmlops.artifacts.base import (
    INCOMING,
    copy_hashing,
    guess_media_type,
    put_file,
    within,
    write_export,
)
from nbmlops.artifacts.names import check_sha256
from nbmlops.errors import ArtifactError

_BUF = 1 << 20
STALE_INCOMING_S = 3600.0
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class LocalArtifactStore:
    """Blobs addressed by sha256 under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._swept = False

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    # -- addresses ------------------------------------------------------------------
    def path_of(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives; refuses anything that would leave the root."""
        digest = check_sha256(sha256)
        path = self.root / digest[:2] / digest
        real_root = self.root.resolve()
        if not within(path.resolve(), real_root):
            raise ArtifactError(f"blob {digest[:12]}… resolves outside the artifact root "
                                f"{real_root} (a symlink?); refusing to use it")
        return path

    @property
    def location(self) -> str:
        return str(self.root)

    def key_of(self, sha256: str) -> str:
        return self.path_of(sha256).relative_to(self.root).as_posix()

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    # -- writing --------------------------------------------------------------------
    def _write_error(self, exc: OSError) -> ArtifactError:
        where = exc.filename or self.root
        if exc.errno in _NOT_WRITABLE:
            return ArtifactError(
                f"the artifacts folder {self.root} is not writable ({exc.strerror}: {where}); "
                "make it writable, or set NBMLOPS_ARTIFACTS to a writable folder")
        return ArtifactError(f"could not write to the artifacts folder {self.root} "
                             f"({exc.strerror or exc}: {where}); nothing was stored")

    def sweep_incoming(self, *, older_than: float = STALE_INCOMING_S) -> list[Path]:
        """Remove ``.incoming-*`` files no writer has touched for ``older_than`` seconds
        (left by a crashed write); returns what was removed."""
        removed: list[Path] = []
        cutoff = time.time() - older_than
        try:
            entries = list(os.scandir(self.root))
        except OSError:  # no folder yet, or not listable: nothing of ours to clean
            return removed
        for entry in entries:
            if not entry.name.startswith(INCOMING):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and \
                        entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:  # gone already (another process swept it), or not ours
                continue
        return removed

    def _commit(self, tmp: Path, digest: str) -> None:
        final = self.path_of(digest)
        if final.is_file():
            tmp.unlink(missing_ok=True)
            return
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except OSError as exc:
            raise self._write_error(exc) from exc
        try:  # make the rename itself durable
            fd = os.open(final.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _tempfile(self) -> tuple[int, Path]:
        if not self._swept:
            self._swept = True
            self.sweep_incoming()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=INCOMING, dir=self.root)
        except OSError as exc:
            raise self._write_error(exc) from exc
        return fd, Path(name)

    def put_bytes(self, data: bytes, *, media_type: str = "application/octet-stream"
                  ) -> ArtifactRef:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            fd, tmp = self._tempfile()
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                self._commit(tmp, digest)
            except OSError as exc:  # a full disk, say
                tmp.unlink(missing_ok=True)
                raise self._write_error(exc) from exc
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return ArtifactRef(sha256=digest, size=len(data), media_type=media_type)

    def put_stream(self, src: BinaryIO, *, media_type: str) -> ArtifactRef:
        fd, tmp = self._tempfile()
        try:
            digest, size = copy_hashing(src, fd, sync=True, buffer=_BUF)
            self._commit(tmp, digest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ArtifactRef(sha256=digest, size=size, media_type=media_type)

    def put_file(self, path: Path, *, media_type: str | None = None) -> ArtifactRef:
        return put_file(self, path, media_type)

    # -- reading --------------------------------------------------------------------
    def _verified_chunks(self, sha256: str) -> Iterator[bytes]:
        path = self.path_of(sha256)
        if not path.is_file():
            raise ArtifactError(f"blob {sha256[:12]}… is missing from {self.root}; was the "
                                "artifact folder moved? Point NBMLOPS_ARTIFACTS at it")
        hasher = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_BUF):
                hasher.update(chunk)
                yield chunk
        if hasher.hexdigest() != sha256:
            raise ArtifactError(
                f"blob {sha256[:12]}… failed verification: its content changed on disk "
                f"(sha256 is now {hasher.hexdigest()[:12]}…); it was tampered with or corrupted")

    def read_bytes(self, sha256: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``sha256``."""
        return b"".join(self._verified_chunks(sha256))

    def export(self, sha256: str, dest_root: Path, name: str) -> Path:
        """Write blob ``sha256`` to ``dest_root/name``; ``name`` may not escape ``dest_root``."""
        return write_export(self._verified_chunks(sha256), dest_root, name)


def iter_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """Files under ``folder`` with their relative POSIX names; refuses escaping symlinks."""
    folder = Path(folder)
    real = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()  # a stable order, whatever the filesystem lists first
        for d in dirnames:
            p = Path(dirpath) / d
            if p.is_symlink() and not within(p.resolve(), real):
                raise ArtifactError(f"{p} links outside {folder}; refusing to follow it",
                                    name=str(p))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if p.is_symlink() and not within(p.resolve(), real):
                raise ArtifactError(f"{p} links outside {folder}; refusing to follow it",
                                    name=str(p))
            yield p, p.relative_to(folder).as_posix()


__all__ = ["LocalArtifactStore", "guess_media_type", "iter_files"]
