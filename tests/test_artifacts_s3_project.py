"""A project whose artifacts live on S3, end to end: a run with a model tracked in a real
IPython shell, the model registered, then loaded in a fresh process. Nothing lands in a
local artifacts folder (only blobs read go to the local cache), and the credentials,
which come from the usual AWS chain, are stored nowhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3_CREDENTIALS
from tests.shell import run
from tests.test_register_magic import SETUP

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_project(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from nbmlops import api

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "churn"

        [tool.nbmlops]
        artifacts = "{s3.url}"

        [tool.nbmlops.artifacts_options]
        endpoint_url = "{s3.endpoint}"
        """), encoding="utf-8")
    for name in ("NBMLOPS_STORE", "NBMLOPS_ARTIFACTS", "NBMLOPS_ARTIFACTS_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(project)
    yield project
    api.close()


def _local_files(project: Path) -> list[str]:
    return sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())


def test_track_register_and_load_elsewhere_with_artifacts_on_s3(  # type: ignore[no-untyped-def]
    s3: Any, s3_project: Path, ipython_shell, capsys
) -> None:
    import nbmlops
    from nbmlops import api

    shell = ipython_shell
    shell.reset(new_session=False)
    sys.modules["__main__"] = shell.user_module
    assert run(shell, "%load_ext nbmlops").success
    try:
        assert run(shell, SETUP).success
        assert run(shell, "%%track -q -n fit\nmodel = LogisticRegression().fit("
                          "X_train[features], y_train)").success
        result = run(shell, "%register model --name churn --alias production")
        shown = "".join(capsys.readouterr())
        assert result.success, shown
        expected = shell.user_ns["model"].predict(shell.user_ns["X_test"][
            shell.user_ns["features"]]).tolist()
    finally:
        run(shell, "%unload_ext nbmlops")
        shell.reset(new_session=False)

    version = nbmlops.load_model("churn@production").version
    run_record = nbmlops.get_run(version.run_id)
    blobs = {a.artifact.sha256 for a in run_record.artifacts} | {version.sha256}
    remote = {k.rsplit("/", 1)[-1] for k in s3.fs.find(s3.key(""))}
    assert blobs <= remote  # the run's model and the registered version are in the bucket
    api.close()

    # a fresh process, knowing only the project folder and the AWS chain, loads and predicts
    cache = s3_project / ".nbmlops" / "artifact-cache"
    shutil.rmtree(cache, ignore_errors=True)  # nothing read yet may come from here
    code = textwrap.dedent("""
        import json, nbmlops
        from tests.test_register_magic import SETUP
        ns = {}
        exec(SETUP, ns)
        m = nbmlops.load_model("churn@production")
        print(json.dumps({"version": m.version.version,
                          "pred": m.predict(ns["X_test"][ns["features"]]).tolist()}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], cwd=s3_project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"version": version.version, "pred": expected}

    # locally: the lineage store and the cache of what was read, nothing else
    files = _local_files(s3_project)
    others = [f for f in files if f != "pyproject.toml"
              and not f.startswith(".nbmlops/lineage.db")
              and not f.startswith(".nbmlops/artifact-cache/")]
    assert others == []
    assert not (s3_project / ".nbmlops" / "artifacts").exists()
    assert (cache / version.sha256[:2] / version.sha256).is_file()  # read, so cached

    # the credentials came from the environment and were stored nowhere
    for f in files:
        raw = (s3_project / f).read_bytes()
        for secret in (S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                       S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]):
            assert secret.encode() not in raw, f
    assert S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in shown + out.stdout + out.stderr
