"""The schedulers' files (``nbmlops.export.targets``): checked by the tools that read them
(croniter, bash, systemd-analyze, YAML, Python's parser) and run with a fake interpreter
that records the command line it was given."""

from __future__ import annotations

import ast
import datetime as dt
import fcntl
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbmlops.errors import JobSpecError
from nbmlops.export import target_names, targets
from nbmlops.export.spec import JobSpec, Parameter

croniter_module = pytest.importorskip("croniter")
croniter = croniter_module.croniter

ROOT = Path(__file__).resolve().parents[1]
PARAMS = (Parameter("C", "float", 1.0), Parameter("label", "str", "a b'\"c"),
          Parameter("flag", "bool", True), Parameter("cols", "list", ["a", "b"]),
          Parameter("seed", "int", None))


def make_spec(**changes: Any) -> JobSpec:
    fields: dict[str, Any] = dict(name="train-churn", parameters=PARAMS,
                                  schedule="0 3 * * 1-5", timeout=600, retries=2,
                                  targets=("cron", "systemd", "github", "airflow"))
    fields.update(changes)
    return JobSpec(**fields)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "jobs" / "train-churn").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return root


def job_dir(root: Path) -> Path:
    return root / "jobs" / "train-churn"


def render(target: str, root: Path, *, python: str = "/usr/bin/python3",
           **changes: Any) -> dict[str, str]:
    return targets.render(make_spec(**changes), target, job_dir=job_dir(root),
                          project_root=root, python=python)


class FakePython:
    """An executable that records its working folder and arguments (NUL-separated)."""

    def __init__(self, folder: Path, name: str = "python") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / name
        self.record = folder / f"{name}.record"
        self.path.write_text(
            "#!/bin/bash\n"
            f"printf '%s\\0' \"$PWD\" \"$@\" > {shlex.quote(str(self.record))}\n"
            f"printf '%s' \"$PATH\" > {shlex.quote(str(self.record))}.path\n"
            "echo 'kernel says hi'\necho 'a warning' >&2\nexit \"${FAKE_EXIT:-0}\"\n")
        self.path.chmod(0o755)

    def path_seen(self) -> list[str]:
        return Path(f"{self.record}.path").read_text().split(":")

    def calls(self) -> tuple[str, list[str]] | None:
        if not self.record.exists():
            return None
        cwd, *args = self.record.read_text().split("\0")[:-1]
        return cwd, args


def run_args(folder: Path, *extra: str) -> list[str]:
    return ["-m", "nbmlops", "jobs", "run", str(folder), *extra]


# --- cron -----------------------------------------------------------------------------------

