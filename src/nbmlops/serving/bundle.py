"""A self-contained folder that serves one model version without the lineage store.

``export_bundle`` writes::

    model.skops            the version's file, exactly as registered (sha256 in the manifest)
    nbmlops-model.json     the manifest: model, version, sha256, format, trusted types,
                           signature, source run, who exported it and when
    requirements.txt       the serving dependencies, pinned to the exporting environment
    nbmlops/               this package's own source (so nothing unpublished is needed)
    start.sh               python -m nbmlops.serving "$here" "$@"
    Dockerfile             the same, in a python:<version>-slim image
    kubernetes/            manifests for that image: a Deployment (readiness and liveness
                           probes on /health, the bearer token from a Secret), a Service and
                           a HorizontalPodAutoscaler (``kubectl apply -f kubernetes/``)
    README.md              how to run it, what it answers

and ``python -m nbmlops.serving DIR`` (what ``start.sh`` runs) serves it: the file is
checked against the manifest's sha256 and loaded with the manifest's trusted types.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import UnsafeModelError
from nbmlops.registry import get_format
from nbmlops.serving.model import ServedModel

if TYPE_CHECKING:
    from nbmlops._types import ModelVersion

MANIFEST = "nbmlops-model.json"
SERVING_REQUIREMENTS = ("numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "skops",
                        "starlette", "uvicorn", "prometheus-client", "uvloop", "httptools",
                        # recording the deployment in a store (NBMLOPS_STORE), when given one
                        "sqlalchemy", "psycopg", "psycopg-binary")
_SKIP = ("__pycache__", "labextension", "*.pyc")
TOKEN_VAR = "NBMLOPS_TOKEN"  # where the Deployment puts the Secret's token


def export_bundle(version: ModelVersion, model_bytes: bytes, folder: Path, *,
                  exported_by: str | None = None, port: int = 8000) -> Path:
    """Write the bundle of ``version`` (whose verified file bytes are ``model_bytes``)."""
    folder = folder.expanduser().resolve()
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MANIFEST).is_file():
            raise FileExistsError(f"{folder} exists and is not an nbmlops bundle; choose an "
                                  "empty or new folder")
        shutil.rmtree(folder)  # an older bundle: replaced whole
    folder.mkdir(parents=True, exist_ok=True)
    model_file = get_format(version.format).file_name
    (folder / model_file).write_bytes(model_bytes)
    manifest = {
        "model": version.model, "version": version.version, "file": model_file,
        "sha256": version.sha256, "format": version.format,
        "trusted_types": list(version.trusted_types), "signature": version.signature,
        "flavor": version.flavor, "run_id": version.run_id,
        "created_at": version.created_at.isoformat(), "created_by": version.created_by,
        "description": version.description,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "exported_by": exported_by, "python": platform.python_version(),
        "nbmlops": _version("nbmlops"),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / "requirements.txt").write_text(_requirements(version))
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, folder / "nbmlops", ignore=shutil.ignore_patterns(*_SKIP))
    start = folder / "start.sh"
    start.write_text('#!/bin/sh\n# serve this bundle: ./start.sh [--host H] [--port P] '
                     '[--workers N] [--token-env VAR]\nhere="$(cd "$(dirname "$0")" && pwd)"\n'
                     'cd "$here" && exec "${PYTHON:-python3}" -m nbmlops.serving "$here" "$@"\n')
    start.chmod(0o755)
    py = ".".join(platform.python_version_tuple()[:2])
    (folder / "Dockerfile").write_text(
        f"FROM python:{py}-slim\n"
        "WORKDIR /srv/model\n"
        "COPY requirements.txt .\n"
        "RUN pip install --no-cache-dir -r requirements.txt\n"
        "COPY . .\n"
        f"EXPOSE {port}\n"
        'CMD ["python", "-m", "nbmlops.serving", "/srv/model", "--host", "0.0.0.0", '
        f'"--port", "{port}"]\n')
    kube = folder / "kubernetes"
    kube.mkdir()
    for file_name, manifest_doc in kubernetes_manifests(version, port=port).items():
        (kube / file_name).write_text(to_yaml(manifest_doc))
    (folder / "README.md").write_text(_readme(version, port))
    return folder


def kube_name(model: str) -> str:
    """``model`` as a Kubernetes object name (DNS-1123: lower case, digits, '-', at most
    63 characters, starting and ending with a letter or digit)."""
    name = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")[:63].rstrip("-")
    return name or "model"


def kubernetes_manifests(version: ModelVersion, *, port: int = 8000, replicas: int = 2,
                         max_replicas: int = 10, cpu_target: int = 70) -> dict[str, Any]:
    """The Deployment, Service and HorizontalPodAutoscaler that run the bundle's image
    (``<name>:<version>``, built from its Dockerfile), by file name. The token comes from
    the Secret ``<name>-token`` (key ``token``); /health answers the probes without it.
    With the Secret ``<name>-store`` (key ``url``: a store URL with its login), each pod
    records its deployment there (start, stop, the Service's URL, the version)."""
    name = kube_name(version.model)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/version": str(version.version),
              "app.kubernetes.io/managed-by": "nbmlops"}
    selector = {"app.kubernetes.io/name": name}
    probe = {"httpGet": {"path": "/health", "port": "http"}, "timeoutSeconds": 2}
    container = {
        "name": "model", "image": f"{name}:{version.version}", "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "nbmlops.serving", "/srv/model"],
        # each pod records itself (when the store Secret exists) under its own name, with
        # the Service's address as the URL clients use
        "args": ["--host", "0.0.0.0", "--port", str(port), "--name", "$(POD_NAME)",
                 "--url", f"http://{name}.$(POD_NAMESPACE).svc",  # the Service, port 80
                 "--token-env", TOKEN_VAR],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": TOKEN_VAR, "valueFrom": {"secretKeyRef": {
                     "name": f"{name}-token", "key": "token"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {
                    "fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
                    "fieldPath": "metadata.namespace"}}},
                # optional: without the Secret the pod serves without recording
                {"name": "NBMLOPS_STORE", "valueFrom": {"secretKeyRef": {
                    "name": f"{name}-store", "key": "url", "optional": True}}}],
        "readinessProbe": {**probe, "initialDelaySeconds": 2, "periodSeconds": 5,
                           "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 20, "periodSeconds": 10,
                          "failureThreshold": 3},
        # the autoscaler measures CPU against the request
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                      "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"nbmlops/model": f"{version.model}/{version.version}",
                                     "nbmlops/sha256": version.sha256}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container],
                                       "terminationGracePeriodSeconds": 40}}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": selector,
                 "ports": [{"name": "http", "port": 80, "targetPort": "http",
                            "protocol": "TCP"}]},
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": name},
                 "minReplicas": replicas, "maxReplicas": max(max_replicas, replicas),
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization",
                                               "averageUtilization": cpu_target}}}]},
    }
    return {"deployment.yaml": deployment, "service.yaml": service, "hpa.yaml": autoscaler}


