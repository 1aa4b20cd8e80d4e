"""``%export`` / ``nbmlops export`` and ``nbmlops jobs run``: real notebooks, executed by
papermill in real kernels, recorded as job runs with their cells' runs as children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

import nbmlops
from tests.shell import one_line_error, run
from tests.test_cli import NBMLOPS

pytestmark = pytest.mark.kernel


def notebook(path: Path, *cells: str | tuple[str, list[str]], ids: list[str] | None = None
             ) -> Path:
    """A notebook of code cells (``(source, tags)`` for tagged ones)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for i, cell in enumerate(cells):
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        new = nbformat.v4.new_code_cell(source)
        if tags:
            new.metadata["tags"] = tags
        if ids:
            new["id"] = ids[i]
        nb.cells.append(new)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NBMLOPS, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ)


TRAIN = [
    "%load_ext nbmlops",
    ("C = 1.0\nmax_iter = 200", ["parameters"]),
    "import numpy as np\nfrom sklearn.datasets import make_classification\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "X, y = make_classification(300, 5, random_state=0)",
    "%%track --name fit\nmodel = LogisticRegression(C=C, max_iter=max_iter).fit(X[:200], "
    "y[:200])\naccuracy = model.score(X[200:], y[200:])",
    ("print('only when exploring')", ["nbmlops:skip"]),
]


def test_export_then_run_records_the_job_gates_and_registers(store_env: Path,
                                                              tmp_path: Path) -> None:
    nb = notebook(store_env / "project" / "train.ipynb", *TRAIN)
    exported = cli("export", str(nb), "--job", "train-churn", "--gate",
                   "metrics.accuracy>=0.6", "--on-success", "register churn --alias staging",
                   "--schedule", "0 3 * * *")
    assert exported.returncode == 0, exported.stderr
    folder = store_env / "project" / "jobs" / "train-churn"
    assert f"exported job train-churn to {folder}" in exported.stdout
    assert "parameters: C=1.0, max_iter=200" in exported.stdout
    spec = yaml.safe_load((folder / "job.yaml").read_text())
    assert spec["parameters"] == {"C": {"type": "float", "default": 1.0},
                                  "max_iter": {"type": "int", "default": 200}}
    assert spec["gates"] == ["metrics.accuracy >= 0.6"]
    assert spec["on_success"] == ["register churn --alias staging"]
    assert spec["schedule"] == "0 3 * * *"
    cleaned = nbformat.read(folder / "notebook.ipynb", as_version=4)
    assert all("only when exploring" not in c.source for c in cleaned.cells)
    assert all(not c.get("outputs") for c in cleaned.cells if c.cell_type == "code")

    done = cli("jobs", "run", str(folder), "-p", "C=0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("job train-churn finished in ")
    assert "gate metrics.accuracy >= 0.6: passed" in done.stdout
    assert "registered churn/1 @staging from run " in done.stdout
    (job_id,) = nbmlops.runs(kind="job").run_id
    job = nbmlops.get_run(job_id)
    assert (job.status, job.params, job.tags["job"]) == ("finished", {"C": 0.5,
                                                                      "max_iter": 200},
                                                         "train-churn")
    assert [a.name for a in job.artifacts] == ["executed.ipynb"]
    (cell_run,) = nbmlops.runs(kind="cell").run_id
    child = nbmlops.get_run(cell_run)
    assert child.parent_run_id == job_id
    assert child.params["C"] == 0.5  # the injected value reached the tracked cell
    assert child.notebook_path == str(folder / "notebook.ipynb")
    assert child.experiment == job.experiment == "train-churn"  # the job's experiment
    version = nbmlops.load_model("churn@staging").version
    assert version.run_id == cell_run
    assert nbmlops.model_history("churn@staging").reason.iloc[-1] == f"job run {job_id[:8]}"
    executed = list((folder / "runs").glob("*.ipynb"))
    assert len(executed) == 1

    # a gate that does not pass: exit 1, the gate named, nothing registered
    spec["gates"] = ["metrics.accuracy >= 1.01"]
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))
    gated = cli("jobs", "run", str(folder))
    assert gated.returncode == 1
    assert "gate failed: metrics.accuracy >= 1.01 (found 0." in gated.stdout
    assert nbmlops.models("churn")["version"].tolist() == [1]
    failed = nbmlops.get_run(nbmlops.runs(kind="job", sort="-start").run_id[0])
    assert (failed.status, failed.tags["failure"]) == ("failed", "gate")

    listed = cli("jobs", "list", str(store_env / "project" / "jobs"), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["job"], row["schedule"], row["last_status"]) == ("train-churn", "0 3 * * *",
                                                                 "failed")
    history = cli("jobs", "history", "train-churn", "--format", "json")
    assert [r["status"] for r in json.loads(history.stdout)] == ["failed", "finished"]
    shown = cli("jobs", "show", str(folder))
    assert shown.stdout.startswith("# nbmlops job 'train-churn'")
    assert "last runs (2 in all)" in shown.stdout


