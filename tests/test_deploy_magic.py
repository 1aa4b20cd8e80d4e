"""``%deploy`` in a real IPython shell, ``nbmlops deploy|predictions`` from a shell, and an
exported bundle served from its own folder without the store."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import nbmlops
from tests.shell import one_line_error, run
from tests.test_cli import cli

RNG = np.random.default_rng(7)
X = pd.DataFrame({"tenure": RNG.integers(1, 72, 400), "spend": RNG.gamma(4.0, 20.0, 400)})
Y = ((X.tenure < 24) & (X.spend > 60)).astype(int)
MODEL = LogisticRegression(max_iter=1000).fit(X, Y)


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(f"{url}/predict", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture
def registered(store_env: Path) -> Path:
    nbmlops.register(MODEL, name="churn", data=X, alias="production")
    return store_env


def test_deploy_list_logs_and_stop_from_the_magic(shell, registered: Path, capsys
                                                  ) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    result = run(shell, "%deploy churn@production --port 0")
    out = capsys.readouterr().out
    assert result.success, out
    match = re.match(r"deployed churn: churn/1 \(follows the alias\) at "
                     r"(http://127\.0\.0\.1:\d+)\n", out)
    assert match, out
    url = match.group(1)
    try:
        rows = X.head(25)
        answer = post(url, rows.to_dict(orient="records"))
        assert answer["predictions"] == MODEL.predict(rows).tolist()

        listed = run(shell, "%deploy --list").result
        assert isinstance(listed, pd.DataFrame)
        assert listed[["name", "status", "url", "model", "alias", "version"]].iloc[0].tolist() \
            == ["churn", "running", url, "churn", "production", 1]
        # the same from a shell, as JSON
        shown = cli("deploy", "--list", "--format", "json")
        assert shown.returncode == 0, shown.stderr
        (row,) = json.loads(shown.stdout)
        assert (row["name"], row["status"], row["url"]) == ("churn", "running", url)

        capsys.readouterr()
        assert run(shell, "%deploy --logs churn --lines 200").success
        logs = capsys.readouterr().out
        assert f"nbmlops: serving churn/1 as 'churn' at {url} (1 worker)" in logs
        assert "Application startup complete" in logs

        # a second deployment by that name, a taken port: one-line errors, nothing lost
        shown_error = one_line_error(shell, capsys, "%deploy churn@production --port 0")
        assert "already running" in shown_error
        assert "--stop churn" in shown_error
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            shown_error = one_line_error(shell, capsys,
                                         f"%deploy churn@production --name other --port {port}")
        assert f"port {port} on 127.0.0.1 is already in use" in shown_error
        assert post(url, rows.to_dict(orient="records"))["predictions"] == \
            answer["predictions"]

        # what was served is in the prediction log (written every 2 s), in Python and
        # from the CLI
        deadline = time.monotonic() + 20
        while len(nbmlops.predictions("churn")) < 50 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(nbmlops.predictions("churn")) == 50
        shown = cli("predictions", "churn", "--format", "json", "--limit", "3")
        assert shown.returncode == 0, shown.stderr
        records = json.loads(shown.stdout)
        assert [r["prediction"] for r in records] == answer["predictions"][-3:]
        assert {"tenure", "spend", "_time", "_version"} <= set(records[0])
    finally:
        capsys.readouterr()
        stopped = run(shell, "%deploy --stop churn")
    assert stopped.success
    assert capsys.readouterr().out.startswith(f"stopped churn (it served churn/1 at {url})")
    assert nbmlops.get_deployment("churn").status == "stopped"
    with pytest.raises(OSError):
        post(url, X.head(1).to_dict(orient="records"))
    assert "is not running" in one_line_error(shell, capsys, "%deploy --stop churn")


@pytest.mark.parametrize(("line", "message"), [
    ("%deploy", "name the model to serve"),
    ("%deploy churn@nosuch --port 0", "nosuch"),
    ("%deploy nosuch --port 0", "nosuch"),
    ("%deploy churn --out scores.parquet", "--out goes with --batch"),
    ("%deploy churn --batch customers.parquet", "needs --out"),
    ("%deploy churn --list --export bundle", "one of"),
    ("%deploy --stop nobody", "nobody"),
    ("%deploy churn --batch nowhere.parquet --out s.parquet", "no input file"),
    ("%deploy churn --port 0 --workers 0", "workers"),
])
def test_bad_input_is_a_one_line_error(shell, registered: Path, capsys, line: str,
                                       message: str) -> None:  # type: ignore[no-untyped-def]
    assert message in one_line_error(shell, capsys, line)
    assert nbmlops.deployments().empty
    assert nbmlops.load_model("churn@production").version.version == 1


def test_batch_from_the_magic(shell, registered: Path, tmp_path: Path, capsys
                              ) -> None:  # type: ignore[no-untyped-def]
    source, dest = tmp_path / "customers.parquet", tmp_path / "scores.parquet"
    X.to_parquet(source)
    capsys.readouterr()
    result = run(shell, f"%deploy churn@production --batch {source} --out {dest} "
                        "--chunk-size 150")
    out = capsys.readouterr().out
    assert result.success, out
    assert "scoring customers.parquet with churn/1: 400/400 rows" in out
    assert re.search(r"scored 400 rows of customers.parquet with churn/1 into .*scores.parquet",
                     out)
    np.testing.assert_array_equal(pd.read_parquet(dest)["prediction"], MODEL.predict(X))
    runs = nbmlops.runs(experiment="batch")
    assert runs[["status", "params.version"]].iloc[0].tolist() == ["finished", 1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_bundle(folder: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "nbmlops.serving", ".", "--port", str(port)],
                            cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def test_an_exported_bundle_serves_from_its_folder_without_the_store(
        shell, registered: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "bundle"
    capsys.readouterr()
    assert run(shell, f"%deploy churn@production --export {folder}").success
    assert f"exported churn@production to {folder}" in capsys.readouterr().out
    assert {"model.skops", "nbmlops-model.json", "requirements.txt", "Dockerfile", "start.sh",
            "README.md", "nbmlops"} <= {p.name for p in folder.iterdir()}
    manifest = json.loads((folder / "nbmlops-model.json").read_text())
    assert (manifest["model"], manifest["version"]) == ("churn", 1)
    assert "scikit-learn==" in (folder / "requirements.txt").read_text()
    assert "nbmlops.serving" in (folder / "Dockerfile").read_text()

    # another machine: no store, no settings, only the folder
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBMLOPS_")}
    env["HOME"] = str(tmp_path / "elsewhere")
    store = Path(os.environ["NBMLOPS_STORE"])
    store_bytes = store.read_bytes()
    port = _free_port()
    server = _serve_bundle(folder, port, env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server)
        rows = X.sample(30, random_state=0)
        answer = post(url, rows.to_dict(orient="list"))
        assert answer["predictions"] == MODEL.predict(rows).tolist()
        assert (answer["model"], answer["version"]) == ("churn", 1)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
    assert store.read_bytes() == store_bytes  # the store was never touched
    assert list((folder / "predictions").rglob("*.parquet"))  # its own prediction log

    # a changed model file is refused, with the reason
    model_file = folder / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    refused = subprocess.run([sys.executable, "-m", "nbmlops.serving", ".", "--port", "0"],
                             cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "does not match the sha256 in its manifest" in refused.stderr
    assert "Traceback" not in refused.stderr


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.communicate()[0].decode())
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")
