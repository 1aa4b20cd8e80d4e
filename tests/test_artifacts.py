"""The artifact stores and artifact names: content addressing, verification, and names
that can never leave the folder they are written to.

Every test of a store runs on each backend: a local folder and an S3 prefix on the test
S3 server (``scripts/s3``); tests of what only a folder has (symlinks in it) run on the
local store alone."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nbmlops.artifacts import ArtifactStore
from nbmlops.artifacts.local import LocalArtifactStore, guess_media_type, iter_files
from nbmlops.artifacts.names import MAX_NAME, check_name, check_sha256
from nbmlops.artifacts.remote import FsspecArtifactStore
from nbmlops.errors import ArtifactError, NbmlopsError

DATA = b"the same bytes, stored twice"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(folder: Path) -> dict[str, bytes | str | None]:
    """Everything under ``folder``: files with their bytes, symlinks with their target,
    folders as None."""
    out: dict[str, bytes | str | None] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in (*dirnames, *filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = None
            else:
                out[rel] = p.read_bytes()
    return out


def _incoming(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".incoming-*"))


def _blobs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


@dataclass
class Backend:
    """A store and a look behind its back: the blobs it holds, its temporary files, and a
    way to change a stored blob as an attacker (or a bad disk) would."""

    store: Any
    name: str
    s3: Any = None  # tests.conftest.S3Bucket

    def blobs(self) -> list[str]:
        """The blobs' keys (``ab/ab12…``), sorted."""
        if self.s3 is None:
            root = self.store.root
            return [p.relative_to(root).as_posix() for p in _blobs(root)] \
                if root.exists() else []
        prefix = self.s3.key("")
        return sorted(k[len(prefix):] for k in self.s3.fs.find(prefix)
                      if not k[len(prefix):].startswith("."))

    def raw(self, key: str) -> bytes:
        if self.s3 is None:
            return bytes((self.store.root / key).read_bytes())
        return bytes(self.s3.fs.cat_file(self.s3.key(key)))

    def incoming(self) -> list[str]:
        """Temporary files and keys left anywhere the store writes."""
        local = self.store.root if self.s3 is None else self.store.cache.root
        found = [p.name for p in _incoming(local)] if local.exists() else []
        if self.s3 is not None:
            found += [k for k in self.s3.fs.find(self.s3.key("")) if "/.incoming-" in k]
        return found

    def spool_dir(self) -> Path:
        return Path(self.store.root if self.s3 is None else self.store.cache.root)

    def tamper(self, sha256: str, data: bytes) -> None:
        """Replace the stored blob's bytes (and forget any local copy of it)."""
        key = self.store.key_of(sha256)
        if self.s3 is None:
            (self.store.root / key).write_bytes(data)
            return
        self.s3.fs.pipe_file(self.s3.key(key), data)
        (self.store.cache.root / key).unlink(missing_ok=True)

    def snapshot(self) -> dict[str, bytes | str | None]:
        if self.s3 is None:
            return _tree(self.store.root)
        return {k: self.raw(k) for k in self.blobs()}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend(LocalArtifactStore(tmp_path / "store"), "local")
    s3 = request.getfixturevalue("s3")
    store = FsspecArtifactStore(s3.url, options=s3.options, cache_root=tmp_path / "cache")
    return Backend(store, "s3", s3)


@pytest.fixture
def store(backend: Backend) -> ArtifactStore:
    return backend.store  # type: ignore[no-any-return]


@pytest.fixture
def local_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


# -- names --------------------------------------------------------------------------------

