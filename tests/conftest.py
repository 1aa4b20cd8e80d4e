"""Fixtures, layered: a store (every backend) -> a store in the environment -> an IPython
shell with the extension loaded against that store.

PostgreSQL tests use the throwaway server ``./scripts/test`` starts (its URL arrives in
``NBMLOPS_TEST_PG_URL``); each test gets a database of its own. S3 tests use the
S3-compatible server it starts (``scripts/s3``; its endpoint arrives in
``NBMLOPS_TEST_S3_URL``); each test gets a bucket of its own.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("NBMLOPS_TEST_PG_URL")
S3_ENDPOINT = os.environ.get("NBMLOPS_TEST_S3_URL")
# what the usual AWS chain finds; the test server accepts any key
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "nbmlops-test-key",
                  "AWS_SECRET_ACCESS_KEY": "nbmlops-test-secret-do-not-store",
                  "AWS_DEFAULT_REGION": "us-east-1"}
ROOT = Path(__file__).resolve().parents[1]


def _pg_database() -> Iterator[str]:
    import sqlalchemy as sa

    if not PG_URL:
        pytest.skip("NBMLOPS_TEST_PG_URL is not set: ./scripts/test starts PostgreSQL for these")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'lineage.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL of an empty PostgreSQL database (for PostgreSQL-only tests)."""
    yield from _pg_database()


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the test S3 server: ``url`` is a prefix in it, ``options`` what
    nbmlops needs to reach the server, ``fs`` an s3fs filesystem for checking behind
    nbmlops' back."""

    endpoint: str
    bucket: str
    url: str
    options: dict[str, Any]
    fs: Any

    def key(self, relative: str) -> str:
        return f"{self.url.removeprefix('s3://')}/{relative}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """A bucket of its own on the S3 server ``./scripts/test`` starts, with credentials in
    the environment (the usual AWS chain)."""
    if not S3_ENDPOINT:
        pytest.skip("NBMLOPS_TEST_S3_URL is not set: ./scripts/test starts an S3 server for these")
    import s3fs

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    fs = s3fs.S3FileSystem(endpoint_url=S3_ENDPOINT, skip_instance_cache=True,
                           use_listings_cache=False)
    fs.mkdir(bucket)
    yield S3Bucket(endpoint=S3_ENDPOINT, bucket=bucket, url=f"s3://{bucket}/team/artifacts",
                   options={"endpoint_url": S3_ENDPOINT}, fs=fs)
    fs.rm(bucket, recursive=True)


@dataclass(frozen=True)
class ArtifactsEnv:
    """Where the workspace's artifacts live for a test (a folder, or a prefix on the test S3
    server), and a look behind nbmlops' back: the blobs stored, and a way to change one as
    an attacker (or a bad disk) would."""

    name: str  # local | s3
    folder: Path  # the local artifacts folder (on S3: nothing may land in it)
    s3: S3Bucket | None = None

    def blobs(self) -> list[str]:
        """The stored blobs' keys (``ab/ab12…``), sorted."""
        if self.s3 is None:
            return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*")
                          if p.is_file() and not p.name.startswith(".")) \
                if self.folder.exists() else []
        prefix = self.s3.key("")
        return sorted(k[len(prefix):] for k in self.s3.fs.find(prefix)
                      if not k[len(prefix):].startswith("."))

    def tamper(self, sha256: str, change: Any) -> None:
        """Replace the stored blob with ``change(its bytes)``, and forget any local copy."""
        from nbmlops import api

        artifacts = api.workspace().artifacts
        key = artifacts.key_of(sha256)
        if self.s3 is None:
            path = self.folder / key
            path.write_bytes(change(path.read_bytes()))
            return
        self.s3.fs.pipe_file(self.s3.key(key), change(self.s3.fs.cat_file(self.s3.key(key))))
        (artifacts.cache.root / key).unlink(missing_ok=True)  # type: ignore[attr-defined]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def artifacts_env(request: pytest.FixtureRequest, store_env: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactsEnv]:
    """``store_env``, once with its artifacts in a local folder and once on S3."""
    import json

    from nbmlops import api

    if request.param == "local":
        yield ArtifactsEnv("local", store_env / "store" / "artifacts")
        return
    s3 = request.getfixturevalue("s3")
    monkeypatch.setenv("NBMLOPS_ARTIFACTS", s3.url)
    monkeypatch.setenv("NBMLOPS_ARTIFACTS_OPTIONS", json.dumps(s3.options))
    api.close()
    yield ArtifactsEnv("s3", store_env / "store" / "artifacts", s3)


@pytest.fixture
def store(store_url: str):  # type: ignore[no-untyped-def]
    from nbmlops.store import open_store

    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty SQLite store and artifact folder that nbmlops' config points at; the
    working directory is a fresh project folder."""
    from nbmlops import api

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("NBMLOPS_STORE", str(tmp_path / "store" / "lineage.db"))
    monkeypatch.setenv("NBMLOPS_ARTIFACTS", str(tmp_path / "store" / "artifacts"))
    monkeypatch.chdir(project)
    yield tmp_path
    api.close()


_MAIN = sys.modules["__main__"]  # pytest's, before any IPython shell replaces it


@pytest.fixture(autouse=True)
def _real_main() -> Iterator[None]:
    """Give pytest's ``__main__`` back after each test: an IPython shell installs its user
    module there, and later tests must still spawn processes (multiprocessing, dask)."""
    yield
    sys.modules["__main__"] = _MAIN


@pytest.fixture(scope="session")
def ipython_shell():  # type: ignore[no-untyped-def]
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.colors = "nocolor"
    return shell


@pytest.fixture
def shell(ipython_shell, store_env: Path):  # type: ignore[no-untyped-def]
    """A real IPython shell with ``%load_ext nbmlops`` run, on an empty store."""
    ipython_shell.reset(new_session=False)
    sys.modules["__main__"] = ipython_shell.user_module
    result = ipython_shell.run_cell("%load_ext nbmlops", store_history=True)
    assert result.success, result
    yield ipython_shell
    ipython_shell.run_cell("%unload_ext nbmlops")
    ipython_shell.reset(new_session=False)


@pytest.fixture
def kernel(store_env: Path) -> Iterator[Any]:
    """A real Jupyter kernel started in the project folder, as JupyterLab starts one."""
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    env = {**os.environ, "JPY_SESSION_NAME": str(store_env / "project" / "lab.ipynb")}
    km.start_kernel(env=env, cwd=str(store_env / "project"))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)  # a busy machine starts kernels slowly
    yield km, kc
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)