TRICKY = ["quote \" and ' both", "back\\slash \\n not a newline", "new\nline\ttab",
          "unicode é ✓ 🚀 ∑", "", "  spaces  ", "{braces} %s $HOME `tick`"]


def test_parameters_round_trip_exactly(store_env: Path) -> None:
    nb = notebook(store_env / "project" / "echo.ipynb",
                  ("label = 'x'\ncount = 1\nratio = 0.5\nflag = False\nitems = [1]",
                   ["parameters"]),
                  "import json, pathlib\npathlib.Path('echo.json').write_text(json.dumps("
                  "{'label': label, 'count': count, 'ratio': ratio, 'flag': flag, "
                  "'items': items}))")
    folder = nbmlops.export_job(nb, job="echo").folder
    for value in TRICKY[:4]:
        done = cli("jobs", "run", str(folder), "-p", f"label={value}", "-p", "count=42",
                   "-p", "ratio=1e-3", "-p", "flag=true", "-p", 'items=[1, "two", null]')
        assert done.returncode == 0, done.stdout + done.stderr
        # the job runs where the notebook was exported from: relative paths work as there
        echoed = json.loads((store_env / "project" / "echo.json").read_text())
        assert echoed == {"label": value, "count": 42, "ratio": 0.001, "flag": True,
                          "items": [1, "two", None]}
    # the rest through the Python API, in one kernel each as well
    for value in TRICKY[4:]:
        result = nbmlops.run_job(folder, params={"label": value})
        assert result.ok, result.message
        assert json.loads((store_env / "project" / "echo.json").read_text())["label"] == value
    bad = cli("jobs", "run", str(folder), "-p", "count=many")
    assert bad.returncode == 1
    assert "parameter count: 'many' is not a valid int" in bad.stderr
    unknown = cli("jobs", "run", str(folder), "-p", "colour=red")
    assert "job 'echo' has no parameter 'colour'" in unknown.stderr
    for name, what in (("1x", "not a Python identifier"), ("class", "a Python keyword"),
                       ("a-b", "not a Python identifier")):
        refused = cli("export", str(nb), "--job", "other", "--params", f"{name}=3")
        assert refused.returncode == 1
        assert f"parameter name {name!r} is {what}" in refused.stderr


@pytest.mark.parametrize("name", ["__import__", "__builtins__", "__name__"])
def test_a_special_name_is_refused_as_a_parameter(store_env: Path, name: str) -> None:
    project = store_env / "project"
    nb = notebook(project / "p.ipynb", ("C = 1", ["parameters"]), "C + 1")
    refused = cli("export", str(nb), "--job", "special", "--params", f"{name}=1")
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"nbmlops: error: parameter name {name!r} is a Python special "
                           "name (papermill would assign it over the kernel's own); rename "
                           "it, e.g. ")
    suggested = line.rsplit(" ", 1)[1]
    assert suggested.isidentifier()
    assert not suggested.startswith("_")
    assert not (project / "jobs" / "special").exists()  # nothing written
    # in the notebook's own parameters cell, or a hand-edited job.yaml: refused the same
    cell = notebook(project / "q.ipynb", (f"{name} = 1", ["parameters"]), "1")
    assert "is a Python special name" in cli("export", str(cell), "--job", "q").stderr
    folder = nbmlops.export_job(nb, job="edited").folder
    spec = yaml.safe_load((folder / "job.yaml").read_text())
    spec["parameters"] = {name: {"type": "int", "default": 1}}
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))
    shown = cli("jobs", "run", str(folder))
    assert shown.returncode == 1
    assert len(shown.stderr.strip().splitlines()) == 1
    assert "is a Python special name" in shown.stderr
    assert nbmlops.runs(kind="job").empty


