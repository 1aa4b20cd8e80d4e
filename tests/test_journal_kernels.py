"""The cell journal in real kernels (a Jupyter kernel restarted, a papermill run) and data
snapshots (``%%track --snapshot``, ``snapshot_max_bytes``) reproduced by papermill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.blocking.client import BlockingKernelClient

import nbmlops
from nbmlops import api

PAPERMILL = str(Path(sys.executable).parent / "papermill")


def execute(kc: BlockingKernelClient, code: str, cell_id: str) -> dict:  # type: ignore[type-arg]
    """An execute_request as JupyterLab sends it (the cell id in the metadata)."""
    msg = kc.session.msg("execute_request", {
        "code": code, "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}, metadata={"cellId": cell_id})
    kc.shell_channel.send(msg)
    while True:
        reply = kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            assert reply["content"]["status"] == "ok", reply["content"]
            return reply["content"]  # type: ignore[no-any-return]


def run_named(name: str):  # type: ignore[no-untyped-def]
    api.close()  # read the store as another process left it
    frame = nbmlops.runs("e")
    return nbmlops.get_run(frame[frame.name == name].run_id.iloc[0])


@pytest.mark.kernel
def test_the_journal_survives_a_kernel_restart_which_starts_a_new_chain(kernel) -> None:  # type: ignore[no-untyped-def]
    km, kc = kernel
    execute(kc, "%load_ext nbmlops", "load")
    execute(kc, "a = 1", "c1")
    execute(kc, "%%track -e e -n first -q\nx = float(a)", "run1")
    km.restart_kernel(now=False)  # JupyterLab's "Restart Kernel": the kernel exits cleanly
    kc.wait_for_ready(timeout=120)
    execute(kc, "%load_ext nbmlops", "load")
    execute(kc, "b = 2", "c2")
    execute(kc, "%%track -e e -n second -q\ny = float(b)", "run2")
    km.shutdown_kernel(now=False)

    first, second = run_named("first"), run_named("second")
    # everything the first kernel journaled and its run's slice were written as it exited
    assert [c.code for c in first.slice.cells] == ["a = 1"]
    assert [c.code for c in second.slice.cells] == ["b = 2"]
    assert first.slice.session_id != second.slice.session_id
    store = api.workspace().store
    old = store.session_journal(first.slice.session_id)
    assert [e.cell_id for e in old] == ["load", "c1", "run1"]
    new = store.session_journal(second.slice.session_id)
    assert [e.cell_id for e in new] == ["load", "c2", "run2"]
    assert new[0].seq == 1  # a chain of its own


def notebook(path: Path, *cells: str) -> Path:
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "id": f"cell{i}", "source": src, "metadata": {}, "outputs": [],
         "execution_count": None} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.mark.kernel
def test_the_journal_under_papermill_gives_the_run_its_slice(store_env: Path) -> None:
    project = store_env / "project"
    nb = notebook(project / "batch.ipynb", "%load_ext nbmlops", "rate = 0.5",
                  "unused = 'not read by the run'", "scaled = [rate * i for i in range(4)]",
                  "%%track -e e -n batch\ntotal = float(sum(scaled))")
    done = subprocess.run([PAPERMILL, str(nb), str(project / "out.ipynb"), "-k", "python3",
                           "--cwd", str(project)], capture_output=True, text=True, timeout=300,
                          env=os.environ)
    assert done.returncode == 0, done.stderr
    rec = run_named("batch")
    assert rec.metrics == {"total": 3.0}
    assert [c.code for c in rec.slice.cells] == [
        "rate = 0.5", "scaled = [rate * i for i in range(4)]"]  # written as papermill ended
    assert rec.slice.clean
    # with parameters: papermill's injected cell is not in the saved notebook, and that is
    # no hidden state (the run records the values)
    from tests.test_jobs import notebook as tagged_notebook

    nb2 = tagged_notebook(project / "params.ipynb", "%load_ext nbmlops", ("rate = 0.5", ["parameters"]),
                   "scaled = [rate * i for i in range(4)]",
                   "%%track -e e -n with-params\ntotal = float(sum(scaled))")
    done = subprocess.run([PAPERMILL, str(nb2), str(project / "out2.ipynb"), "-k", "python3",
                           "--cwd", str(project), "-p", "rate", "2.0"], capture_output=True,
                          text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    rec = run_named("with-params")
    assert rec.metrics == {"total": 12.0}
    assert rec.slice.clean, rec.slice.flags
    assert rec.slice.cells[-2].code.startswith("# Parameters")


def cell(shell, code: str, cell_id: str):  # type: ignore[no-untyped-def]
    result = shell.run_cell(code, store_history=True, cell_id=cell_id)
    assert result.success, result
    return result


SETUP = ("import pandas as pd", "prices = pd.read_csv('prices.csv')")
BODY = "total = float(prices.price.sum())"


def test_a_changed_file_is_reported_and_with_a_snapshot_the_run_still_reproduces(  # type: ignore[no-untyped-def]
        shell, store_env: Path, capsys) -> None:
    project = store_env / "project"
    (project / "prices.csv").write_text("price\n1\n2\n3\n")
    for i, code in enumerate(SETUP):
        cell(shell, code, f"c{i}")
    cell(shell, f"%%track -e e -n plain --data prices.csv\n{BODY}", "run1")
    cell(shell, f"%%track -e e -n kept --snapshot --data prices.csv\n{BODY}", "run2")
    plain, kept = run_named("plain"), run_named("kept")
    assert not [a for a in plain.artifacts if a.kind == "snapshot"]
    assert {a.name for a in kept.artifacts if a.kind == "snapshot"} == {
        "snapshot/files/prices.csv", "snapshot/frames/prices"}

    (project / "prices.csv").write_text("price\n1\n2\n4\n")  # the data changed since
    result = nbmlops.reproduce(plain.id)
    assert result.status == "differs", str(result)
    assert "likely cause: data prices.csv changed since the run" in str(result)

    result = nbmlops.reproduce(kept.id)
    assert result.status == "reproduced", str(result)
    again = nbmlops.get_run(result.reproduced_run_id)
    assert again.metrics == {"total": 6.0}
    assert (project / "prices.csv").read_text() == "price\n1\n2\n4\n"  # left as it is now


def test_snapshots_are_stored_once_across_runs_and_the_setting_takes_them(  # type: ignore[no-untyped-def]
        shell, store_env: Path) -> None:
    project = store_env / "project"
    (project / "pyproject.toml").write_text("[tool.nbmlops]\nsnapshot_max_bytes = 1000\n")
    (project / "prices.csv").write_text("price\n1\n2\n3\n")
    (project / "big.csv").write_text("price\n" + "7\n" * 2000)  # above the limit
    for i, code in enumerate(SETUP):
        cell(shell, code, f"c{i}")
    cell(shell, "big = pd.read_csv('big.csv')", "c2")
    cell(shell, f"%%track -e e -n one --snapshot\n{BODY}", "run1")
    cell(shell, f"%%track -e e -n two\n{BODY}\nsize = float(len(big))", "run2")
    one, two = run_named("one"), run_named("two")
    files_one = {a.name: a.artifact.sha256 for a in one.artifacts if a.kind == "snapshot"}
    files_two = {a.name: a.artifact.sha256 for a in two.artifacts if a.kind == "snapshot"}
    # the setting keeps what is at most 1,000 bytes (not big.csv, not the frame big)
    assert set(files_two) == {"snapshot/files/prices.csv", "snapshot/frames/prices"}
    assert files_one["snapshot/files/prices.csv"] == files_two["snapshot/files/prices.csv"]
    sha = files_one["snapshot/files/prices.csv"]
    blobs = [p for p in (store_env / "store" / "artifacts").rglob("*") if sha in p.name]
    assert len(blobs) == 1  # stored once
    assert blobs[0].read_bytes() == b"price\n1\n2\n3\n"


def test_a_bad_snapshot_setting_says_what_to_write(tmp_path: Path) -> None:
    from nbmlops.config import resolve_settings
    from nbmlops.errors import ConfigError

    (tmp_path / "pyproject.toml").write_text("[tool.nbmlops]\nsnapshot_max_bytes = '1MB'\n")
    with pytest.raises(ConfigError, match=r"snapshot_max_bytes .* must be a whole number of "
                                          r"bytes, 0 or more"):
        resolve_settings(tmp_path, env={})


MEMORY = ("import numpy as np\nimport pandas as pd",
          "rng = np.random.default_rng()",  # no seed: the frame cannot be rebuilt
          "noise = pd.DataFrame({'a': rng.normal(size=50)})",
          "prices = pd.read_csv('prices.csv')",
          "doubled = prices * 2")
MEMORY_BODY = "total = float(noise.a.sum() + doubled.price.sum())"


def test_a_frame_built_in_memory_is_loaded_back_from_the_snapshot(  # type: ignore[no-untyped-def]
        shell, store_env: Path) -> None:
    project = store_env / "project"
    (project / "prices.csv").write_text("price\n1\n2\n3\n")
    for i, code in enumerate(MEMORY):
        cell(shell, code, f"c{i}")
    cell(shell, f"%%track -e e -n plain\n{MEMORY_BODY}", "run1")
    cell(shell, f"%%track -e e -n kept --snapshot\n{MEMORY_BODY}", "run2")
    plain, kept = run_named("plain"), run_named("kept")
    assert {a.name for a in kept.artifacts if a.kind == "snapshot"} == {
        "snapshot/files/prices.csv", "snapshot/frames/noise", "snapshot/frames/doubled"}

    # the linear notebook loads the frame built in memory (not the one read from a file)
    written = nbmlops.reproduce(kept.id, notebook_only=True, output=project / "kept.ipynb")
    assert written.frames_loaded == ("noise",)
    sources = [c["source"] for c in json.loads((project / "kept.ipynb").read_text())["cells"]]
    loader = next(s for s in sources if "_nbmlops_snapshot_frames" in s)
    assert loader.splitlines()[-1] == (
        f"noise, = _nbmlops_snapshot_frames({kept.id!r}, ['noise'])")
    assert "doubled" not in loader

    # without a snapshot the unseeded frame is rebuilt differently: not reproduced
    result = nbmlops.reproduce(plain.id)
    assert result.status == "differs", str(result)
    assert "differs: metric total:" in str(result)
    assert not result.frames_loaded
    # with it, the frame is loaded back as it was, and the result says so
    result = nbmlops.reproduce(kept.id)
    assert result.status == "reproduced", str(result)
    assert "frames built in memory, loaded from the run's snapshot: noise" in str(result)
    assert nbmlops.get_run(result.reproduced_run_id).metrics == kept.metrics

    # what is loaded is the run's own artifact, checked against its sha256
    (frame,) = api.snapshot_frames(kept.id, ["noise"])
    assert frame.equals(shell.user_ns["noise"])
    sha = next(a.artifact.sha256 for a in kept.artifacts if a.name == "snapshot/frames/noise")
    (blob,) = [p for p in (store_env / "store" / "artifacts").rglob("*") if sha in p.name]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the stored pickle changed
    blob.write_bytes(bytes(data))
    with pytest.raises(nbmlops.NbmlopsError, match="sha256"):
        api.snapshot_frames(kept.id, ["noise"])
    with pytest.raises(nbmlops.NbmlopsError, match="kept no snapshot of the frame 'rng'"):
        api.snapshot_frames(kept.id, ["rng"])


def test_a_pickled_frame_that_would_call_anything_but_data_types_is_refused() -> None:
    import pickle

    import numpy as np
    import pandas as pd

    from nbmlops.errors import UnsafeModelError
    from nbmlops.registry import load_data_pickle

    frame = pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"],
                          "t": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                          "c": pd.Categorical(["u", "v"]),
                          "i": pd.array([1, None], dtype="Int64")}).set_index("t")
    for value in (frame, frame["a"], np.arange(6.0).reshape(2, 3)):
        loaded = load_data_pickle(pickle.dumps(value, protocol=5), reference="frame")
        assert type(loaded) is type(value)
        assert loaded.equals(value) if hasattr(value, "equals") else (loaded == value).all()
    assert load_data_pickle(pickle.dumps(frame), reference="frame").dtypes.equals(frame.dtypes)

    class Calls:
        def __init__(self, fn: object, *args: object) -> None:
            self.call = (fn, args)

        def __reduce__(self):  # type: ignore[no-untyped-def]
            return self.call

    for fn, says in ((os.system, "system"), (pd.read_pickle, "pandas.read_pickle"),
                     (pd.eval, "pandas.eval")):
        with pytest.raises(UnsafeModelError, match=f"would call .*{says}.*not data"):
            load_data_pickle(pickle.dumps(Calls(fn, "x")), reference="frame")
