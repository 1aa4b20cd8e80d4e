"""Two workspaces that share only a PostgreSQL server and an S3 bucket: separate project
folders, separate caches, separate processes (as two people on two machines).

A data scientist (workspace A) tracks a run and registers a model. An ML engineer
(workspace B) loads that version, serves it (a real server process, whose model comes
from the bucket through B's cache), sends it traffic, and checks the traffic for drift.
Back in A, a drift check reads the prediction log that server wrote to the bucket, and
the server's own log is readable there too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.s3, pytest.mark.postgres]

DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
X = pd.DataFrame({"tenure": rng.integers(1, 72, 400).astype("int64"),
                  "spend": rng.gamma(4.0, 20.0, 400)})
y = (X.tenure < 20).astype(int)
"""

TRAIN = DATA + """
import json, nbmlops
from sklearn.ensemble import RandomForestClassifier
with nbmlops.track("churn", "forest", params={"n_estimators": 25}) as run:
    model = RandomForestClassifier(n_estimators=25, random_state=0).fit(X, y)
    nbmlops.log_metric("accuracy", float(model.score(X, y)))
version = nbmlops.register(model, name="churn", run=run.id, alias="production", data=X)
print(json.dumps({"run": run.id, "version": version.version, "sha256": version.sha256}))
"""

SERVE_AND_CHECK = DATA + """
import http.client, json, nbmlops
from urllib.parse import urlsplit
loaded = nbmlops.load_model("churn@production")
source = nbmlops.get_run(loaded.version.run_id)
deployment = nbmlops.deploy("churn@production", name="churn-api", port=0)
moved = X.head(120).assign(tenure=X.tenure.head(120) + 300, spend=X.spend.head(120) * 30)
try:
    url = urlsplit(deployment.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", "/predict", body=json.dumps(moved.to_dict(orient="records")),
                 headers={"Content-Type": "application/json"})
    answer = json.loads(conn.getresponse().read())
finally:
    nbmlops.stop_deployment("churn-api")  # the last part of the log goes up as it stops
report = nbmlops.drift(deployment="churn-api")
found = nbmlops.get_deployment("churn-api")
print(json.dumps({
    "version": loaded.version.version, "sha256": loaded.version.sha256,
    "run_metrics": dict(source.metrics), "served": answer["version"],
    "predictions": answer["predictions"], "local": loaded.predict(moved).tolist(),
    "drifted": bool(report.dataset_drift), "current": report.current,
    "log_dir": found.log_dir, "server_log": found.server_log}))
"""

CHECK_ELSEWHERE = """
import json, nbmlops
report = nbmlops.drift(deployment="churn-api")
log = nbmlops.predictions("churn-api")
print(json.dumps({"drifted": bool(report.dataset_drift), "current": report.current,
                  "rows": len(log), "versions": sorted(set(log["_version"].tolist())),
                  "checks": nbmlops.drift_checks(deployment="churn-api").total,
                  "server_log": nbmlops.deployment_logs("churn-api", lines=200)}))
"""


def _project(folder: Path, store: str, s3: Any) -> Path:
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [tool.nbmlops]
        store = "{store}"
        artifacts = "{s3.url}"

        [tool.nbmlops.artifacts_options]
        endpoint_url = "{s3.endpoint}"
        """), encoding="utf-8")
    return folder


def _in(project: Path, code: str) -> dict[str, Any]:
    """Run ``code`` as a script of its own in ``project`` (what its pyproject says is all
    it knows about the store and the artifacts) and return the JSON it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBMLOPS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *sys.path])
    out = subprocess.run([sys.executable, "-c", code], cwd=project, env=env,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def test_a_model_made_in_one_workspace_is_served_and_checked_in_another(
        pg_url: str, s3: Any, tmp_path: Path) -> None:
    a = _project(tmp_path / "alice" / "churn", pg_url, s3)
    b = _project(tmp_path / "bob" / "ops", pg_url, s3)

    made = _in(a, TRAIN)
    served = _in(b, SERVE_AND_CHECK)

    # B loaded and served the version A registered, from the run A tracked
    assert (served["version"], served["sha256"]) == (made["version"], made["sha256"])
    assert served["run_metrics"]["accuracy"] > 0.9
    assert served["served"] == made["version"]
    assert served["predictions"] == served["local"]
    # the served model came from the bucket, through B's own cache (by sha256)
    digest = made["sha256"]
    assert (b / ".nbmlops" / "artifact-cache" / digest[:2] / digest).is_file()
    assert s3.fs.exists(s3.key(f"{digest[:2]}/{digest}"))
    # the server logged to the bucket, not to B's disk
    assert served["log_dir"] == f"{s3.url}/deployments/churn-api/predictions"
    assert served["server_log"].startswith(f"{s3.url}/deployments/churn-api/server-")
    parts = s3.fs.ls(s3.key("deployments/churn-api/predictions"))
    assert parts
    assert all(p.rsplit("/", 1)[-1].startswith("part-") for p in parts)
    assert not list((b / ".nbmlops").rglob("part-*.parquet"))
    assert served["drifted"] is True
    assert "120 rows" in served["current"]

    # A, which shares nothing with B but the database and the bucket, reads that log
    checked = _in(a, CHECK_ELSEWHERE)
    assert checked["rows"] == 120
    assert checked["versions"] == [made["version"]]
    assert checked["drifted"] is True
    assert checked["current"] == served["current"]
    assert checked["checks"] == 2  # B's check and A's, in the one shared store
    assert f"serving churn/{made['version']}" in checked["server_log"]
    assert "deployment 'churn-api' stopped" in checked["server_log"]
    # each workspace kept its own cache; A never ran the server, so it holds no log locally
    assert not (a / ".nbmlops" / "deployments").exists()
