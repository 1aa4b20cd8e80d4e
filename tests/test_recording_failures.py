"""When nbmlops cannot record something, it says so plainly and the run says so too:
store errors without the statement's values, read-only folders named as such, a model
that could not be saved, and what a crashed write left behind cleaned up."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nbmlops
from tests.shell import run

SECRET = "SOURCE_LINE_THAT_MUST_NOT_LEAK_0xC0FFEE"


def _script(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def _run(script: Path, *, read_only: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` the way a user would, with ``read_only`` (a folder) not writable:
    a read-only bind mount when we are root (root writes through permission bits), else
    the folder's permission bits."""
    cmd = [sys.executable, str(script)]
    if read_only is not None:
        if os.geteuid() == 0:
            probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
            if probe.returncode != 0:
                pytest.skip("cannot make a read-only mount here (unshare -m refused)")
            cmd = ["unshare", "-m", "sh", "-c",
                   'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"',
                   str(read_only), *cmd]
        else:
            read_only.chmod(0o555)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        if read_only is not None and os.geteuid() != 0:
            read_only.chmod(0o755)


def _last_line(text: str) -> str:
    return [ln for ln in text.splitlines() if ln.strip()][-1]


# -- store errors ----------------------------------------------------------------------------


def test_a_store_error_names_the_statement_but_not_its_values(
        store_env: Path, tmp_path: Path) -> None:
    with nbmlops.track("e"):  # the store exists
        pass
    db = store_env / "store" / "lineage.db"
    con = sqlite3.connect(db)  # the database itself refuses new runs
    con.execute("CREATE TRIGGER refuse BEFORE INSERT ON runs "
                "BEGIN SELECT RAISE(ABORT, 'new runs are refused here'); END")
    con.commit()
    con.close()
    script = _script(tmp_path / "train.py", f"""\
        # {SECRET}
        import nbmlops
        note = "{SECRET}"
        with nbmlops.track("e", params={{"note": note}}):
            pass
    """)
    out = _run(script)
    assert out.returncode == 1
    assert _last_line(out.stderr) == (
        f"nbmlops.errors.StoreError: the lineage store at sqlite:///{db} failed during "
        "INSERT INTO runs: new runs are refused here; nothing from this operation was written")
    assert SECRET not in out.stderr  # nor in the SQLAlchemy error chained under it
    assert SECRET not in out.stdout


def test_a_read_only_store_folder_is_named_as_such(store_env: Path, tmp_path: Path) -> None:
    with nbmlops.track("e"):
        pass
    from nbmlops import api

    api.close()
    folder = store_env / "store"
    for extra in folder.glob("lineage.db-*"):  # a clean close leaves only the database
        extra.unlink()
    script = _script(tmp_path / "train.py", """\
        import nbmlops
        with nbmlops.track("e"):
            pass
    """)
    out = _run(script, read_only=folder)
    last = _last_line(out.stderr)
    assert out.returncode == 1
    assert last.startswith("nbmlops.errors.StoreError: the lineage store at ")
    assert f"its folder {folder} is read-only" in last
    assert "set NBMLOPS_STORE to a .db file in a writable folder" in last
    assert len(nbmlops.runs(experiment="e")) == 1  # what was recorded is still there


# -- artifacts ---------------------------------------------------------------------------------


def test_a_read_only_artifacts_folder_is_an_artifact_error(
        store_env: Path, tmp_path: Path) -> None:
    artifacts = store_env / "store" / "artifacts"
    artifacts.mkdir(parents=True)
    (tmp_path / "report.txt").write_text("R")
    script = _script(tmp_path / "train.py", f"""\
        import nbmlops
        with nbmlops.track("e") as run:
            print(run.id, flush=True)
            nbmlops.log_metric("acc", 0.9)
            nbmlops.log_artifact({str(tmp_path / "report.txt")!r})
    """)
    out = _run(script, read_only=artifacts)
    last = _last_line(out.stderr)
    assert out.returncode == 1
    assert last.startswith(f"nbmlops.errors.ArtifactError: the artifacts folder {artifacts} "
                           "is not writable (")
    assert last.endswith("make it writable, or set NBMLOPS_ARTIFACTS to a writable folder")
    assert "PermissionError" not in out.stderr.split("ArtifactError")[0].splitlines()[-1]
    rec = nbmlops.get_run(out.stdout.strip())
    assert rec.status == "failed"  # recorded, with what it logged before the failure
    assert rec.metrics == {"acc": 0.9}
    assert "not writable" in (rec.error or "")