def test_a_failing_cell_a_timeout_and_retries(store_env: Path) -> None:
    project = store_env / "project"
    boom = notebook(project / "boom.ipynb", "x = 1", "raise ValueError('bad input')", "y = 2",
                    ids=["first", "boom", "after"])
    folder = nbmlops.export_job(boom, job="boom", params={"x": 1}).folder
    result = nbmlops.run_job(folder)
    assert result.status == "failed"
    assert result.message == "cell 3 (id 'boom') raised ValueError: bad input"
    recorded = nbmlops.get_run(result.run_id)
    assert recorded.status == "failed"
    assert "cell 3 (id 'boom') raised ValueError" in recorded.error

    flaky = notebook(project / "flaky.ipynb", ("marker = 'tries.txt'", ["parameters"]),
                     "import pathlib\np = pathlib.Path(marker)\nn = int(p.read_text()) + 1 "
                     "if p.exists() else 1\np.write_text(str(n))\nassert n >= 2, 'first try'")
    folder = nbmlops.export_job(flaky, job="flaky", retries=1).folder
    spec = yaml.safe_load((folder / "job.yaml").read_text())
    spec["retry_delay"] = 0
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))
    result = nbmlops.run_job(folder)
    assert (result.status, result.attempts) == ("finished", 2)

    slow = notebook(project / "slow.ipynb", ("pause = 120", ["parameters"]),
                    "import time\ntime.sleep(pause)")
    folder = nbmlops.export_job(slow, job="slow", timeout=8).folder
    started = time.monotonic()
    result = nbmlops.run_job(folder)
    assert time.monotonic() - started < 60
    assert result.status == "failed"
    assert result.message.startswith("timed out after 8 s")
    assert nbmlops.get_run(result.run_id).tags["failure"] == "cell"


