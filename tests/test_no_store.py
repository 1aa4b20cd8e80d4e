"""Looking in a folder where nothing was recorded creates nothing and says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import nbmlops


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*"))


def test_reading_the_api_in_an_empty_folder_creates_nothing(store_env: Path) -> None:
    before = _files(store_env)
    assert nbmlops.runs().empty
    assert list(nbmlops.runs().columns[:4]) == ["run_id", "experiment", "name", "status"]
    assert nbmlops.models().empty
    assert nbmlops.deployments().empty
    with pytest.raises(nbmlops.RunNotFoundError, match="no run has that id"):
        nbmlops.get_run("abcd1234")
    with pytest.raises(nbmlops.ModelNotFoundError, match="no registered model has that name"):
        nbmlops.load_model("churn@production")
    with pytest.raises(nbmlops.ModelNotFoundError):
        nbmlops.promote("churn", 1, "production")
    assert _files(store_env) == before
    assert not (store_env / "store").exists()


def test_a_store_made_later_is_read_at_once(store_env: Path) -> None:
    assert nbmlops.runs().empty  # nothing yet; the stand-in is not kept as the store
    with nbmlops.track("e", "first"):
        nbmlops.log_metric("m", 1.0)
    assert list(nbmlops.runs()["name"]) == ["first"]


@pytest.mark.parametrize("command", [["runs", "list"], ["db", "info"], ["models", "list"]])
def test_the_cli_says_there_is_no_store_yet(store_env: Path, command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "nbmlops", *command], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no lineage store at" in done.stderr
    assert "yet" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (store_env / "store").exists()


def test_a_read_workspace_never_creates_and_cannot_record(store_env: Path) -> None:
    from nbmlops.errors import NoStoreError, StoreError
    from nbmlops.tracking import start_run
    from nbmlops.workspace import open_workspace

    with pytest.raises(NoStoreError, match="no lineage store at"):
        open_workspace(mode="read")
    assert not (store_env / "store").exists()
    with nbmlops.track("e"):
        pass
    from nbmlops import api

    api.close()
    ws = open_workspace(mode="read")
    assert ws.mode == "read"
    assert not ws.writable
    with pytest.raises(StoreError, match="opened for reading"):
        start_run(ws, experiment="e")
    assert len(nbmlops.runs()) == 1
