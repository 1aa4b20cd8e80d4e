"""What only a store on an fsspec filesystem has: uploads of the same blob racing from
several processes, multipart uploads, the local cache, the staging key on filesystems
without an atomic PUT, the scheme registry, and errors that name the extra to install.
The guarantees every store shares are tested on each backend in test_artifacts.py."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from nbmlops.artifacts import LocalArtifactStore, open_artifact_store, register, schemes
from nbmlops.artifacts.remote import FsspecArtifactStore
from nbmlops.errors import ArtifactError, MissingExtraError

DATA = b"bytes that live in a bucket"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remote(s3: Any, tmp_path: Path, **kw: Any) -> FsspecArtifactStore:
    return FsspecArtifactStore(s3.url, options=s3.options, cache_root=tmp_path / "cache", **kw)


def _cached(store: FsspecArtifactStore) -> list[str]:
    root = store.cache.root
    return sorted(p.name for p in root.rglob("*") if p.is_file()
                  and not p.name.startswith(".")) if root.exists() else []


# -- the same blob from 8 processes at once ----------------------------------------------

WORKERS = 8


def _upload_worker(location: str, options: dict[str, Any], cache_root: str, data: bytes,
                   barrier: Any, results: Any) -> None:
    store = open_artifact_store(location, options=options, cache_root=Path(cache_root))
    store.exists(_sha(b"warm up the connection"))
    barrier.wait(timeout=120)
    start = time.time()
    ref = store.put_bytes(data)
    results.put((ref.sha256, ref.size, start, time.time()))


@pytest.mark.parametrize("backend", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_eight_processes_upload_the_same_blob_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = os.urandom(8 << 20)  # large enough that the uploads take a while
    if backend == "s3":
        s3 = request.getfixturevalue("s3")
        location, options = s3.url, s3.options
    else:
        location, options = str(tmp_path / "store"), {}
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_upload_worker, args=(location, options,
                                                      str(tmp_path / f"cache-{i}"), data,
                                                      barrier, results))
             for i in range(WORKERS)]
    for p in procs:
        p.start()
    got = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert {(sha, size) for sha, size, _, _ in got} == {(_sha(data), len(data))}
    # the uploads really overlapped: most started before the first one finished (a loaded
    # machine may start a process or two late)
    first_end = min(end for _, _, _, end in got)
    assert sum(start < first_end for _, _, start, _ in got) >= WORKERS // 2
    store = open_artifact_store(location, options=options, cache_root=tmp_path / "reader")
    assert store.read_bytes(_sha(data)) == data
    if backend == "s3":
        keys = s3.fs.find(s3.key(""))
        assert keys == [s3.key(store.key_of(_sha(data)))]  # one object, no staging keys
    else:
        files = sorted(p.relative_to(location).as_posix()
                       for p in Path(location).rglob("*") if p.is_file())
        assert files == [store.key_of(_sha(data))]


# -- uploads ------------------------------------------------------------------------------

@pytest.mark.s3
def test_an_existing_blob_is_not_uploaded_again(s3: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = _remote(s3, tmp_path)
    src = tmp_path / "model.bin"
    src.write_bytes(DATA)
    first = store.put_bytes(DATA)
    fs, _ = store._filesystem()

    def no_upload(*args: object, **kwargs: object) -> None:
        raise AssertionError("uploaded again")

    for method in ("pipe_file", "put_file", "put", "pipe", "open"):
        monkeypatch.setattr(fs, method, no_upload)
    assert store.put_bytes(DATA) == first
    assert store.put_stream(io.BytesIO(DATA), media_type="application/octet-stream") == first
    assert store.put_file(src).sha256 == first.sha256


@pytest.mark.s3
def test_large_files_go_up_in_parts(s3: Any, tmp_path: Path) -> None:
    store = _remote(s3, tmp_path, part_size=5 << 20)
    data = os.urandom(12 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    ref = store.put_file(src)
    etag = s3.fs.info(s3.key(store.key_of(ref.sha256)))["ETag"].strip('"')
    assert etag.endswith("-3")  # S3's mark of an object uploaded as 3 parts
    assert store.read_bytes(ref.sha256) == data
    small = store.put_bytes(DATA)
    assert "-" not in s3.fs.info(s3.key(store.key_of(small.sha256)))["ETag"]


@pytest.mark.s3
def test_what_goes_up_is_what_was_hashed(s3: Any, tmp_path: Path) -> None:
    """A source is copied to a local spool while hashed; that copy is what is uploaded."""

    class Shifty(io.RawIOBase):
        def __init__(self) -> None:
            self.reads = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.reads += 1
            return DATA if self.reads == 1 else b""

    store = _remote(s3, tmp_path)
    ref = store.put_stream(Shifty(), media_type="text/plain")  # type: ignore[arg-type]
    assert ref.sha256 == _sha(DATA)
    assert s3.fs.cat_file(s3.key(store.key_of(ref.sha256))) == DATA


# -- reads and the cache -------------------------------------------------------------------

@pytest.mark.s3
def test_reads_fill_the_cache_and_writes_do_not(s3: Any, tmp_path: Path) -> None:
    store = _remote(s3, tmp_path)
    ref = store.put_bytes(DATA)
    assert _cached(store) == []
    assert store.read_bytes(ref.sha256) == DATA
    assert _cached(store) == [ref.sha256]
    s3.fs.rm(s3.key(store.key_of(ref.sha256)))  # from now on only the cache has it
    assert store.read_bytes(ref.sha256) == DATA


@pytest.mark.s3
def test_the_cache_is_safe_to_delete(s3: Any, tmp_path: Path) -> None:
    store = _remote(s3, tmp_path)
    ref = store.put_bytes(DATA)
    assert store.read_bytes(ref.sha256) == DATA
    shutil.rmtree(store.cache.root)
    assert store.read_bytes(ref.sha256) == DATA
    assert store.export(ref.sha256, tmp_path / "out", "f.bin").read_bytes() == DATA
    assert _cached(store) == [ref.sha256]


@pytest.mark.s3
def test_a_changed_cached_copy_is_fetched_again(s3: Any, tmp_path: Path) -> None:
    store = _remote(s3, tmp_path)
    ref = store.put_bytes(DATA)
    store.read_bytes(ref.sha256)
    cached = store.cache.path_of(ref.sha256)
    cached.write_bytes(b"changed on this disk")
    assert store.read_bytes(ref.sha256) == DATA
    assert cached.read_bytes() == DATA
    cached.write_bytes(b"changed again")
    assert store.export(ref.sha256, tmp_path / "out", "f.bin").read_bytes() == DATA
    assert cached.read_bytes() == DATA


@pytest.mark.s3
def test_a_changed_remote_blob_fails_verification_and_caches_nothing(
    s3: Any, tmp_path: Path
) -> None:
    store = _remote(s3, tmp_path)
    ref = store.put_bytes(DATA)
    s3.fs.pipe_file(s3.key(store.key_of(ref.sha256)), b"tampered in the bucket")
    with pytest.raises(ArtifactError, match="failed verification"):
        store.read_bytes(ref.sha256)
    with pytest.raises(ArtifactError, match="failed verification"):
        store.export(ref.sha256, tmp_path / "out", "f.bin")
    assert not (tmp_path / "out" / "f.bin").exists()
    assert _cached(store) == []


@pytest.mark.s3
def test_the_cache_is_bounded_least_recently_used_first(s3: Any, tmp_path: Path) -> None:
    store = _remote(s3, tmp_path, cache_max_bytes=2500)
    refs = [store.put_bytes(bytes([i]) * 1000) for i in range(4)]
    for i, ref in enumerate(refs[:3]):
        store.read_bytes(ref.sha256)
        os.utime(store.cache.path_of(ref.sha256), (1000.0 + i, 1000.0 + i))
    # three blobs of 1000 bytes do not fit in 2500: the oldest went when the third came
    assert _cached(store) == sorted(r.sha256 for r in refs[1:3])
    store.read_bytes(refs[1].sha256)  # now the most recently used
    store.read_bytes(refs[3].sha256)
    assert _cached(store) == sorted([refs[1].sha256, refs[3].sha256])
    assert store.read_bytes(refs[0].sha256) == bytes([0]) * 1000  # fetched again


@pytest.mark.s3
def test_a_blob_missing_from_the_bucket_is_an_artifact_error(s3: Any, tmp_path: Path) -> None:
    store = _remote(s3, tmp_path)
    with pytest.raises(ArtifactError, match="missing from s3://"):
        store.read_bytes(_sha(b"never stored"))
    with pytest.raises(ArtifactError, match="missing from s3://"):
        store.export(_sha(b"never stored"), tmp_path / "out", "f.bin")
    assert not (tmp_path / "out" / "f.bin").exists()


# -- names and addresses --------------------------------------------------------------------

@pytest.mark.parametrize("url", ["s3://bucket/a/../b", "s3://bucket/./a", "s3://bucket//a",
                                 "s3://", "s3:///", "bucket/prefix", "s3://bucket/a/.."])
def test_a_prefix_that_is_not_plain_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        FsspecArtifactStore(url, cache_root=tmp_path)


def test_keys_are_made_only_of_digests(tmp_path: Path) -> None:
    store = FsspecArtifactStore("s3://bucket/prefix/", cache_root=tmp_path)
    assert store.url == "s3://bucket/prefix"
    digest = _sha(DATA)
    assert store.key_of(digest) == f"{digest[:2]}/{digest}"
    for bad in ("../" + digest[3:], digest.upper(), digest[:63], "../../etc/passwd"):
        with pytest.raises(ArtifactError, match="not a sha256 digest"):
            store.key_of(bad)
        with pytest.raises(ArtifactError, match="not a sha256 digest"):
            store.read_bytes(bad)  # refused before anything is asked of the bucket
    with pytest.raises(ArtifactError, match="not allowed"):
        store.export(digest, tmp_path / "out", "../escape")
    assert not (tmp_path / "escape").exists()


# -- filesystems without an atomic PUT --------------------------------------------------------

def test_without_an_atomic_put_blobs_go_through_a_staging_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec

    url = f"memory://nbmlops-{uuid.uuid4().hex}/artifacts"
    store = FsspecArtifactStore(url, cache_root=tmp_path / "cache")
    fs = fsspec.filesystem("memory")
    moves: list[tuple[str, str]] = []
    real_mv = fs.mv
    monkeypatch.setattr(fs, "mv", lambda a, b, **kw: (moves.append((a, b)), real_mv(a, b))[1])
    ref = store.put_bytes(DATA)
    root = url.removeprefix("memory://")
    final = f"/{root}/{store.key_of(ref.sha256)}"
    assert [b for _, b in moves] == [final.lstrip("/")] or [b for _, b in moves] == [final]
    assert "/.incoming-" in moves[0][0]
    assert [k.lstrip("/") for k in fs.find(root)] == [final.lstrip("/")]
    assert store.read_bytes(ref.sha256) == DATA

    def broken_mv(a: str, b: str, **kw: object) -> None:
        raise OSError("the move failed")

    monkeypatch.setattr(fs, "mv", broken_mv)
    with pytest.raises(ArtifactError, match="could not upload"):
        store.put_bytes(b"another blob")
    assert [k.lstrip("/") for k in fs.find(root)] == [final.lstrip("/")]  # no staging key left


# -- the registry and missing extras --------------------------------------------------------

def test_locations_open_the_right_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_artifact_store(tmp_path / "a"), LocalArtifactStore)
    assert isinstance(open_artifact_store(str(tmp_path / "a")), LocalArtifactStore)
    local = open_artifact_store(f"file://{tmp_path / 'b'}")
    assert isinstance(local, LocalArtifactStore)
    assert local.location == str(tmp_path / "b")
    assert isinstance(open_artifact_store("s3://bucket/p", cache_root=tmp_path),
                      FsspecArtifactStore)

    made: list[tuple[str, dict[str, Any], Path]] = []

    def factory(url: str, *, options: dict[str, Any], cache_root: Path) -> Any:
        made.append((url, options, cache_root))
        return LocalArtifactStore(cache_root)

    monkeypatch.setattr(schemes, "_factories", {})
    register("Mine", factory)
    opened = open_artifact_store("mine://x/y", options={"a": 1}, cache_root=tmp_path / "c")
    assert made == [("mine://x/y", {"a": 1}, tmp_path / "c")]
    assert isinstance(opened, LocalArtifactStore)

    class EntryPoint:
        def load(self) -> Any:
            return factory

    import importlib.metadata

    seen: list[dict[str, Any]] = []

    def entry_points(**kw: Any) -> list[EntryPoint]:
        seen.append(kw)
        return [EntryPoint()] if kw.get("name") == "viaplugin" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    open_artifact_store("viaplugin://z", cache_root=tmp_path / "d")
    assert seen[-1] == {"group": "nbmlops.artifact_stores", "name": "viaplugin"}
    assert made[-1][0] == "viaplugin://z"


def test_without_s3fs_the_error_names_the_extra(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import fsspec.registry  # noqa: F401  (the module; fsspec.registry names its mapping)

    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)
    store = FsspecArtifactStore("s3://bucket/prefix", cache_root=tmp_path)
    with pytest.raises(MissingExtraError) as info:
        store.put_bytes(DATA)
    assert str(info.value) == ("artifacts on s3:// needs the optional dependency 's3fs': "
                               'pip install "nbmlops[s3]"')


def test_options_are_never_shown(tmp_path: Path) -> None:
    store = FsspecArtifactStore("s3://bucket/p", cache_root=tmp_path,
                                options={"profile": "team-secret-profile",
                                         "endpoint_url": "http://127.0.0.1:1"})
    assert "team-secret-profile" not in repr(store)
    assert store.location == "s3://bucket/p"


def test_the_drivers_own_errors_are_artifact_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver raises what it likes (botocore's NoCredentialsError is no OSError): the
    caller gets one ArtifactError naming the store, and nothing half-done."""
    import fsspec

    class NoCredentials(Exception):
        pass

    url = f"memory://nbmlops-{uuid.uuid4().hex}/artifacts"
    store = FsspecArtifactStore(url, cache_root=tmp_path / "cache")
    ref = store.put_bytes(DATA)
    fs = fsspec.filesystem("memory")

    def refuse(*args: object, **kwargs: object) -> None:
        raise NoCredentials("Unable to locate credentials")

    monkeypatch.setattr(fs, "exists", refuse)
    with pytest.raises(ArtifactError, match=r"could not reach the artifact store memory://.*"
                                            "NoCredentials: Unable to locate credentials"):
        store.put_bytes(b"new")
    monkeypatch.undo()
    monkeypatch.setattr(fs, "open", refuse)
    with pytest.raises(ArtifactError, match="could not read blob"):
        store.read_bytes(ref.sha256)
    assert _cached(store) == []
