"""Real kernels: papermill runs, JupyterLab's protocol, a killed and an interrupted kernel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.blocking.client import BlockingKernelClient

import nbmlops
from nbmlops import api

pytestmark = pytest.mark.kernel

PAPERMILL = str(Path(sys.executable).parent / "papermill")


def notebook(path: Path, cells: list[tuple[str, str, list[str]]]) -> dict[str, str]:
    """Write a notebook of (cell id, source, tags) code cells; return {id: source}."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for cell_id, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source, id=cell_id)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return {cid: src for cid, src, _ in cells}


CELLS = [
    ("setup", "%load_ext nbmlops", []),
    ("params", "alpha = 0.1\nepochs = 3", ["parameters"]),
    ("train", "%%track --name first\nscore = 1.0 - alpha", []),
    ("again", "%%track --name second\nscore2 = score * epochs / 10", []),
    ("dup1", "%%track -q\nsame = alpha * 2", []),
    ("dup2", "%%track -q\nsame = alpha * 2", []),
]


def test_papermill_cli_records_notebook_path_and_cell_ids(store_env: Path) -> None:
    src = store_env / "project" / "train.ipynb"
    notebook(src, CELLS)
    out = subprocess.run([PAPERMILL, str(src), str(store_env / "out.ipynb"), "-p", "alpha",
                          "0.25", "-k", "python3"], capture_output=True, text=True,
                         timeout=180, env=os.environ)
    assert out.returncode == 0, out.stderr
    frame = nbmlops.runs(sort="start")
    assert list(frame["name"].fillna("-")) == ["first", "second", "-", "-"]
    assert set(frame["experiment"]) == {"train"}  # the notebook's name
    records = [nbmlops.get_run(r) for r in frame.run_id]
    assert {r.notebook_path for r in records} == {str(src)}
    assert [r.cell_id for r in records] == ["train", "again", "dup1", "dup2"]
    assert records[0].params == {"alpha": 0.25}  # the injected parameter
    assert records[0].metrics == {"score": 0.75}
    assert records[1].execution_count == records[0].execution_count + 1
    executed = nbformat.read(store_env / "out.ipynb", as_version=4)
    shown = "".join(o.get("data", {}).get("text/plain", "") for c in executed.cells
                    if c.get("id") == "train" for o in c.outputs)
    assert f"nbmlops run {records[0].id[:8]} train/first finished" in shown


def test_papermill_api_with_injected_input_path(store_env: Path) -> None:
    """From Python, papermill's kernel cannot see the notebook unless told: pass the path
    the way `papermill --inject-input-path` does."""
    import papermill as pm

    src = store_env / "project" / "api.ipynb"
    notebook(src, CELLS[:3])
    pm.execute_notebook(str(src), str(store_env / "api-out.ipynb"), kernel_name="python3",
                        parameters={"PAPERMILL_INPUT_PATH": str(src)}, progress_bar=False)
    rec = nbmlops.get_run(nbmlops.runs().run_id.iloc[0])
    assert rec.notebook_path == str(src)
    assert rec.cell_id == "train"


def test_failing_cell_fails_papermill_and_is_recorded(store_env: Path) -> None:
    import papermill as pm

    src = store_env / "project" / "broken.ipynb"
    notebook(src, [("setup", "%load_ext nbmlops", []),
                   ("bad", "%%track\nx = 1\nraise ValueError('schema mismatch')", []),
                   ("after", "never = True", [])])
    with pytest.raises(pm.PapermillExecutionError, match="schema mismatch"):
        pm.execute_notebook(str(src), str(store_env / "broken-out.ipynb"),
                            kernel_name="python3", progress_bar=False)
    rec = nbmlops.get_run(nbmlops.runs().run_id.iloc[0])
    assert rec.status == "failed"
    assert "ValueError: schema mismatch" in (rec.error or "")




