"""Content-addressed artifacts on any fsspec filesystem (S3 through s3fs is the tested one).

The layout is the local store's: blob ``sha`` lives at ``<url>/<sha[:2]>/<sha>``, and so
are the guarantees:

- **stored once**: a blob whose key exists is not uploaded again (one HEAD request);
- **never half a blob**: on object stores whose PUT is atomic (S3, GCS, Azure: an object
  appears only once its single PUT or its multipart upload completes) a blob is uploaded
  straight to its key; on every other filesystem it goes to ``<url>/.incoming-<uuid>``
  first and is then moved to its key;
- **what goes up is what was hashed**: the bytes are hashed while they are copied to a
  local spool file, and that file is what is uploaded, so a source changing underneath
  cannot store bytes under a digest they do not have;
- **large files go up in parts** (s3fs uploads a file of two parts or more as a multipart
  upload, in parts of ``part_size`` bytes when given);
- **every read is verified** against its sha256, whether it comes from the remote store or
  from the local cache;
- **names never leave the prefix**: keys are built only from checked sha256 digests, and
  an artifact name is used only when exporting to a local folder (the same checks as the
  local store).

Blobs read are kept in a local cache, itself a content-addressed folder
(:class:`~nbmlops.artifacts.local.LocalArtifactStore`), bounded to ``cache_max_bytes``
(least recently used blobs go first). It is safe to delete at any time: a blob missing or
changed there is fetched again. Writes do not fill the cache; reads do.

fsspec and the filesystem's driver (s3fs for ``s3://``) are imported on first use; missing,
they are a one-line error naming the extra to install. Options (``endpoint_url``,
``profile``, …) are handed to the driver and never shown: credentials come from the
driver's usual chain (for S3: the environment, ``~/.aws``, a profile, an instance role).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from nbmlops._types import ArtifactRef
from nbmlops.artifacts.base import copy_hashing, put_file
from nbmlops.artifacts.local import LocalArtifactStore
from nbmlops.artifacts.names import check_name, check_sha256
from nbmlops.config import split_artifacts_url
from nbmlops.errors import ArtifactError, ConfigError, MissingExtraError

_BUF = 1 << 20
DEFAULT_CACHE_BYTES = 2 << 30  # 2 GiB
# object stores whose PUT is atomic: a reader sees the whole object or none of it
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
# extras that bring a scheme's fsspec driver
_EXTRAS = {"s3": ("s3", "s3fs"), "s3a": ("s3", "s3fs")}


def split_url(url: str) -> tuple[str, str]:
    """``("s3", "bucket/prefix")`` for ``s3://bucket/prefix/``; refuses a prefix with
    ``.``, ``..`` or empty segments, so every key stays under the one prefix it names."""
    try:
        return split_artifacts_url(url)
    except ConfigError as exc:
        raise ArtifactError(str(exc)) from None


def open_filesystem(url: str, options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path ``url`` names in it; a missing
    driver is a one-line error naming the extra to install."""
    scheme = url.split("://", 1)[0].lower()
    extra, module = _EXTRAS.get(scheme, ("s3", "fsspec"))
    try:
        import fsspec.core
    except ImportError as exc:
        raise MissingExtraError(f"artifacts on {scheme}://", extra=extra,
                                module="fsspec") from exc
    try:
        fs, root = fsspec.core.url_to_fs(url, **dict(options or {}))
    except ImportError as exc:
        if scheme in _EXTRAS:
            raise MissingExtraError(f"artifacts on {scheme}://", extra=extra,
                                    module=module) from exc
        raise ArtifactError(f"artifacts on {scheme}:// need fsspec's driver for it: "
                            f"{exc}") from exc
    except ValueError as exc:  # an unknown protocol
        raise ArtifactError(f"cannot open the artifact store {url}: {exc}") from exc
    return fs, str(root)


