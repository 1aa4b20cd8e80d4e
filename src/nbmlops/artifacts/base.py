"""What every artifact store offers, and the one safe way to write a blob to a local file.

Callers (tracking, registry, monitoring, the API) use only :class:`ArtifactStore`: blobs go
in as bytes, a stream or a file and come back as verified bytes or an exported file. Where
the blobs live (a folder on this disk, an S3 prefix) is the implementation's business.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from nbmlops._types import ArtifactRef
from nbmlops.artifacts.names import check_name
from nbmlops.errors import ArtifactError

INCOMING = ".incoming-"


@runtime_checkable
class ArtifactStore(Protocol):
    """Content-addressed blobs: ``<root>/<sha[:2]>/<sha>``, stored once, verified on read."""

    @property
    def location(self) -> str:
        """Where the blobs live (a folder or a URL): for messages and child processes.
        Never carries credentials."""
        ...

    def key_of(self, sha256: str) -> str:
        """The blob's address relative to the root (``ab/ab12…``); refuses a non-digest."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def put_bytes(self, data: bytes, *, media_type: str = "application/octet-stream"
                  ) -> ArtifactRef: ...

    def put_stream(self, src: BinaryIO, *, media_type: str) -> ArtifactRef: ...

    def put_file(self, path: Path, *, media_type: str | None = None) -> ArtifactRef: ...

    def read_bytes(self, sha256: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``sha256``."""
        ...

    def export(self, sha256: str, dest_root: Path, name: str) -> Path:
        """Write blob ``sha256`` to ``dest_root/name``; ``name`` may not escape ``dest_root``."""
        ...


def guess_media_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def put_file(store: ArtifactStore, path: Path, media_type: str | None) -> ArtifactRef:
    """A file stored through ``store.put_stream`` (each store's ``put_file``)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} is not a file", name=str(path))
    with path.open("rb") as src:
        return store.put_stream(src, media_type=media_type or guess_media_type(path.name))


def copy_hashing(src: BinaryIO, fd: int, *, sync: bool = False,
                 buffer: int = 1 << 20) -> tuple[str, int]:
    """Copy ``src`` into the open file descriptor ``fd`` (closed afterwards), hashing what
    passes: its sha256 and size. ``sync`` makes the bytes durable before returning."""
    import hashlib

    hasher, size = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as fh:
        while chunk := src.read(buffer):
            hasher.update(chunk)
            fh.write(chunk)
            size += len(chunk)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    return hasher.hexdigest(), size


def within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def write_export(chunks: Iterable[bytes], dest_root: Path, name: str) -> Path:
    """Write ``chunks`` (which raise if they fail verification) to ``dest_root/name``:
    through a temporary file renamed into place, so a failure leaves nothing; ``name``
    may not escape ``dest_root``, not even through a symlinked folder."""
    check_name(name)
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    real_root = dest_root.resolve()
    target = dest_root.joinpath(*name.split("/"))
    # checked before creating any folder, so not even an empty one appears outside
    if not within(target.parent.resolve(), real_root):
        raise ArtifactError(f"{name!r} would be written outside {real_root} (through a "
                            "symlinked folder); refusing", name=name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and not target.is_symlink():
        raise ArtifactError(f"{target} is a folder; cannot write the artifact {name!r} "
                            "over it", name=name)
    if target.is_symlink():
        raise ArtifactError(f"{target} is a symlink; refusing to write through it",
                            name=name)
    fd, tmp_name = tempfile.mkstemp(prefix=INCOMING, dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


__all__ = ["INCOMING", "ArtifactStore", "within", "write_export"]
