"""``%deploy --export`` bundles carry Kubernetes manifests: a Deployment with readiness and
liveness probes on /health and the token from a Secret, a Service and an autoscaler. They
validate offline against the Kubernetes schemas (kubernetes-validate, strict), and the
container command they give really serves the bundle: /health open to the probes,
/predict only with the Secret's token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import nbmlops
from nbmlops import api
from tests.shell import run
from tests.test_deploy_magic import MODEL, X, _free_port, _wait_healthy

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install -e '.[dev]' (kubernetes-validate)")
K8S_VERSION = "1.30.0"


def _manifests(folder: Path) -> dict[str, dict[str, Any]]:
    import yaml

    found = {}
    for path in sorted((folder / "kubernetes").glob("*.yaml")):
        docs = list(yaml.safe_load_all(path.read_text()))
        assert len(docs) == 1, path
        found[path.name] = docs[0]
    return found


def _call(url: str, path: str, body: Any = None, token: str | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_bundle_carries_valid_kubernetes_manifests_that_serve_it(
        shell, store_env: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    nbmlops.register(MODEL, name="Churn_Model", data=X, alias="production")
    folder = tmp_path / "bundle"
    assert run(shell, f"%deploy Churn_Model@production --export {folder}").success
    manifests = _manifests(folder)
    assert set(manifests) == {"deployment.yaml", "service.yaml", "hpa.yaml"}
    for doc in manifests.values():
        # raises ValidationError on any field the schema does not allow (strict: no unknown)
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)

    deployment = manifests["deployment.yaml"]
    assert deployment["metadata"]["name"] == "churn-model"  # a valid object name
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    token_var = container["env"][0]
    assert token_var["valueFrom"]["secretKeyRef"] == {"name": "churn-model-token",
                                                      "key": "token"}
    assert container["args"][-2:] == ["--token-env", token_var["name"]]
    assert container["image"] == "churn-model:1"
    service, hpa = manifests["service.yaml"], manifests["hpa.yaml"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "churn-model"}
    assert "kubectl apply -f kubernetes/" in (folder / "README.md").read_text()

    # the validation is not vacuous: a probe on a field the schema lacks is refused
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"][
        "paht"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)

    # the container's command, run here as the pod would run it, without the optional
    # store Secret: it serves, and records nothing
    server, output = _serve_as_the_pod(container, folder, store=None)
    assert server.returncode == 0, output
    assert api.list_deployments() == []


POD = {"POD_NAME": "churn-model-5d8f7-x2x9k", "POD_NAMESPACE": "ml"}


def _serve_as_the_pod(container: dict[str, Any], folder: Path, *, store: str | None,
                      check: Any = None) -> tuple[Any, str]:
    """Run the container's command and args here as the kubelet would (the image's
    /srv/model is the bundle folder; ``$(VAR)`` in args expanded from the container's env;
    the Secrets' values in the environment): call it, then stop it (SIGTERM)."""
    import re

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBMLOPS_")}
    env.update(POD, **{container["env"][0]["name"]: "s3cret-token"})
    if store is not None:
        env["NBMLOPS_STORE"] = store
    command = [sys.executable if c == "python" else c for c in container["command"]]
    command[command.index("/srv/model")] = str(folder)
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in container["args"]]
    args[args.index("--port") + 1] = str(port)
    args[args.index("--host") + 1] = "127.0.0.1"
    server = subprocess.Popen(command + args, cwd=folder, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server)  # the probes' path needs no token
        rows = X.head(5).to_dict(orient="records")
        assert _call(url, "/predict", rows) == 401
        assert _call(url, "/predict", rows, token="s3cret-token") == 200
        if check is not None:
            check()
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    return server, output


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_a_bundle_served_on_its_own_records_its_deployment_in_the_store(
        shell, store_env: Path, tmp_path: Path, capsys, backend: str,  # type: ignore[no-untyped-def]
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod's command with the store Secret's URL in NBMLOPS_STORE: the deployment is
    recorded under the pod's name, with the Service's URL and the version, running while
    it serves, stopped after SIGTERM, and both are audit events."""
    if backend == "postgres":
        monkeypatch.setenv("NBMLOPS_STORE", request.getfixturevalue("pg_url"))
        api.close()
    nbmlops.register(MODEL, name="Churn_Model", data=X, alias="production")
    folder = tmp_path / "bundle"
    assert run(shell, f"%deploy Churn_Model@production --export {folder}").success
    container = _manifests(folder)["deployment.yaml"]["spec"]["template"]["spec"][
        "containers"][0]
    store = os.environ["NBMLOPS_STORE"]
    seen = {}

    def while_serving() -> None:
        (live,) = api.list_deployments()
        seen["live"] = (live.name, live.status, live.model, live.version, live.url)

    server, output = _serve_as_the_pod(container, folder, store=store, check=while_serving)
    assert server.returncode == 0, output
    assert seen["live"] == (POD["POD_NAME"], "running", "Churn_Model", 1,
                            "http://churn-model.ml.svc")
    (ended,) = api.list_deployments()
    assert (ended.status, ended.alias) == ("stopped", None)
    assert ended.options["bundle"] == str(folder)
    actions = [e.action for e in api.audit_events("Churn_Model")
               if e.deployment == ended.id]
    assert actions == ["deploy", "undeploy"]


def test_a_bundle_refuses_a_store_that_does_not_hold_its_version(
        shell, store_env: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    nbmlops.register(MODEL, name="Churn_Model", data=X, alias="production")
    folder = tmp_path / "bundle"
    assert run(shell, f"%deploy Churn_Model@production --export {folder}").success
    other = tmp_path / "other" / "lineage.db"  # a store of its own: churn is not in it
    made = subprocess.run([sys.executable, "-c", "from nbmlops import api; "
                           "api.workspace(mode='write')"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NBMLOPS_STORE": str(other)})
    assert made.returncode == 0, made.stderr
    out = subprocess.run([sys.executable, "-m", "nbmlops.serving", str(folder), "--port", "0"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NBMLOPS_STORE": str(other)})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1, out.stderr
    assert "Churn_Model/1 is not registered in the store NBMLOPS_STORE names" in out.stderr
    assert "unset NBMLOPS_STORE to serve without recording the deployment" in out.stderr