class FsspecArtifactStore:
    """Blobs addressed by sha256 under one fsspec URL, read through a local cache."""

    def __init__(self, url: str, *, cache_root: Path, options: Mapping[str, Any] | None = None,
                 cache_max_bytes: int = DEFAULT_CACHE_BYTES, part_size: int | None = None,
                 ) -> None:
        self.scheme, rest = split_url(url)
        self.url = f"{self.scheme}://{rest}"
        self._options = dict(options or {})
        self.cache = LocalArtifactStore(Path(cache_root))
        self.cache_max_bytes = int(cache_max_bytes)
        self.part_size = part_size
        self._fs: Any = None
        self._root = ""
        self._pid = -1

    def __repr__(self) -> str:  # never the options: they may name a profile or a key
        return f"FsspecArtifactStore({self.url!r})"

    @property
    def location(self) -> str:
        return self.url

    # -- the filesystem -------------------------------------------------------------
    def _filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and the prefix's path in it (made once per process)."""
        if self._fs is None or self._pid != os.getpid():
            fs, root = open_filesystem(self.url, self._options)
            self._fs, self._root, self._pid = fs, root.rstrip("/"), os.getpid()
        return self._fs, self._root

    def key_of(self, sha256: str) -> str:
        digest = check_sha256(sha256)
        return f"{digest[:2]}/{digest}"

    def _path(self, sha256: str) -> str:
        return f"{self._filesystem()[1]}/{self.key_of(sha256)}"

    def _where(self, sha256: str) -> str:
        return f"{self.url}/{self.key_of(sha256)}"

    def _failed(self, doing: str, exc: BaseException) -> ArtifactError:
        return ArtifactError(f"could not {doing} the artifact store {self.url} "
                             f"({type(exc).__name__}: {exc}); nothing was stored")

    def exists(self, sha256: str) -> bool:
        fs, _ = self._filesystem()
        path = self._path(sha256)
        try:
            return bool(fs.exists(path))
        except Exception as exc:  # the driver's own errors too (no credentials, ...)
            raise ArtifactError(f"could not reach the artifact store {self.url} "
                                f"({type(exc).__name__}: {exc})") from exc

    # -- writing --------------------------------------------------------------------
    def _upload(self, local: Path, digest: str) -> None:
        """Upload the spooled file ``local`` (which hashes to ``digest``) to its key."""
        fs, root = self._filesystem()
        final = self._path(digest)
        extra = {"chunksize": self.part_size} if self.part_size and \
            self.scheme in ("s3", "s3a") else {}
        try:
            if self.scheme in ATOMIC_PUT:
                fs.put_file(str(local), final, **extra)
                return
            staging = f"{root}/.incoming-{uuid.uuid4().hex}"
            try:
                fs.put_file(str(local), staging, **extra)
                fs.mv(staging, final)
            except BaseException:
                try:
                    fs.rm_file(staging)
                except Exception:  # it was never created, or is gone already
                    pass
                raise
        except Exception as exc:
            raise self._failed("upload to", exc) from exc

    def _spool(self) -> tuple[int, Path]:
        root = self.cache.root
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".incoming-", dir=root)
        except OSError as exc:
            raise ArtifactError(f"the local artifact cache {root} is not writable "
                                f"({exc.strerror}); nothing was stored") from exc
        return fd, Path(name)

    def put_stream(self, src: BinaryIO, *, media_type: str) -> ArtifactRef:
        fd, tmp = self._spool()
        try:
            digest, size = copy_hashing(src, fd, buffer=_BUF)
            if not self.exists(digest):
                self._upload(tmp, digest)
        finally:
            tmp.unlink(missing_ok=True)
        return ArtifactRef(sha256=digest, size=size, media_type=media_type)

    def put_bytes(self, data: bytes, *, media_type: str = "application/octet-stream"
                  ) -> ArtifactRef:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            fs, _ = self._filesystem()
            if self.scheme in ATOMIC_PUT:
                try:
                    fs.pipe_file(self._path(digest), data)
                except Exception as exc:
                    raise self._failed("upload to", exc) from exc
            else:
                import io

                return self.put_stream(io.BytesIO(data), media_type=media_type)
        return ArtifactRef(sha256=digest, size=len(data), media_type=media_type)

    def put_file(self, path: Path, *, media_type: str | None = None) -> ArtifactRef:
        return put_file(self, path, media_type)

    # -- reading --------------------------------------------------------------------
    def _fetch(self, digest: str) -> None:
        """Download the blob into the cache, verified; a changed remote object is refused
        and leaves nothing in the cache."""
        fs, _ = self._filesystem()
        try:
            src = fs.open(self._path(digest), "rb")
        except FileNotFoundError:
            raise ArtifactError(f"blob {digest[:12]}… is missing from {self.url}; is "
                                "NBMLOPS_ARTIFACTS pointing at the right place?") from None
        except Exception as exc:
            raise ArtifactError(f"could not read blob {digest[:12]}… from {self.url} "
                                f"({type(exc).__name__}: {exc})") from exc
        try:
            with src:
                got = self.cache.put_stream(src, media_type="application/octet-stream")
        except ArtifactError:
            raise
        except Exception as exc:  # the connection broke mid-read, or the cache is full
            raise ArtifactError(f"could not read blob {digest[:12]}… from {self.url} into "
                                f"the cache {self.cache.root} ({type(exc).__name__}: "
                                f"{exc})") from exc
        if got.sha256 != digest:
            self._drop(got.sha256)
            raise ArtifactError(
                f"blob {digest[:12]}… failed verification: its content changed in {self.url} "
                f"(sha256 is now {got.sha256[:12]}…); it was tampered with or corrupted")
        self._evict(keep=digest)

    def _drop(self, digest: str) -> None:
        try:
            self.cache.path_of(digest).unlink(missing_ok=True)
        except (OSError, ArtifactError):
            pass

    def _cached(self, digest: str) -> bool:
        """Whether the cache holds the blob (marking it recently used)."""
        try:
            path = self.cache.path_of(digest)
            os.utime(path)
        except (OSError, ArtifactError):
            return False
        return path.is_file()

    def read_bytes(self, sha256: str) -> bytes:
        digest = check_sha256(sha256)
        if not self._cached(digest):
            self._fetch(digest)
        try:
            return self.cache.read_bytes(digest)
        except ArtifactError:  # the cached copy changed, or was deleted meanwhile
            self._drop(digest)
        self._fetch(digest)
        return self.cache.read_bytes(digest)

    def export(self, sha256: str, dest_root: Path, name: str) -> Path:
        check_name(name)  # before anything is fetched
        digest = check_sha256(sha256)
        if self._cached(digest):
            try:
                self._check_cached(digest)
            except ArtifactError:
                self._drop(digest)
                self._fetch(digest)
        else:
            self._fetch(digest)
        return self.cache.export(digest, Path(dest_root), name)  # verified once more

    def _check_cached(self, digest: str) -> None:
        hasher = hashlib.sha256()
        try:
            with self.cache.path_of(digest).open("rb") as fh:
                while chunk := fh.read(_BUF):
                    hasher.update(chunk)
        except OSError as exc:
            raise ArtifactError(f"cached blob {digest[:12]}… is unreadable: {exc}") from exc
        if hasher.hexdigest() != digest:
            raise ArtifactError(f"cached blob {digest[:12]}… failed verification")

    def _evict(self, *, keep: str) -> None:
        """Remove the least recently used blobs until the cache holds at most
        ``cache_max_bytes`` (never ``keep``, the blob just fetched)."""
        entries: list[tuple[float, int, Path]] = []
        try:
            for folder in os.scandir(self.cache.root):
                if len(folder.name) != 2 or not folder.is_dir(follow_symlinks=False):
                    continue
                for blob in os.scandir(folder.path):
                    if blob.name == keep or not blob.is_file(follow_symlinks=False):
                        continue
                    st = blob.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, Path(blob.path)))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        try:
            total += self.cache.path_of(keep).stat().st_size
        except (OSError, ArtifactError):
            pass
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.cache_max_bytes:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size


__all__ = ["ATOMIC_PUT", "DEFAULT_CACHE_BYTES", "FsspecArtifactStore", "open_filesystem",
           "split_url"]