HOSTILE_NAMES = [
    pytest.param("../x", id="dotdot"),
    pytest.param("a/../../x", id="inner-dotdot"),
    pytest.param("..", id="bare-dotdot"),
    pytest.param(".", id="bare-dot"),
    pytest.param("a/./b", id="dot-segment"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("\\\\server\\share", id="unc"),
    pytest.param("C:\\x", id="drive-backslash"),
    pytest.param("C:/x", id="drive-slash"),
    pytest.param("C:x", id="drive-relative"),
    pytest.param("a\\..\\..\\x", id="backslash-traversal"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("", id="empty"),
    pytest.param("%2e%2e/x", id="pct-dots"),
    pytest.param("%2e%2e%2fx", id="pct-dots-slash"),
    pytest.param("%2E%2E%2Fx", id="pct-uppercase"),
    pytest.param("%252e%252e%252fx", id="pct-double"),
    pytest.param("%25252525252e%25252525252e/x", id="pct-five-times"),
    pytest.param("..%2fx", id="dots-pct-slash"),
    pytest.param("%2fetc%2fpasswd", id="pct-absolute"),
    pytest.param("a%00b", id="pct-nul"),
    pytest.param("．．／x", id="fullwidth"),
    pytest.param("%ef%bc%8e%ef%bc%8e/x", id="pct-fullwidth"),
    pytest.param("％２ｅ％２ｅ／x", id="fullwidth-pct"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\x7fb", id="del"),
    pytest.param("a" * (MAX_NAME + 1), id="too-long"),
    pytest.param(42, id="int"),
    pytest.param(None, id="none"),
    pytest.param(b"model", id="bytes"),
    pytest.param(Path("model"), id="path"),
    pytest.param("a#b", id="hash"),
    pytest.param("a?b", id="question-mark"),
    pytest.param("a%23b", id="pct-hash"),
    pytest.param("a\u2215b", id="division-slash"),
    pytest.param("..\u2215x", id="division-slash-traversal"),
    pytest.param("a\u2044b", id="fraction-slash"),
    pytest.param("a\u29f8b", id="big-solidus"),
    pytest.param("a\u2216b", id="set-minus"),
    pytest.param("a%E2%88%95b", id="pct-division-slash"),
]

GOOD_NAMES = [
    "model",
    "plots/roc.png",
    "a b/ü.txt",
    "100%.txt",  # not a valid escape: stays literally '100%.txt'
    "a%20b.txt",  # decodes to 'a b.txt', which is harmless: written literally
    "...",  # a legal file name, not a traversal
    "a/.hidden",
    "v1.2/model.pkl",
    "日本/データ.csv",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_check_name_refuses_hostile_names(name: object) -> None:
    with pytest.raises(ArtifactError) as info:
        check_name(name)
    assert isinstance(info.value, NbmlopsError)
    assert isinstance(info.value, ValueError)
    if isinstance(name, str) and len(name) <= MAX_NAME:
        assert info.value.name == name
        assert "not allowed" in str(info.value)
        assert "relative path like 'model'" in str(info.value)  # says what is allowed
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_export_refuses_hostile_names_and_writes_nothing(
    backend: Backend, tmp_path: Path, name: object
) -> None:
    store = backend.store
    ref = store.put_bytes(b"payload")
    parent = tmp_path / "work"
    dest = parent / "deep" / "dest"
    dest.mkdir(parents=True)
    (parent / "keep.txt").write_bytes(b"untouched")
    before = _tree(parent)
    blobs_before = backend.snapshot()

    with pytest.raises(ArtifactError):
        store.export(ref.sha256, dest, name)  # type: ignore[arg-type]

    assert _tree(parent) == before  # nothing beside, above or inside the destination
    assert backend.snapshot() == blobs_before
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_accepted_and_exported_inside(
    store: ArtifactStore, tmp_path: Path, name: str
) -> None:
    assert check_name(name) == name
    ref = store.put_bytes(name.encode())
    dest = tmp_path / "dest"
    target = store.export(ref.sha256, dest, name)
    assert target == dest.joinpath(*name.split("/"))
    assert target.read_bytes() == name.encode()
    assert target.resolve().is_relative_to(dest.resolve())
    files = [p for p in dest.rglob("*") if p.is_file()]
    assert files == [target]


def test_name_length_limit_is_exact(store: ArtifactStore, tmp_path: Path) -> None:
    longest = "/".join(["a" * 127] * 4)  # 4 * 127 + 3 = 511 characters
    longest += "b"
    assert len(longest) == MAX_NAME
    assert check_name(longest) == longest
    with pytest.raises(ArtifactError, match="longer than 512"):
        check_name(longest + "c")
    ref = store.put_bytes(b"x")
    assert store.export(ref.sha256, tmp_path / "d", longest).read_bytes() == b"x"


def test_non_string_name_error_names_the_type() -> None:
    with pytest.raises(ArtifactError, match="must be a string, not int"):
        check_name(3)


@pytest.mark.parametrize(
    "digest",
    [
        "A" * 64,
        "ABCDEF" + "0" * 58,
        "0" * 63,
        "0" * 65,
        "g" * 64,
        " " + "0" * 63,
        "0" * 64 + "\n",
        "../" + "0" * 61,
        "",
        None,
        0,
        b"0" * 64,
    ],
)
def test_check_sha256_refuses_non_digests(digest: object) -> None:
    with pytest.raises(ArtifactError, match="not a sha256 digest"):
        check_sha256(digest)


def test_check_sha256_accepts_lowercase_hex() -> None:
    digest = _sha(b"abc")
    assert check_sha256(digest) == digest


# -- blobs --------------------------------------------------------------------------------


def test_same_bytes_stored_twice_is_one_blob(backend: Backend) -> None:
    store = backend.store
    first = store.put_bytes(DATA)
    second = store.put_bytes(DATA)
    assert first == second
    assert first.sha256 == _sha(DATA)
    assert first.size == len(DATA)
    assert first.media_type == "application/octet-stream"
    key = store.key_of(first.sha256)
    assert key == f"{first.sha256[:2]}/{first.sha256}"
    if isinstance(store, LocalArtifactStore):
        assert store.path_of(first.sha256) == store.root / first.sha256[:2] / first.sha256
    assert backend.blobs() == [key]
    assert backend.raw(key) == DATA
    assert backend.incoming() == []


def test_put_bytes_stream_and_file_agree(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    data = bytes(range(256)) * 10_000  # 2.5 MiB: more than one read buffer
    src = tmp_path / "data.bin"
    src.write_bytes(data)

    by_bytes = store.put_bytes(data)
    by_stream = store.put_stream(io.BytesIO(data), media_type="application/x-test")
    by_file = store.put_file(src)

    assert by_bytes.sha256 == by_stream.sha256 == by_file.sha256 == _sha(data)
    assert by_bytes.size == by_stream.size == by_file.size == len(data)
    assert by_stream.media_type == "application/x-test"
    assert len(backend.blobs()) == 1
    assert store.read_bytes(by_file.sha256) == data
    assert backend.incoming() == []


def test_different_bytes_are_different_blobs(backend: Backend) -> None:
    store = backend.store
    a = store.put_bytes(b"a")
    b = store.put_stream(io.BytesIO(b"b"), media_type="text/plain")
    assert a.sha256 != b.sha256
    assert len(backend.blobs()) == 2
    assert store.read_bytes(a.sha256) == b"a"
    assert store.read_bytes(b.sha256) == b"b"


def test_empty_blob(store: ArtifactStore) -> None:
    ref = store.put_stream(io.BytesIO(b""), media_type="text/plain")
    assert ref.sha256 == _sha(b"")
    assert ref.size == 0
    assert store.read_bytes(ref.sha256) == b""


def test_put_file_guesses_media_type(store: ArtifactStore, tmp_path: Path) -> None:
    png = tmp_path / "roc.png"
    png.write_bytes(b"\x89PNG")
    csv = tmp_path / "data.csv"
    csv.write_bytes(b"a,b\n")
    odd = tmp_path / "weights.zzzunknown"
    odd.write_bytes(b"w")
    assert store.put_file(png).media_type == "image/png"
    assert store.put_file(csv).media_type == "text/csv"
    assert store.put_file(odd).media_type == "application/octet-stream"
    assert store.put_file(png, media_type="application/x-custom").media_type == (
        "application/x-custom")
    assert guess_media_type("model.json") == "application/json"


def test_put_file_refuses_a_folder_or_missing_file(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    with pytest.raises(ArtifactError, match="is not a file"):
        store.put_file(tmp_path)
    with pytest.raises(ArtifactError, match="is not a file"):
        store.put_file(tmp_path / "missing.bin")
    assert backend.blobs() == []


def test_exists(store: ArtifactStore) -> None:
    assert not store.exists(_sha(DATA))
    store.put_bytes(DATA)
    assert store.exists(_sha(DATA))


def test_read_bytes_verifies_content(backend: Backend) -> None:
    store = backend.store
    ref = store.put_bytes(DATA)
    raw = bytearray(backend.raw(store.key_of(ref.sha256)))
    raw[5] ^= 0x01
    backend.tamper(ref.sha256, bytes(raw))
    with pytest.raises(ArtifactError, match="failed verification"):
        store.read_bytes(ref.sha256)


def test_read_bytes_of_missing_blob(store: ArtifactStore) -> None:
    store.put_bytes(b"something else")
    with pytest.raises(ArtifactError, match="missing"):
        store.read_bytes(_sha(b"never stored"))


def test_read_bytes_refuses_bad_digest(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactError, match="not a sha256 digest"):
        store.read_bytes("../../etc/passwd")


class _FailingStream(io.RawIOBase):
    """Gives one chunk, then fails as a broken network stream or disk would."""

    def __init__(self, exc: BaseException) -> None:
        self.calls = 0
        self.exc = exc

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return b"first chunk"
        raise self.exc


@pytest.mark.parametrize("exc", [OSError("disk went away"), KeyboardInterrupt()])
def test_failed_stream_leaves_no_temp_file_and_no_blob(
    backend: Backend, exc: BaseException
) -> None:
    store = backend.store
    with pytest.raises(type(exc)):
        store.put_stream(_FailingStream(exc), media_type="text/plain")  # type: ignore[arg-type]
    assert backend.spool_dir().is_dir()  # the temp file was really created there...
    assert backend.incoming() == []  # ...and removed
    assert backend.blobs() == []


def test_no_temp_files_after_success(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    store.put_bytes(DATA)
    store.put_bytes(DATA)
    store.put_stream(io.BytesIO(DATA), media_type="text/plain")  # already there
    store.put_stream(io.BytesIO(b"new"), media_type="text/plain")
    f = tmp_path / "f.txt"
    f.write_bytes(b"file")
    store.put_file(f)
    assert backend.incoming() == []
    assert len(backend.blobs()) == 3


# -- export -------------------------------------------------------------------------------


def test_export_writes_the_blob(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes(DATA)
    dest = tmp_path / "out" / "not-yet-there"
    target = store.export(ref.sha256, dest, "models/model.pkl")
    assert target == dest / "models" / "model.pkl"
    assert target.read_bytes() == DATA
    assert _incoming(dest) == []


def test_export_replaces_an_existing_file(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes(DATA)
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "f.txt").write_bytes(b"old")
    store.export(ref.sha256, tmp_path / "dest", "f.txt")
    assert (tmp_path / "dest" / "f.txt").read_bytes() == DATA


def test_export_of_corrupt_blob_writes_nothing(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    ref = store.put_bytes(DATA)
    backend.tamper(ref.sha256, DATA[:-1] + b"?")
    dest = tmp_path / "dest"
    with pytest.raises(ArtifactError, match="failed verification"):
        store.export(ref.sha256, dest, "f.txt")
    assert not (dest / "f.txt").exists()
    assert _incoming(dest) == []


def test_export_of_missing_blob_writes_nothing(
    store: ArtifactStore, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ArtifactError, match="missing"):
        store.export(_sha(b"never"), dest, "f.txt")
    assert not (dest / "f.txt").exists()
    assert _incoming(dest) == []


def test_export_through_symlinked_folder_outside_is_refused(
    store: ArtifactStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(DATA)
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "link").symlink_to(outside, target_is_directory=True)

    for name in ("link/f.txt", "link/sub/deeper/f.txt"):
        with pytest.raises(ArtifactError, match="outside"):
            store.export(ref.sha256, dest, name)
    assert list(outside.iterdir()) == []  # not even an empty folder was created there
    assert _tree(dest) == {"link": f"-> {outside}"}


def test_export_through_dangling_symlinked_folder_is_refused(
    store: ArtifactStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(DATA)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    with pytest.raises(ArtifactError, match="outside"):
        store.export(ref.sha256, dest, "link/f.txt")
    assert not (tmp_path / "nowhere").exists()


def test_export_through_symlinked_folder_inside_is_allowed(
    store: ArtifactStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(DATA)
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "alias").symlink_to(dest / "real", target_is_directory=True)
    store.export(ref.sha256, dest, "alias/f.txt")
    assert (dest / "real" / "f.txt").read_bytes() == DATA


def test_export_onto_existing_symlink_is_refused(
    store: ArtifactStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(DATA)
    dest = tmp_path / "dest"
    dest.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (dest / "f.txt").symlink_to(victim)
    inside = dest / "inside.txt"
    inside.write_bytes(b"inside")
    (dest / "g.txt").symlink_to(inside)

    with pytest.raises(ArtifactError, match="symlink"):
        store.export(ref.sha256, dest, "f.txt")
    with pytest.raises(ArtifactError, match="symlink"):
        store.export(ref.sha256, dest, "g.txt")
    assert victim.read_bytes() == b"precious"
    assert inside.read_bytes() == b"inside"
    assert (dest / "f.txt").is_symlink()
    assert _incoming(dest) == []


# -- blob addresses -------------------------------------------------------------------------


def test_path_of_refuses_blob_folder_symlinked_outside(
    local_store: LocalArtifactStore, tmp_path: Path
) -> None:
    digest = _sha(DATA)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / digest).write_bytes(DATA)  # a perfectly valid blob, but not ours
    local_store.root.mkdir()
    (local_store.root / digest[:2]).symlink_to(outside, target_is_directory=True)

    with pytest.raises(ArtifactError, match="outside the artifact root"):
        local_store.path_of(digest)
    with pytest.raises(ArtifactError, match="outside the artifact root"):
        local_store.read_bytes(digest)
    assert sorted(p.name for p in outside.iterdir()) == [digest]


def test_path_of_refuses_blob_file_symlinked_outside(
    local_store: LocalArtifactStore, tmp_path: Path
) -> None:
    digest = _sha(DATA)
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(DATA)
    (local_store.root / digest[:2]).mkdir(parents=True)
    (local_store.root / digest[:2] / digest).symlink_to(outside)
    with pytest.raises(ArtifactError, match="outside the artifact root"):
        local_store.read_bytes(digest)


def test_put_bytes_through_symlinked_blob_folder_writes_nothing_outside(
    local_store: LocalArtifactStore, tmp_path: Path
) -> None:
    digest = _sha(DATA)
    outside = tmp_path / "outside"
    outside.mkdir()
    local_store.root.mkdir()
    (local_store.root / digest[:2]).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactError):
        local_store.put_bytes(DATA)
    with pytest.raises(ArtifactError):
        local_store.put_stream(io.BytesIO(DATA), media_type="text/plain")
    assert list(outside.iterdir()) == []
    assert _incoming(local_store.root) == []


def test_path_of_allows_blob_folder_symlinked_inside(
    local_store: LocalArtifactStore, tmp_path: Path
) -> None:
    digest = _sha(DATA)
    local_store.root.mkdir()
    (local_store.root / "shard").mkdir()
    (local_store.root / digest[:2]).symlink_to(local_store.root / "shard", target_is_directory=True)
    ref = local_store.put_bytes(DATA)
    assert (local_store.root / "shard" / digest).read_bytes() == DATA
    assert local_store.read_bytes(ref.sha256) == DATA


# -- iter_files ---------------------------------------------------------------------------


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "folder"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "b.txt").write_text("b")
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "c.txt").write_text("c")
    (folder / "sub" / "deeper" / "d.txt").write_text("d")
    return folder


def test_iter_files_yields_relative_posix_names(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    found = list(iter_files(folder))
    assert sorted(name for _, name in found) == [
        "a.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]
    for path, name in found:
        assert path == folder / name
        check_name(name)


def test_iter_files_refuses_file_symlink_outside(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (folder / "sub" / "leak.txt").symlink_to(secret)
    with pytest.raises(ArtifactError, match="links outside"):
        list(iter_files(folder))


def test_iter_files_refuses_relative_file_symlink_outside(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "sub" / "deeper" / "leak.txt").symlink_to("../../../secret.txt")
    with pytest.raises(ArtifactError, match="links outside"):
        list(iter_files(folder))


def test_iter_files_refuses_dir_symlink_outside(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    (folder / "sub" / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactError, match="links outside") as info:
        list(iter_files(folder))
    assert info.value.name == str(folder / "sub" / "escape")


def test_iter_files_refuses_dangling_symlink_outside(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "ghost").symlink_to(tmp_path / "not-there")
    with pytest.raises(ArtifactError, match="links outside"):
        list(iter_files(folder))


def test_iter_files_accepts_symlinks_inside(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "alias.txt").symlink_to(folder / "sub" / "c.txt")
    (folder / "sub" / "deeper" / "up.txt").symlink_to("../../a.txt")
    (folder / "subalias").symlink_to(folder / "sub", target_is_directory=True)
    found = dict((name, path) for path, name in iter_files(folder))
    # symlinked folders are not descended into: what they point at is listed already
    assert sorted(found) == [
        "a.txt", "alias.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt", "sub/deeper/up.txt"]
    assert found["alias.txt"].read_text() == "c"
    assert found["sub/deeper/up.txt"].read_text() == "a"


def test_iter_files_through_a_symlinked_root(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "alias.txt").symlink_to(folder / "a.txt")
    link = tmp_path / "link-to-folder"
    link.symlink_to(folder, target_is_directory=True)
    names = sorted(name for _, name in iter_files(link))
    assert names == ["a.txt", "alias.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]


def test_export_over_an_existing_folder_is_an_artifact_error(
    store: ArtifactStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(b"x")
    (tmp_path / "dest" / "model").mkdir(parents=True)
    with pytest.raises(ArtifactError, match="is a folder"):
        store.export(ref.sha256, tmp_path / "dest", "model")


def test_iter_files_order_is_stable(tmp_path: Path) -> None:
    for name in ("b/2.txt", "a/1.txt", "c.txt", "a/z/3.txt"):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_text(name)
    assert [rel for _, rel in iter_files(tmp_path / "src")] == [
        "c.txt", "a/1.txt", "a/z/3.txt", "b/2.txt"]
