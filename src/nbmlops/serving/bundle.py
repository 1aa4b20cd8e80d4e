"""A self-contained folder that serves one model version without the lineage store.

``export_bundle`` writes::

    model.skops            the version's file, exactly as registered (sha256 in the manifest)
    nbmlops-model.json     the manifest: model, version, sha256, format, trusted types,
                           signature, source run, who exported it and when
    requirements.txt       the serving dependencies, pinned to the exporting environment
    nbmlops/               this package's own source (so nothing unpublished is needed)
    start.sh               python -m nbmlops.serving "$here" "$@"
    Dockerfile             the same, in a python:<version>-slim image
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
                        "starlette", "uvicorn", "prometheus-client", "uvloop", "httptools")
_SKIP = ("__pycache__", "labextension", "*.pyc")


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
    (folder / "README.md").write_text(_readme(version, port))
    return folder


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
        "Predictions are logged as Parquet under `predictions/` (`--no-log` to turn off).\n")


def is_bundle(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()