def test_cron_line_parses_with_croniter_and_names_the_wrapper(project: Path) -> None:
    files = render("cron", project)
    assert set(files) == {"cron/run.sh", "cron/crontab"}
    lines = [line for line in files["cron/crontab"].splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    *fields, command = shlex.split(lines[0])
    schedule = " ".join(fields)
    assert schedule == "0 3 * * 1-5"
    assert croniter.is_valid(schedule)
    friday_noon = dt.datetime(2026, 11, 20, 12, 0)
    assert croniter(schedule, friday_noon).get_next(dt.datetime) == dt.datetime(
        2026, 11, 23, 3, 0)  # Monday 03:00, not the weekend
    assert command == str(job_dir(project) / "cron" / "run.sh")


def test_cron_wrapper_is_valid_bash(project: Path) -> None:
    files = render("cron", project)
    script = project / "run.sh"
    script.write_text(files["cron/run.sh"])
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def odd_project(tmp_path: Path) -> Path:
    """A project whose path needs quoting everywhere."""
    root = tmp_path / "my proj's $HOME %d"
    (root / "jobs" / "train-churn").mkdir(parents=True)
    return root


def test_cron_wrapper_runs_the_job_from_the_project_root_and_logs(odd_project: Path,
                                                                   tmp_path: Path) -> None:
    fake = FakePython(tmp_path / "bin")
    paths = targets.write(make_spec(), ["cron"], job_dir=job_dir(odd_project),
                          project_root=odd_project, python="python")  # found on PATH
    script = job_dir(odd_project) / "cron" / "run.sh"
    assert script in paths
    assert os.access(script, os.X_OK)
    env = {"PATH": f"{fake.path.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([str(script), "-p", "C=0.5"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""  # cron would mail anything printed
    assert fake.calls() == (str(odd_project), run_args(job_dir(odd_project), "-p", "C=0.5"))
    # cron's PATH, then the usual folders; no empty entry (which would mean ".")
    assert fake.path_seen() == [str(fake.path.parent), "/usr/bin", "/bin", "/usr/local/bin",
                                "/usr/bin", "/bin"]
    log = (job_dir(odd_project) / "cron" / "logs" / "train-churn.log").read_text()
    assert "kernel says hi" in log
    assert "a warning" in log
    assert "exit status 0" in log


def test_cron_wrapper_reports_a_failure_and_keeps_its_status(project: Path,
                                                             tmp_path: Path) -> None:
    fake = FakePython(tmp_path / "bin", "python3.11")
    targets.write(make_spec(), ["cron"], job_dir=job_dir(project), project_root=project,
                  python=str(fake.path))
    script = job_dir(project) / "cron" / "run.sh"
    done = subprocess.run(["bash", str(script)], env={"FAKE_EXIT": "3", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stdout == ""
    assert "nbmlops job train-churn failed (exit status 3)" in done.stderr
    assert fake.calls() == (str(project), run_args(job_dir(project)))
    assert fake.path_seen()[:3] == [str(fake.path.parent), "/usr/bin", "/bin"]
    log = (job_dir(project) / "cron" / "logs" / "train-churn.log").read_text()
    assert log.count("starting") == 1
    assert "exit status 3" in log


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock(1) is not installed")
def test_cron_wrapper_skips_a_run_while_the_previous_one_holds_the_lock(
        project: Path, tmp_path: Path) -> None:
    fake = FakePython(tmp_path / "bin")
    targets.write(make_spec(), ["cron"], job_dir=job_dir(project), project_root=project,
                  python=str(fake.path))
    logs = job_dir(project) / "cron" / "logs"
    logs.mkdir()
    with open(logs / "train-churn.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # flock(1) uses the same lock
        done = subprocess.run(["bash", str(job_dir(project) / "cron" / "run.sh")],
                              capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert fake.calls() is None
    assert "skipped" in (logs / "train-churn.log").read_text()


@pytest.mark.parametrize("target", ["cron", "systemd"])
def test_scheduled_targets_need_a_schedule(project: Path, target: str) -> None:
    with pytest.raises(JobSpecError, match="--schedule"):
        render(target, project, schedule=None)


# --- systemd --------------------------------------------------------------------------------

def _systemd_analyze() -> str:
    """The path of a working systemd-analyze, or skip (with why)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    probe = subprocess.run([tool, "calendar", "daily"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze cannot run here: {probe.stderr.strip()}")
    return tool


@pytest.mark.parametrize("where", ["plain", "odd"])
def test_systemd_units_pass_systemd_analyze_verify(project: Path, odd_project: Path,
                                                   tmp_path: Path, where: str) -> None:
    tool = _systemd_analyze()
    root = project if where == "plain" else odd_project
    fake = FakePython(tmp_path / ("bin" if where == "plain" else "b i%n $x"))
    files = render("systemd", root, python=str(fake.path))
    names = {"systemd/nbmlops-job-train-churn.service", "systemd/nbmlops-job-train-churn.timer"}
    assert set(files) == names
    units = tmp_path / "units"
    units.mkdir()
    for rel, text in files.items():
        (units / Path(rel).name).write_text(text)
    checked = subprocess.run([tool, "verify", *sorted(str(p) for p in units.iterdir())],
                             capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    # "ignoring" warnings leave the exit status 0: nothing may be printed at all
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    service = files["systemd/nbmlops-job-train-churn.service"]
    assert "Type=oneshot" in service
    assert "TimeoutStartSec=" + str(600 + int(targets.TIMEOUT_MARGIN)) in service
    timer = files["systemd/nbmlops-job-train-churn.timer"]
    assert "OnCalendar=Mon..Fri *-*-* 03:00:00" in timer
    assert "Persistent=true" in timer


def test_systemd_exec_start_quotes_odd_paths(odd_project: Path) -> None:
    service = render("systemd", odd_project, python="/opt/my $py%/bin/python",
                     timeout=None)["systemd/nbmlops-job-train-churn.service"]
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))  # close to systemd's rules
    unescaped = [words[0].replace("%%", "%"),  # no $ expansion in the executable's path
                 *(w.replace("%%", "%").replace("$$", "$") for w in words[1:])]
    assert unescaped == ["/opt/my $py%/bin/python", *run_args(job_dir(odd_project))]
    assert "TimeoutStartSec=infinity" in service
    assert f"WorkingDirectory={str(odd_project).replace('%', '%%')}\n" in service


@pytest.mark.parametrize(("cron", "expected"), [
    ("0 3 * * 1-5", ["Mon..Fri *-*-* 03:00:00"]),
    ("*/15 * * * *", ["*-*-* *:00/15:00"]),
    ("5,35 8-18/2 * * *", ["*-*-* 08,10,12,14,16,18:05,35:00"]),
    ("0 0 1 */3 *", ["*-01/3-01 00:00:00"]),
    ("30 6 * * 0", ["Sun *-*-* 06:30:00"]),
    ("30 6 * * 7", ["Sun *-*-* 06:30:00"]),
    ("0 0 * * 0,5-7", ["Fri..Sun *-*-* 00:00:00"]),
    ("0 12 1 * 1", ["*-*-01 12:00:00", "Mon *-*-* 12:00:00"]),  # cron's day OR weekday
])
def test_on_calendar_forms(cron: str, expected: list[str]) -> None:
    assert targets.on_calendar(cron) == expected


def _systemd_elapses(tool: str, expressions: list[str], base: dt.datetime, n: int
                     ) -> list[dt.datetime]:
    out = subprocess.run(
        [tool, "calendar", f"--iterations={n}",
         f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", *expressions],
        capture_output=True, text=True, env={**os.environ, "TZ": "UTC"}, check=True).stdout
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", out)
    return sorted({dt.datetime.fromisoformat(f) for f in found})[:n]


@pytest.mark.parametrize("cron", [
    "0 3 * * 1-5", "*/15 * * * *", "5,35 8-18/2 * * *", "0 0 1 */3 *", "30 6 * * 0",
    "30 6 * * 7", "0 0 * * 0,5-7", "0 12 1 * 1", "0 0 1,15 * 3", "7/20 1-3 * 2,8 *",
    "0 22 29 2 *", "0 9-17 * * mon-fri", "15 4 * jan-mar sat", "0 0 31 * *",
    "*/7 */5 */3 * *", "0 0 * * *",
])
def test_on_calendar_elapses_as_cron_does(cron: str) -> None:
    tool = _systemd_analyze()
    base = dt.datetime(2026, 1, 1, 0, 0)
    n = 12
    want = []
    it = croniter(cron, base)
    for _ in range(n):
        want.append(it.get_next(dt.datetime))
    assert _systemd_elapses(tool, targets.on_calendar(cron), base, n) == want


@pytest.mark.parametrize("bad", ["60 * * * *", "* * * * 8", "*/0 * * * *", "5-1 * * * *",
                                 "* * * *", "x * * * *"])
def test_on_calendar_rejects_what_cron_rejects(bad: str) -> None:
    with pytest.raises(JobSpecError):
        targets.on_calendar(bad)


# --- GitHub Actions -------------------------------------------------------------------------

def _workflow(files: dict[str, str]) -> dict[Any, Any]:
    assert list(files) == ["github/nbmlops-train-churn.yml"]
    data = yaml.safe_load(files["github/nbmlops-train-churn.yml"])
    assert isinstance(data, dict)
    if True in data:  # PyYAML (YAML 1.1) reads the key `on` as True; GitHub does not
        data["on"] = data.pop(True)
    return data


def _steps(data: dict[Any, Any]) -> list[dict[str, Any]]:
    steps = data["jobs"]["run"]["steps"]
    assert isinstance(steps, list)
    return steps


def test_github_workflow_triggers_and_inputs(project: Path) -> None:
    data = _workflow(render("github", project))
    on = data["on"]
    assert on["schedule"] == [{"cron": "0 3 * * 1-5"}]
    assert on["push"]["paths"] == ["jobs/train-churn/**",
                                   ".github/workflows/nbmlops-train-churn.yml"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert list(inputs) == ["C", "label", "flag", "cols", "seed"]
    assert {k: v["type"] for k, v in inputs.items()} == {
        "C": "number", "label": "string", "flag": "boolean", "cols": "string",
        "seed": "number"}
    assert inputs["C"]["default"] == "1.0"
    assert inputs["label"]["default"] == "a b'\"c"
    assert inputs["flag"]["default"] is True
    assert inputs["cols"]["default"] == '["a", "b"]'
    assert "default" not in inputs["seed"]
    assert all(v["required"] is False and v["description"] for v in inputs.values())


def test_github_workflow_steps(project: Path) -> None:
    data = _workflow(render("github", project))
    job = data["jobs"]["run"]
    assert job["runs-on"] == "ubuntu-latest"
    assert job["timeout-minutes"] >= 10
    steps = _steps(data)
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert uses == ["actions/checkout", "actions/setup-python", "", "",
                    "actions/upload-artifact"]
    assert steps[1]["with"]["python-version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert "pip install -e ." in steps[2]["run"]
    assert "python -m nbmlops jobs run jobs/train-churn" in steps[3]["run"]
    assert steps[3]["env"]["NBMLOPS_PARAM_label"] == "${{ inputs.label }}"
    assert steps[4]["with"]["path"] == "jobs/train-churn/runs/"
    assert steps[4]["if"] == "always()"


def test_github_install_follows_the_project(project: Path) -> None:
    (project / "pyproject.toml").unlink()
    install = _steps(_workflow(render("github", project)))[2]["run"]
    assert "pip install -e ." not in install
    assert "pip install nbmlops" in install
    (project / "requirements.txt").write_text("scikit-learn\n")
    (project / "setup.py").write_text("")
    install = _steps(_workflow(render("github", project)))[2]["run"]
    assert "pip install -e ." in install
    assert "pip install -r requirements.txt" in install


def test_github_workflow_without_schedule_or_parameters(project: Path) -> None:
    data = _workflow(render("github", project, schedule=None, parameters=()))
    assert set(data["on"]) == {"push", "workflow_dispatch"}
    assert data["on"]["workflow_dispatch"] is None
    assert "env" not in _steps(data)[3]


def test_github_boolean_without_default_is_a_text_input(project: Path) -> None:
    data = _workflow(render("github", project, parameters=(Parameter("v", "bool", None),)))
    assert data["on"]["workflow_dispatch"]["inputs"]["v"]["type"] == "string"


def test_github_finds_the_job_through_a_symlinked_root(project: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(project)
    files = targets.render(make_spec(), "github", job_dir=job_dir(project).resolve(),
                           project_root=link, python="python")
    assert "python -m nbmlops jobs run jobs/train-churn" in _steps(_workflow(files))[3]["run"]


def test_github_needs_the_job_inside_the_project(project: Path, tmp_path: Path) -> None:
    with pytest.raises(JobSpecError, match="not inside the project root"):
        targets.render(make_spec(), "github", job_dir=tmp_path / "elsewhere",
                       project_root=project, python="python")


def _run_step(project: Path, tmp_path: Path, inputs: dict[str, str]) -> list[str]:
    """The run step's script under bash, ``${{ inputs.X }}`` replaced as GitHub would (empty
    when the event is a schedule or push); returns the arguments nbmlops got."""
    step = _steps(_workflow(render("github", project)))[3]
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    for var, expression in step.get("env", {}).items():
        name = re.fullmatch(r"\$\{\{ inputs\.(\w+) \}\}", expression)
        assert name, expression
        env[var] = inputs.get(name.group(1), "")
    fake = FakePython(tmp_path / "bin")
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=project, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = fake.calls()
    assert calls is not None
    assert calls[0] == str(project)
    return calls[1]


def test_github_run_step_passes_only_the_inputs_given(project: Path, tmp_path: Path) -> None:
    base = ["-m", "nbmlops", "jobs", "run", "jobs/train-churn"]
    assert _run_step(project, tmp_path, {}) == base  # schedule/push: the job's defaults
    nasty = "x y'\"z $(touch pwned) `id` ${HOME}"
    got = _run_step(project, tmp_path, {"C": "0.5", "label": nasty, "flag": "false"})
    assert got == [*base, "-p", "C=0.5", "-p", f"label={nasty}", "-p", "flag=false"]
    assert not (project / "pwned").exists()


# --- Airflow --------------------------------------------------------------------------------

def _dag_file(project: Path, **changes: Any) -> tuple[str, str]:
    files = render("airflow", project, **changes)
    assert list(files) == ["airflow/nbmlops_train_churn.py"]
    return "airflow/nbmlops_train_churn.py", files["airflow/nbmlops_train_churn.py"]


def test_airflow_dag_source(project: Path) -> None:
    _, source = _dag_file(project)
    tree = ast.parse(source)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {"airflow.sdk", "airflow", "airflow.providers.standard.operators.bash",
            "airflow.operators.bash"} <= imported
    assert not any("contrib" in (m or "") for m in imported)
    calls = {n.func.id: n for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    dag_kw = {k.arg: k.value for k in calls["DAG"].keywords}
    assert "schedule_interval" not in dag_kw
    assert ast.literal_eval(dag_kw["schedule"]) == "0 3 * * 1-5"
    assert ast.literal_eval(dag_kw["catchup"]) is False
    task_kw = {k.arg: k.value for k in calls["BashOperator"].keywords}
    assert ast.literal_eval(task_kw["task_id"]) == "run_train-churn"
    assert ast.literal_eval(task_kw["retries"]) == 2
    assert "exec /usr/bin/python3 -m nbmlops jobs run " + str(job_dir(project)) in source


class _Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        made.append(self)

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


made: list[_Recorder] = []


@pytest.fixture(params=["airflow3", "airflow2"])
def fake_airflow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[str]:
    """Stand-ins for Airflow's modules, laid out as Airflow 3 (``airflow.sdk``, the standard
    provider) or as Airflow 2 without the provider, recording what the DAG file builds."""
    modules: dict[str, dict[str, Any]] = {"airflow": {}}
    dag, param, bash = (type(n, (_Recorder,), {}) for n in ("DAG", "Param", "BashOperator"))
    if request.param == "airflow3":
        modules["airflow.sdk"] = {"DAG": dag, "Param": param}
        modules["airflow.providers"] = {}
        modules["airflow.providers.standard"] = {}
        modules["airflow.providers.standard.operators"] = {}
        modules["airflow.providers.standard.operators.bash"] = {"BashOperator": bash}
    else:
        modules["airflow"] = {"DAG": dag}
        modules["airflow.models"] = {}
        modules["airflow.models.param"] = {"Param": param}
        modules["airflow.operators"] = {}
        modules["airflow.operators.bash"] = {"BashOperator": bash}
    for name in [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]:
        monkeypatch.delitem(sys.modules, name)
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__path__ = []  # a package, so submodules import
        for key, value in attrs.items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, name, module)
    made.clear()
    yield request.param
    made.clear()


def _load_dag(project: Path, tmp_path: Path, **changes: Any) -> dict[str, Any]:
    _, source = _dag_file(project, **changes)
    path = tmp_path / "nbmlops_train_churn.py"
    path.write_text(source)
    namespace = runpy.run_path(str(path))
    dags = [m for m in made if type(m).__name__ == "DAG"]
    tasks = [m for m in made if type(m).__name__ == "BashOperator"]
    assert len(dags) == 1
    assert len(tasks) == 1
    params = {k: v.args[0] for k, v in dags[0].kwargs["params"].items()}
    return {"dag": dags[0].kwargs, "task": tasks[0].kwargs, "params": params,
            "namespace": namespace}


def _run_task(task: dict[str, Any], params: dict[str, Any], tmp_path: Path,
              python: FakePython) -> list[str]:
    """Render the task's templates as Airflow does (sandboxed Jinja) and run its command."""
    from jinja2.sandbox import SandboxedEnvironment

    jinja = SandboxedEnvironment()
    env = {k: jinja.from_string(v).render(params=params) for k, v in task["env"].items()}
    command = jinja.from_string(task["bash_command"]).render(params=params)
    done = subprocess.run(["bash", "-c", command], env={**env, "PATH": "/usr/bin:/bin"},
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = python.calls()
    assert calls is not None
    return calls[1]


def test_airflow_dag_imports_and_builds_the_task(project: Path, tmp_path: Path,
                                                 fake_airflow: str) -> None:
    fake = FakePython(tmp_path / "bin")
    (project / "pyproject.toml").unlink()
    loaded = _load_dag(project, tmp_path, python=str(fake.path))
    dag, task = loaded["dag"], loaded["task"]
    assert dag["dag_id"] == "nbmlops-train-churn"
    assert dag["schedule"] == "0 3 * * 1-5"
    assert dag["catchup"] is False
    assert dag["start_date"].tzinfo is not None
    assert task["task_id"] == "run_train-churn"
    assert task["retries"] == 2
    assert task["append_env"] is True
    assert task["execution_timeout"] == dt.timedelta(seconds=600 + targets.TIMEOUT_MARGIN)
    assert loaded["params"] == {p.name: p.default for p in PARAMS}

    base = run_args(job_dir(project), "--retries", "0")  # Airflow does the retries
    args = _run_task(task, loaded["params"], tmp_path, fake)
    assert args == [*base, "-p", "C=1.0", "-p", "label=a b'\"c", "-p", "flag=true",
                    "-p", 'cols=["a", "b"]']  # seed is None: the job's default applies
    assert fake.calls() == (str(project), args)  # run from the project root
    # each value reads back as its parameter's type (what `jobs run -p` does)
    values = dict(a.split("=", 1) for a in args[len(base) + 1::2])
    spec = make_spec()
    assert {k: spec.parameter(k).convert(v) for k, v in values.items()} == {
        "C": 1.0, "label": "a b'\"c", "flag": True, "cols": ["a", "b"]}

    conf = {**loaded["params"], "label": "$(touch pwned) {{ x }}", "seed": 7, "flag": False}
    args = _run_task(task, conf, tmp_path, fake)
    assert "label=$(touch pwned) {{ x }}" in args
    assert "seed=7" in args
    assert "flag=false" in args
    assert not (tmp_path / "pwned").exists()


def test_airflow_paths_survive_jinja(tmp_path: Path, fake_airflow: str) -> None:
    root = tmp_path / "p {{ x }} {% y %}"
    (root / "jobs" / "train-churn").mkdir(parents=True)
    fake = FakePython(tmp_path / "bin")
    loaded = _load_dag(root, tmp_path, python=str(fake.path), parameters=())
    args = _run_task(loaded["task"], {}, tmp_path, fake)
    assert args == run_args(job_dir(root), "--retries", "0")
    assert fake.calls() == (str(root), args)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_airflow_really_imports_the_dag(project: Path, tmp_path: Path) -> None:
    if os.environ.get("NBMLOPS_TEST_AIRFLOW") != "1":
        pytest.skip("installs Airflow in a throwaway virtualenv (minutes): set "
                    "NBMLOPS_TEST_AIRFLOW=1 to run it (scripts/check-airflow-dag)")
    written = targets.write(make_spec(), ["airflow"], job_dir=job_dir(project),
                            project_root=project, python=sys.executable)
    done = subprocess.run([str(ROOT / "scripts" / "check-airflow-dag"), str(written[0]),
                           "nbmlops-train-churn", "run_train-churn"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "ok: Airflow" in done.stdout


# --- paths, writing, instructions ----------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil", "a/b", "/abs", "", ".hidden", "x" * 65, "a b"])
def test_a_job_name_cannot_lead_out_of_the_job_folder(project: Path, name: str) -> None:
    for target in target_names():
        with pytest.raises(JobSpecError, match="job name"):
            targets.render(make_spec(name=name), target, job_dir=job_dir(project),
                           project_root=project, python="python")


@pytest.mark.parametrize("rel", ["../outside.sh", "cron/../../outside", "/tmp/abs",
                                 "~/x", "", "./x", "a\\..\\b"])
def test_the_writer_refuses_paths_outside_the_job_folder(project: Path, rel: str) -> None:
    with pytest.raises(JobSpecError, match="refusing"):
        targets._write_files(job_dir(project), {"cron/ok": "fine", rel: "bad"})
    assert not (job_dir(project) / "cron").exists()  # nothing written when one is bad
    assert not (project / "jobs" / "outside.sh").exists()


def test_the_writer_refuses_a_symlink_leading_out(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (job_dir(project) / "cron").symlink_to(outside)
    with pytest.raises(JobSpecError, match="outside"):
        targets._write_files(job_dir(project), {"cron/run.sh": "x"})
    assert list(outside.iterdir()) == []


def test_write_puts_every_file_in_place_atomically(project: Path) -> None:
    spec = make_spec()
    paths = targets.write(spec, spec.targets, job_dir=job_dir(project), project_root=project,
                          python="/usr/bin/python3")
    rels = sorted(p.relative_to(job_dir(project)).as_posix() for p in paths)
    assert rels == sorted(["cron/run.sh", "cron/crontab",
                           "systemd/nbmlops-job-train-churn.service",
                           "systemd/nbmlops-job-train-churn.timer",
                           "github/nbmlops-train-churn.yml",
                           "airflow/nbmlops_train_churn.py"])
    for p in paths:
        assert bool(p.stat().st_mode & 0o111) == (p.suffix == ".sh"), p
        assert p.read_text() == targets.render(
            spec, p.relative_to(job_dir(project)).parts[0], job_dir=job_dir(project),
            project_root=project, python="/usr/bin/python3")[
                p.relative_to(job_dir(project)).as_posix()]
    leftovers = [p for p in job_dir(project).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    again = targets.write(spec, ["cron"], job_dir=job_dir(project), project_root=project,
                          python="/usr/bin/python3")  # rewriting replaces
    assert [p.name for p in again] == ["run.sh", "crontab"]


def test_unknown_target(project: Path) -> None:
    with pytest.raises(JobSpecError, match="not one of cron, systemd, github, airflow"):
        render("kubernetes", project)


def test_instructions_name_the_files_and_commands(project: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    spec = make_spec()
    paths = targets.write(spec, spec.targets, job_dir=job_dir(project), project_root=project,
                          python="/usr/bin/python3")

    def of(target: str) -> str:
        mine = [p for p in paths if p.relative_to(job_dir(project)).parts[0] == target]
        text = targets.instructions(target, mine)
        assert 1 <= len(text.splitlines()) <= 2
        return text

    assert "cat jobs/train-churn/cron/crontab) | crontab -" in of("cron")
    systemd = of("systemd")
    assert ("cp jobs/train-churn/systemd/nbmlops-job-train-churn.service "
            "jobs/train-churn/systemd/nbmlops-job-train-churn.timer ~/.config/systemd/user/"
            in systemd)
    assert "systemctl --user enable --now nbmlops-job-train-churn.timer" in systemd
    assert ("cp jobs/train-churn/github/nbmlops-train-churn.yml "
            ".github/workflows/nbmlops-train-churn.yml" in of("github"))
    assert "airflow/nbmlops_train_churn.py" in of("airflow")
    assert "DAGs folder" in of("airflow")


def test_github_installs_what_the_notebook_imports(store_env: Path) -> None:
    import importlib.metadata as metadata

    import nbformat

    project = store_env / "project"
    (project / "helpers.py").write_text("def clean(x):\n    return x\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "%load_ext nbmlops",
        "import os, json\nimport numpy as np\nfrom sklearn.linear_model import "
        "LogisticRegression\nimport helpers",
        "%%track --name fit\nimport yaml\n!echo shell\nmodel = LogisticRegression()",
        "try:\n    import not_a_real_module_xyz\nexcept ImportError:\n    pass")]
    nbformat.write(nb, project / "train.ipynb")
    nbmlops_cli = str(Path(sys.executable).parent / "nbmlops")
    done = subprocess.run([nbmlops_cli, "export", "train.ipynb", "--job", "train",
                           "--target", "github"], capture_output=True, text=True, timeout=120,
                          cwd=project, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert ("no installed package provides not_a_real_module_xyz (imported by the notebook): "
            "add what provides it to requirements.txt") in done.stdout
    needs = (project / "jobs" / "train" / "requirements.txt").read_text()
    pins = [line for line in needs.splitlines() if not line.startswith("#")]
    assert pins == [f"numpy=={metadata.version('numpy')}",
                    f"scikit-learn=={metadata.version('scikit-learn')}",
                    f"PyYAML=={metadata.version('PyYAML')}"]
    workflow = yaml.safe_load(
        (project / "jobs" / "train" / "github" / "nbmlops-train.yml").read_text())
    install = _steps(workflow)[2]["run"]
    assert "pip install -r jobs/train/requirements.txt" in install.splitlines()
    # the pins are what this environment has: pip finds them all without an index
    check = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index",
                            "-r", str(project / "jobs" / "train" / "requirements.txt")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Would install" not in check.stdout