def _incoming(root: Path, name: str, *, age_s: float, size: int = 1 << 20) -> Path:
    path = root / f".incoming-{name}"
    path.write_bytes(b"\0" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_the_next_write_removes_what_crashed_writes_left(store_env: Path, tmp_path: Path) -> None:
    root = store_env / "store" / "artifacts"
    root.mkdir(parents=True)
    stale = _incoming(root, "crashed", age_s=3 * 3600)
    writing = _incoming(root, "in-progress", age_s=5)  # someone is writing it right now
    (tmp_path / "report.txt").write_text("R")
    with nbmlops.track("e") as tracked:
        nbmlops.log_artifact(tmp_path / "report.txt")
    assert not stale.exists()
    assert writing.exists()
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".incoming-")) == [
        writing.name]
    dest = nbmlops.download_artifact(tracked.id, "report.txt", tmp_path / "out")
    assert dest.read_text() == "R"


# -- a model the cell bound but could not save ------------------------------------------------


def test_a_model_that_could_not_be_saved_fails_the_run_not_the_cell(
        shell, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, textwrap.dedent("""\
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        X = np.arange(20.0).reshape(10, 2)
        y = np.array([0, 1] * 5)
    """)).success
    capsys.readouterr()
    result = run(shell, textwrap.dedent("""\
        %%track --name unsaved
        model = LogisticRegression().fit(X, y)
        model.hook = lambda v: v  # cannot be pickled
        score = 0.75
    """))
    assert result.success  # the cell behaves as it would without %%track
    shown = "".join(capsys.readouterr())
    assert "Traceback" not in shown
    assert "the cell ran (its variables are set), but model 'model' was not saved (" in shown
    assert "is recorded as failed" in shown
    assert shell.user_ns["score"] == 0.75  # the cell's own result stands
    assert shell.user_ns["model"].hook(3) == 3
    frame = nbmlops.runs()
    assert frame["status"].tolist() == ["failed"]
    assert frame["metrics.score"].tolist() == [0.75]  # nothing else was lost
    rec = nbmlops.get_run(frame.run_id.iloc[0])
    assert (rec.error or "").startswith("the cell ran, but model 'model' was not saved (")
    assert rec.artifacts == ()
    capsys.readouterr()
    assert run(shell, f"%runs --show {rec.id[:8]}").success
    detail = capsys.readouterr().out
    assert "failed" in detail
    assert "model 'model' was not saved" in detail


# -- a killed run's duration -----------------------------------------------------------------


def _killed(tmp_path: Path, sleep_s: float) -> str:
    script = _script(tmp_path / "killed.py", f"""\
        import os, signal, time, nbmlops
        with nbmlops.track("killed") as run:
            print(run.id, flush=True)
            nbmlops.log_metric("progress", 1.0)
            time.sleep({sleep_s})
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = _run(script)
    assert out.returncode == -9, out.stderr
    from nbmlops import api

    api.close()  # the next open is what notices the dead process
    return out.stdout.strip()


def test_a_killed_run_keeps_its_duration_up_to_its_last_heartbeat(
        store_env: Path, tmp_path: Path) -> None:
    started = time.time()
    run_id = _killed(tmp_path, 4.5)
    rec = nbmlops.get_run(run_id)
    assert rec.status == "crashed"
    assert rec.duration_s is not None
    assert 1.5 <= rec.duration_s <= time.time() - started  # its first flush, at least
    out = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "show", run_id],
                         capture_output=True, text=True, check=True).stdout
    assert "duration     at least " in out
    assert "(until its last heartbeat)" in out
    assert "duration     0" not in out
    assert " 0 ms" not in out
    assert nbmlops.runs(experiment="killed")["duration_s"].iloc[0] == pytest.approx(
        rec.duration_s, abs=1e-3)


def test_a_run_killed_before_its_first_heartbeat_has_an_unknown_duration(
        store_env: Path, tmp_path: Path) -> None:
    run_id = _killed(tmp_path, 0)
    assert nbmlops.get_run(run_id).status == "crashed"
    out = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "show", run_id],
                         capture_output=True, text=True, check=True).stdout
    assert "duration     unknown (the process died before its first heartbeat)" in out
    frame = nbmlops.runs(experiment="killed")
    assert math.isnan(frame["duration_s"].iloc[0])  # unknown, not 0.0
    listed = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "list", "--format",
                             "json"], capture_output=True, text=True, check=True).stdout
    assert json.loads(listed)[0]["duration_s"] is None
