"""A store with real operations records, for the panel's Deployments, Jobs and Drift tabs
and their routes: ``churn`` served by a real server process (started, stopped, restarted
under the same name, answering real requests, a bad one among them), two jobs run by a
real kernel (one finished, in a folder the notebook server can open; one failed by its
gate, exported outside ``<project>/jobs``), a drift check of moved data, and a monitor
check that alerted and made its own drift check."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbmlops
from tests.test_jobs import notebook
from tests.test_serving import FEATURES, V1, Client, X

TRAIN = ("import nbmlops\n"
         "with nbmlops.track('nightly', 'train'):\n"
         "    nbmlops.log_metric('acc', 0.5)\n")


def _moved(n: int, seed: int) -> Any:
    rows = X[FEATURES].sample(n, replace=True, random_state=seed).reset_index(drop=True)
    return rows.assign(tenure=lambda f: f.tenure + 400, spend=lambda f: f.spend * 30)


def make_ops(base: Path, jobs_root: Path) -> dict[str, Any]:
    """Fill the store; ``jobs_root``: where the job that finishes is exported. The
    deployment ``churn-api`` is left running: stop it with :func:`stop_ops`."""
    from nbmlops import api

    nbmlops.register(V1, name="churn", data=X[FEATURES], alias="production")
    first = nbmlops.deploy("churn@production", name="churn-api", port=0)
    nbmlops.stop_deployment("churn-api")
    served = nbmlops.deploy("churn@production", name="churn-api", port=0)  # a restart
    client = Client(served.url)
    for start in range(0, 200, 100):
        client.predict(_moved(200, 1).iloc[start:start + 100].to_dict(orient="records"))
    status, _, _ = client.request("POST", "/predict", raw=b"{not json")
    assert 400 <= status < 500
    deadline = time.time() + 20
    while len(nbmlops.predictions("churn-api")) < 200:
        assert time.time() < deadline, "the prediction log did not fill"
        time.sleep(0.2)

    drift = nbmlops.drift("churn@production", _moved(300, 2))
    monitor = nbmlops.create_monitor("churn@production", name="churn-watch", min_rows=50,
                                     deployment="churn-api")
    checked = nbmlops.run_monitor(monitor.folder, now=datetime.now(tz=UTC))

    source = notebook(base / "src" / "train.ipynb", TRAIN)
    ok = nbmlops.export_job(source, job="train", folder=jobs_root / "train")
    gated = nbmlops.export_job(source, job="nightly", folder=base / "elsewhere" / "nightly",
                               gates=["metrics.acc >= 0.9"])
    ok_run = nbmlops.run_job(ok.folder)
    failed_run = nbmlops.run_job(gated.folder)
    assert (ok_run.status, failed_run.status) == ("finished", "failed")
    api.close()  # the server process opens the store itself
    return {"first": first, "served": served, "drift": drift.run_id, "monitor": checked,
            "ok_job": ok_run.run_id, "failed_job": failed_run.run_id,
            "jobs_root": jobs_root}


def stop_ops() -> None:
    from nbmlops.errors import DeploymentError

    try:
        nbmlops.stop_deployment("churn-api")
    except DeploymentError:
        pass  # stopped by the test