def execute(kc: BlockingKernelClient, code: str, cell_id: str | None = None,
            wait: bool = True) -> dict | None:  # type: ignore[type-arg]
    """Send an execute_request the way JupyterLab does (cell id in the metadata)."""
    msg = kc.session.msg("execute_request", {
        "code": code, "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}, metadata={"cellId": cell_id} if cell_id
        else {})
    kc.shell_channel.send(msg)
    if not wait:
        return None
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply["content"]  # type: ignore[no-any-return]


def wait_for_running_run(timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        api.close()
        frame = nbmlops.runs(where="status == 'running'")
        if len(frame):
            return str(frame.run_id.iloc[0])
        time.sleep(0.2)
    raise AssertionError("no running run appeared")


def test_jupyterlab_protocol_gives_notebook_and_cell(kernel, store_env: Path) -> None:  # type: ignore[no-untyped-def]
    _, kc = kernel
    assert execute(kc, "%load_ext nbmlops")["status"] == "ok"  # type: ignore[index]
    reply = execute(kc, "%%track -n lab\nx = 0.5", cell_id="5f1c0a3e-cell")
    assert reply["status"] == "ok"  # type: ignore[index]
    rec = nbmlops.get_run(nbmlops.runs().run_id.iloc[0])
    assert rec.notebook_path == str(store_env / "project" / "lab.ipynb")
    assert rec.cell_id == "5f1c0a3e-cell"
    assert rec.experiment == "lab"
    assert rec.metrics == {"x": 0.5}
    failing = execute(kc, "%%track\n1/0", cell_id="c2")
    assert failing["status"] == "error"
    assert failing["ename"] == "ZeroDivisionError"


def test_killed_kernel_leaves_a_crashed_run(kernel) -> None:  # type: ignore[no-untyped-def]
    km, kc = kernel
    execute(kc, "%load_ext nbmlops")
    execute(kc, "%%track -n long\nimport time\ntime.sleep(120)", wait=False)
    run_id = wait_for_running_run()
    pid = km.provisioner.process.pid  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)  # kill -9: nothing in the kernel gets to say goodbye
    km.provisioner.process.wait(timeout=10)  # type: ignore[union-attr]
    api.close()  # the next process to open the store is what notices
    rec = nbmlops.get_run(run_id)
    assert rec.status == "crashed"
    assert rec.end_time is not None
    assert "killed, or its kernel died" in (rec.error or "")


def test_interrupted_kernel_marks_the_run_interrupted(kernel) -> None:  # type: ignore[no-untyped-def]
    km, kc = kernel
    execute(kc, "%load_ext nbmlops")
    cell = "%%track -n stopped\nimport nbmlops, time\nnbmlops.log_metric('p', 1)\ntime.sleep(120)"
    msg_ids = []
    msg = kc.session.msg("execute_request", {"code": cell, "silent": False,
                                             "store_history": True, "user_expressions": {},
                                             "allow_stdin": False, "stop_on_error": True})
    kc.shell_channel.send(msg)
    msg_ids.append(msg["header"]["msg_id"])
    run_id = wait_for_running_run()
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_ids[0]:
            break
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    api.close()
    rec = nbmlops.get_run(run_id)
    assert rec.status == "interrupted"
    assert rec.metrics == {"p": 1.0}
    assert execute(kc, "still_alive = 1")["status"] == "ok"  # type: ignore[index]


def test_track_block_in_a_notebook_cell_records_the_notebook(kernel, store_env: Path) -> None:  # type: ignore[no-untyped-def]
    _, kc = kernel
    code = "import nbmlops\nwith nbmlops.track(name='in-cell') as r:\n    nbmlops.log_metric('m', 2.0)"
    assert execute(kc, code)["status"] == "ok"  # type: ignore[index]
    rec = nbmlops.get_run(nbmlops.runs().run_id.iloc[0])
    assert rec.experiment == "lab"  # the notebook's name, not the kernel's temp file
    assert rec.notebook_path == str(store_env / "project" / "lab.ipynb")
    assert rec.code is not None
    assert rec.code.rstrip() == code


def test_interrupting_tune_in_a_kernel_keeps_finished_candidates(kernel) -> None:  # type: ignore[no-untyped-def]
    km, kc = kernel
    setup = ("%load_ext nbmlops\n"
             "import time\n"
             "from sklearn.base import BaseEstimator, ClassifierMixin\n"
             "from sklearn.datasets import make_classification\n"
             "class Slow(ClassifierMixin, BaseEstimator):\n"
             "    def __init__(self, delay=0.0):\n"
             "        self.delay = delay\n"
             "    def fit(self, X, y):\n"
             "        time.sleep(self.delay)\n"
             "        self.classes_ = sorted(set(y))\n"
             "        return self\n"
             "    def predict(self, X):\n"
             "        return [self.classes_[0]] * len(X)\n"
             "X, y = make_classification(60, 4, n_informative=2, random_state=0)\n"
             "slow = Slow()\n"
             "grid = {'delay': [0.0, 0.01, 0.02, 30.0, 0.03]}")
    reply = execute(kc, setup)
    assert reply["status"] == "ok", reply  # type: ignore[index]
    msg = kc.session.msg("execute_request", {
        "code": "%tune slow grid X y --cv 2 --n-jobs 1 --backend threading", "silent": False,
        "store_history": True, "user_expressions": {}, "allow_stdin": False,
        "stop_on_error": True})
    kc.shell_channel.send(msg)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until three candidates are recorded
        api.close()
        if len(nbmlops.runs(kind="candidate")) >= 3:
            break
        time.sleep(0.2)
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            break
    assert reply["content"]["status"] == "error"
    api.close()
    parent = nbmlops.runs(kind="tune")
    assert list(parent["status"]) == ["interrupted"]
    kids = nbmlops.runs(kind="candidate", sort="params.delay")
    assert list(kids["params.delay"]) == [0.0, 0.01, 0.02]
    assert set(kids["status"]) == {"finished"}