def test_a_stopped_job_is_recorded_failed_not_running(store_env: Path) -> None:
    slow = notebook(store_env / "project" / "slow.ipynb", ("pause = 120", ["parameters"]),
                    "import time\ntime.sleep(pause)")
    folder = nbmlops.export_job(slow, job="slow").folder
    proc = subprocess.Popen([NBMLOPS, "jobs", "run", str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and nbmlops.runs(kind="job").empty:
        time.sleep(0.2)
    time.sleep(3)  # the kernel is up and sleeping
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "stopped by SIGTERM" in out
    job = nbmlops.get_run(nbmlops.runs(kind="job").run_id[0])
    assert (job.status, job.tags["failure"]) == ("failed", "stopped")


def test_tracked_params_become_the_parameters_cell(store_env: Path) -> None:
    project = store_env / "project"
    nb = notebook(project / "explore.ipynb", "%load_ext nbmlops",
                  "C = 0.25\nlabel = 'first'\nX = list(range(10))",
                  "%%track --name sum\ntotal = sum(X) * C\nname = label",
                  ("print('scratch')", ["nbmlops:skip"]))
    papermill = str(Path(sys.executable).parent / "papermill")
    done = subprocess.run([papermill, str(nb), str(project / "out.ipynb"), "-k", "python3"],
                          capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    exported = nbmlops.export_job(nb, job="explore")
    assert {p.name: p.default for p in exported.spec.parameters} == {"C": 0.25,
                                                                     "label": "first"}
    assert "made a parameters cell from the tracked params C, label" in str(exported)
    cleaned = nbformat.read(exported.folder / "notebook.ipynb", as_version=4)
    params_cell = next(c for c in cleaned.cells if "parameters" in c.metadata.get("tags", []))
    assert params_cell.source == "C = 0.25\nlabel = 'first'"
    assert "# C = 0.25  (now a job parameter" in cleaned.cells[2].source
    result = nbmlops.run_job(exported.folder, params={"C": 2.0})
    assert result.ok, result.message
    (child,) = result.runs
    assert nbmlops.get_run(child).metrics["total"] == 90.0

    # the notebook is pinned: an edit after export is refused until exported again
    changed = nbformat.read(exported.folder / "notebook.ipynb", as_version=4)
    changed.cells.append(nbformat.v4.new_code_cell("print('edited')"))
    nbformat.write(changed, exported.folder / "notebook.ipynb")
    with pytest.raises(nbmlops.JobSpecError, match="changed since the job was exported"):
        nbmlops.run_job(exported.folder)


@pytest.mark.parametrize(("edit", "message"), [
    ({"schedule": "every day"}, "must be a cron expression of 5 fields"),
    ({"schedule": "61 * * * *"}, "the minute field '61' is not valid"),
    ({"parameters": {"C": {"type": "decimal", "default": 1}}}, "is not one of str, int"),
    ({"parameters": {"C": {"type": "int", "default": "x"}}}, "default 'x' is not a int"),
    ({"parameters": {"my-param": {"type": "int", "default": 1}}}, "not a Python identifier"),
    ({"targets": ["kubernetes"]}, "target 'kubernetes' is not one of"),
    ({"retries": -1}, "retries must be a whole number >= 0"),
    ({"timeout": "soon"}, "timeout must be a number"),
    ({"gates": ["accuracy is high"]}, "must read METRIC OP VALUE"),
    ({"on_success": ["deploy churn"]}, "unknown action 'deploy'"),
    ({"notebook": "../elsewhere.ipynb"}, "inside the job folder"),
])
def test_a_hand_edited_spec_is_checked(store_env: Path, edit: dict[str, Any],
                                       message: str) -> None:
    nb = notebook(store_env / "project" / "n.ipynb", ("C = 1", ["parameters"]), "C + 1")
    folder = nbmlops.export_job(nb, job="n").folder
    spec = yaml.safe_load((folder / "job.yaml").read_text())
    spec.update(edit)
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))
    shown = cli("jobs", "run", str(folder))
    assert shown.returncode == 1
    assert message in shown.stderr
    assert "Traceback" not in shown.stderr
    assert nbmlops.runs(kind="job").empty


def test_export_magic(shell, capsys, store_env: Path) -> None:  # type: ignore[no-untyped-def]
    nb = notebook(store_env / "project" / "magic.ipynb", ("C = 1.0", ["parameters"]), "C")
    capsys.readouterr()
    result = run(shell, f"%export --job magic-job --notebook {nb} --target github")
    out = capsys.readouterr().out
    assert result.success, out
    assert f"exported job magic-job to {store_env / 'project' / 'jobs' / 'magic-job'}" in out
    assert "github/nbmlops-magic-job.yml" in out or ".github/workflows" in out
    assert "%export: this kernel does not know its notebook's path" in one_line_error(
        shell, capsys, "%export --job x")
    assert "job name 'bad name!' must be" in one_line_error(
        shell, capsys, f"%export --job 'bad name!' --notebook {nb}")
    assert "give --schedule" in one_line_error(
        shell, capsys, f"%export --job cron-job --notebook {nb} --target cron")


def test_ci_runs_notebooks_and_jobs_and_fails_on_errors(store_env: Path) -> None:
    project = store_env / "project"
    good = notebook(project / "nbs" / "good.ipynb", "x = 1 + 1")
    notebook(project / "nbs" / "bad.ipynb", "1 / 0")
    done = subprocess.run([NBMLOPS, "ci", str(good.parent), "--work",
                           str(project / "build" / "ci")], capture_output=True, text=True,
                          timeout=300, env=os.environ, cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nbmlops ci: 1 of 2 passed; failed: bad" in done.stdout
    assert "raised ZeroDivisionError: division by zero" in done.stdout
    (project / "nbs" / "bad.ipynb").unlink()
    again = subprocess.run([NBMLOPS, "ci", str(good.parent)], capture_output=True, text=True,
                           timeout=300, env=os.environ, cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nbmlops ci: 1 of 1 passed" in again.stdout
    # the jobs ci made are job folders like any other
    every = subprocess.run([NBMLOPS, "jobs", "run", "--all", str(project / "build" / "ci")],
                           capture_output=True, text=True, timeout=300, env=os.environ,
                           cwd=project)
    assert every.returncode == 1  # bad's job folder is still there, and still fails
    assert every.stdout.rstrip().endswith("1 of 2 jobs passed")


def test_review_cases_ci_names_broken_jobs_and_gate_text(store_env: Path) -> None:
    project = store_env / "project"
    notebook(project / "a" / "train.ipynb", "raise ValueError('a fails')")
    notebook(project / "b" / "train.ipynb", "print('b passes')")
    done = subprocess.run([NBMLOPS, "ci", str(project / "a" / "train.ipynb"),
                           str(project / "b" / "train.ipynb")], capture_output=True,
                          text=True, timeout=300, env=os.environ, cwd=project)
    assert done.returncode == 1, done.stdout  # two train.ipynb: two jobs, not one
    assert "nbmlops ci: 1 of 2 passed" in done.stdout
    # a job whose job.yaml is broken is reported; the others still run
    good = nbmlops.export_job(project / "b" / "train.ipynb", job="good").folder
    broken = nbmlops.export_job(project / "b" / "train.ipynb", job="broken").folder
    (broken / "job.yaml").write_text((broken / "job.yaml").read_text().replace(
        "notebook: notebook.ipynb", "notebook: ../x.ipynb"))
    every = cli("jobs", "run", "--all", str(good.parent))
    assert every.returncode == 1
    assert "job broken could not run: " in every.stdout
    assert "job good finished" in every.stdout
    assert every.stdout.rstrip().endswith("1 of 2 jobs passed")
    exact = nbmlops.export_job(project / "b" / "train.ipynb", job="exact",
                               gates=["metrics.acc >= 0.123456789", "metrics.rows >= 1234567"])
    assert [str(g) for g in exact.spec.gates] == ["metrics.acc >= 0.123456789",
                                                  "metrics.rows >= 1234567"]
    # an on-success action that cannot be done fails the job, with the reason
    nomodel = nbmlops.export_job(project / "b" / "train.ipynb", job="nomodel",
                                 on_success=["register churn"])
    result = nbmlops.run_job(nomodel.folder)
    assert (result.status, result.message.split(":")[0]) == ("failed",
                                                             "on-success action failed")
    assert nbmlops.get_run(result.run_id).tags["failure"] == "action"


def test_only_a_line_alone_moves_into_the_parameters_cell() -> None:
    from nbmlops.export.notebook import prepare

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("C = 1.0; X = list(range(3))\nk = 2")]
    prepared = prepare(nb, tracked={"C": 1.0, "k": 2})
    assert {p.name: p.default for p in prepared.parameters} == {"k": 2}
    assert prepared.notebook.cells[1].source.startswith("C = 1.0; X = list(range(3))\n# k = 2")
    with pytest.raises(nbmlops.JobSpecError, match="cannot be written as a parameter"):
        prepare(nb, params={"x": float("inf")})


def _gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for whoever adopted it to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals: Linux")
def test_a_killed_runner_takes_papermill_and_its_kernel_with_it(store_env: Path) -> None:
    project = store_env / "project"
    started, done = project / "started.json", project / "done.txt"
    slow = notebook(project / "slow.ipynb", ("pause = 10", ["parameters"]),
                    "import json, os, time, pathlib\n"
                    f"pathlib.Path({str(started)!r}).write_text(json.dumps("
                    "{'kernel': os.getpid(), 'papermill': os.getppid(), 't': time.time()}))\n"
                    f"time.sleep(pause)\npathlib.Path({str(done)!r}).write_text('finished')")
    folder = nbmlops.export_job(slow, job="slow").folder
    runner = subprocess.Popen([NBMLOPS, "jobs", "run", str(folder)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=os.environ)
    deadline = time.monotonic() + 120
    while not started.is_file():  # the kernel is up and in the sleeping cell
        assert runner.poll() is None, runner.communicate()
        assert time.monotonic() < deadline, "the job's kernel never started"
        time.sleep(0.05)
    pids = json.loads(started.read_text())
    assert _parent(pids["papermill"]) == runner.pid  # the chain: runner -> papermill -> kernel
    (output,) = [p for p in (folder / "runs").glob("*.ipynb") if not p.name.startswith(".")]
    runner.kill()
    runner.wait(timeout=10)
    deadline = time.monotonic() + 5
    try:
        while not (_gone(pids["papermill"]) and _gone(pids["kernel"])):
            assert time.monotonic() < deadline, f"still running: {pids}"
            time.sleep(0.05)
    finally:  # whatever the outcome, leave no orphan behind
        for pid in (pids["papermill"], pids["kernel"]):
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
    written = output.stat().st_mtime_ns, output.stat().st_size
    # past the moment the cell would have finished, nothing finished it
    time.sleep(max(0.0, pids["t"] + 10 + 2 - time.time()))
    assert not done.exists()
    assert (output.stat().st_mtime_ns, output.stat().st_size) == written
    job = nbmlops.get_run(nbmlops.runs(kind="job").run_id[0])
    assert job.status == "crashed"


def test_ci_runs_the_projects_notebooks_and_jobs_never_executed_outputs(
        store_env: Path) -> None:
    project = store_env / "project"
    papermill = str(Path(sys.executable).parent / "papermill")
    first = notebook(project / "nbs" / "first.ipynb", "x = 1 + 1")
    notebook(project / "nbs" / "deep" / "second.ipynb", "y = 2 * 2")
    # papermill's own output beside its input, and a job with a run's output in runs/
    done = subprocess.run([papermill, str(first), str(project / "nbs" / "first-out.ipynb"),
                           "-k", "python3"], capture_output=True, text=True, timeout=300,
                          env=os.environ)
    assert done.returncode == 0, done.stderr
    job = nbmlops.export_job(first, job="nightly").folder
    assert nbmlops.run_job(job).ok
    assert list((job / "runs").glob("*.ipynb"))
    # what runs leave or tools keep: never run (each would fail if it were)
    for where in ("build/ci/old", ".nbmlops", "nbs/.ipynb_checkpoints", ".venv/share"):
        notebook(project / where / "stale.ipynb", "raise SystemExit('not a source')")
    shown = subprocess.run([NBMLOPS, "ci", "."], capture_output=True, text=True, timeout=600,
                           env=os.environ, cwd=project)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.rstrip().endswith("nbmlops ci: 3 of 3 passed")
    ran = [line.split()[1] for line in shown.stdout.splitlines() if line.startswith("job ")]
    assert sorted(r.rsplit("-", 1)[0] for r in ran) == ["first", "nightly", "second"]
    assert f"skipped nbs/first-out.ipynb (papermill's output of {first})" in shown.stdout
    refused = subprocess.run([NBMLOPS, "ci", "nbs/first-out.ipynb"], capture_output=True,
                             text=True, timeout=120, env=os.environ, cwd=project)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"nbmlops: error: nbs/first-out.ipynb is an executed notebook (papermill's output "
        f"of {first}); give the notebook it was run from, or its job folder")


def test_export_under_papermill_gives_no_advice_about_saving(store_env: Path) -> None:
    project = store_env / "project"
    nb = notebook(project / "batch.ipynb", "%load_ext nbmlops", "%export --job from-batch")
    hour_ago = time.time() - 3600
    os.utime(nb, (hour_ago, hour_ago))  # saved long ago: in a front end, worth a note
    papermill = str(Path(sys.executable).parent / "papermill")
    out = project / "batch-out.ipynb"
    done = subprocess.run([papermill, str(nb), str(out), "-k", "python3"], capture_output=True,
                          text=True, timeout=300, env=os.environ, cwd=project)
    assert done.returncode == 0, done.stderr
    shown = "".join(o.get("text", "") for o in nbformat.read(out, as_version=4).cells[1].outputs)
    assert f"exported job from-batch to {project / 'jobs' / 'from-batch'}" in shown
    assert "save" not in shown
    assert (project / "jobs" / "from-batch" / "job.yaml").is_file()