def to_yaml(value: Any, indent: int = 0) -> str:
    """``value`` (dicts, lists, strings, numbers, booleans) as block YAML; every string is
    double-quoted (JSON's escapes are YAML's), so none is read as another type."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return f"{pad}{{}}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_scalar(item)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return f"{pad}[]\n"
        out = []
        for item in value:
            text = to_yaml(item, indent + 2)
            out.append(f"{pad}- {text[indent + 2:]}" if isinstance(item, (dict, list)) and item
                       else f"{pad}- {_scalar(item)}\n")
        return "".join(out)
    return f"{pad}{_scalar(value)}\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(str(value))


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise UnsafeModelError(f"{folder} is not a readable nbmlops bundle ({exc})") from None
    try:
        model_file = get_format(str(manifest.get("format"))).file_name
    except ValueError as exc:
        raise UnsafeModelError(f"{folder / MANIFEST}: {exc}; refusing to load it") from None
    if manifest.get("file") != model_file:
        raise UnsafeModelError(f"{folder / MANIFEST}: 'file' must be {model_file} for the "
                               f"{manifest.get('format')} format; refusing to load it")
    return manifest


def check_bundle(folder: Path, *, trusted: bool | Sequence[str] = False
                 ) -> tuple[dict[str, Any], bytes]:
    """The manifest and the model file's bytes, once they match the manifest's sha256 and
    hold only types ``trusted`` allows (nothing is loaded)."""
    from nbmlops.registry import formats

    manifest = read_manifest(folder)
    reference = f"{manifest['model']}/{manifest['version']}"
    if manifest["format"] == "pickle" and trusted is False:
        raise formats.refuse_pickle(reference)
    data = (folder / manifest["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise UnsafeModelError(f"{folder / manifest['file']} does not match the sha256 in its "
                               "manifest (changed since it was exported); refusing to load it",
                               reference=reference)
    formats.audit(data, manifest["format"], tuple(manifest["trusted_types"]),
                  trusted=trusted, reference=reference)
    return manifest, data


def load_bundle(folder: Path, *, trusted: bool | Sequence[str] = False) -> ServedModel:
    """The bundle's model, its bytes checked against the manifest's sha256, loaded
    trusting well-known types and those ``trusted`` names (see registry.formats)."""
    from nbmlops.registry import Signature, formats

    manifest, data = check_bundle(folder, trusted=trusted)
    reference = f"{manifest['model']}/{manifest['version']}"
    model = formats.load(data, manifest["format"], tuple(manifest["trusted_types"]),
                         trusted=trusted, reference=reference)
    signature = (None if manifest.get("signature") is None
                 else Signature.from_json(manifest["signature"]))
    return ServedModel(
        name=manifest["model"], version=int(manifest["version"]), model=model,
        signature=signature, sha256=manifest["sha256"],
        details={k: manifest.get(k) for k in ("run_id", "format", "flavor", "created_at",
                                               "description", "exported_at")})


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _requirements(version: ModelVersion) -> str:
    wanted = list(SERVING_REQUIREMENTS)
    # the libraries the model's own types come from (xgboost, lightgbm, …)
    modules = {t.split(".")[0] for t in version.trusted_types} | {version.flavor}
    dists = md.packages_distributions()
    for module in sorted(modules):
        for dist in dists.get(module, []):
            if dist.lower() not in (w.lower() for w in wanted):
                wanted.append(dist)
    lines = ["# the serving dependencies, pinned to the environment that exported this "
             "bundle", f"# (Python {platform.python_version()} on {sys.platform})"]
    for dist in wanted:
        pinned = _version(dist)
        if pinned is not None:
            lines.append(f"{dist}=={pinned}")
    return "\n".join(lines) + "\n"


def _readme(version: ModelVersion, port: int) -> str:
    columns = ", ".join(f"`{n}` ({d})" for n, d in (version.signature or {}).get("inputs", []))
    return (
        f"# {version.model} version {version.version}\n\n"
        f"Exported by nbmlops from the registry (sha256 `{version.sha256[:16]}…`).\n\n"
        "```sh\npip install -r requirements.txt\n"
        f"./start.sh --port {port}            # or: python -m nbmlops.serving . --port {port}\n"
        f"docker build -t {version.model}:{version.version} . && "
        f"docker run -p {port}:{port} {version.model}:{version.version}\n```\n\n"
        f"`POST /predict` takes JSON records or columns{': ' + columns if columns else ''}. "
        "`GET /health`, `GET /metadata`, `GET /metrics` (Prometheus), `GET /docs`.\n"
        "Predictions are logged as Parquet under `predictions/` (`--no-log` to turn off; "
        "`--log-dir s3://bucket/prefix` logs them to object storage).\n\n"
        "## On Kubernetes\n\n"
        "```sh\n"
        f"docker build -t {kube_name(version.model)}:{version.version} .   # and push it where "
        "your cluster pulls from\n"
        f"kubectl create secret generic {kube_name(version.model)}-token "
        "--from-literal=token=\"$(openssl rand -hex 32)\"\n"
        "kubectl apply -f kubernetes/\n```\n\n"
        "`kubernetes/` holds a Deployment (readiness and liveness probes on `/health`, the "
        f"bearer token from the Secret as `{TOKEN_VAR}`), a Service (port 80) and a "
        "HorizontalPodAutoscaler (CPU).\n\n"
        "## Recording the deployment\n\n"
        "With `NBMLOPS_STORE` set (a store URL, e.g. the team's PostgreSQL with a writer's "
        "login), the server records its deployment there: its start and stop, its URL "
        "(`--url`, else where it listens) and this version; the store must hold this version "
        "with the same sha256. On Kubernetes, create the optional Secret "
        f"`{kube_name(version.model)}-store` (key `url`) and each pod records itself under "
        "its own name:\n\n```sh\n"
        f"kubectl create secret generic {kube_name(version.model)}-store "
        "--from-literal=url=\"postgresql+psycopg://deployer:...@db/mlops\"\n```\n")


def is_bundle(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()
