"""Where the lineage store and the artifacts live.

Precedence, highest first:

1. environment variables ``NBMLOPS_STORE`` (a SQLAlchemy URL or a path to a SQLite file),
   ``NBMLOPS_ARTIFACTS`` (a folder, or a URL such as ``s3://bucket/prefix``) and
   ``NBMLOPS_ARTIFACTS_OPTIONS`` (a JSON object);
2. ``[tool.nbmlops]`` in the project's ``pyproject.toml`` (``store``, ``artifacts``,
   ``auto_upgrade``, and the table ``[tool.nbmlops.artifacts_options]``), relative paths
   taken from the folder holding that file;
3. the default: ``.nbmlops/lineage.db`` and ``.nbmlops/artifacts/`` at the project root,
   the nearest folder at or above the working directory that holds ``pyproject.toml`` or
   ``.git`` (else the working directory itself, which in Jupyter is the notebook's folder).

When only the store is given and it is a SQLite file, artifacts default to an
``artifacts/`` folder beside it, so a store folder is self-contained.

Artifacts given as a URL (any fsspec filesystem; ``s3://`` needs ``nbmlops[s3]``) live
there; ``artifacts_root`` is then the local cache of blobs read from it
(``artifact-cache/`` where the local folder would have been). The artifact options are
handed to the filesystem's driver as keyword arguments (for S3: ``endpoint_url``,
``profile``, ``client_kwargs``, …); the environment variable replaces the table whole.
Credentials come from the driver's usual chain (for S3: ``AWS_*`` variables, ``~/.aws``,
an instance role); pyproject.toml, a file people commit, refuses them.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops.errors import ConfigError

__all__ = ["Settings", "find_project_root", "resolve_settings", "settings_env",
           "split_artifacts_url", "sqlite_path"]

STORE_ENV = "NBMLOPS_STORE"
ARTIFACTS_ENV = "NBMLOPS_ARTIFACTS"
AUTO_UPGRADE_ENV = "NBMLOPS_AUTO_UPGRADE"
ARTIFACTS_OPTIONS_ENV = "NBMLOPS_ARTIFACTS_OPTIONS"
# never in a committed file: the driver's credential chain provides them
_CREDENTIAL_KEYS = frozenset({"key", "secret", "token", "password", "aws_access_key_id",
                              "aws_secret_access_key", "aws_session_token", "session_token",
                              "access_key", "secret_key", "account_key", "sas_token"})
DEFAULT_DIR = ".nbmlops"
_MARKERS = ("pyproject.toml", ".git")


@dataclass(frozen=True, slots=True)
class Settings:
    store_url: str
    artifacts_root: Path
    project_root: Path
    auto_upgrade: bool = True
    source: str = "default"  # "env", "pyproject.toml" or "default": where store_url came from
    # artifacts on an fsspec filesystem (``s3://bucket/prefix``): artifacts_root is then the
    # local cache; the options go to the filesystem's driver and are never shown
    artifacts_url: str | None = None
    artifacts_options: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)
    # every tracked run keeps a copy of the data files and frames it read up to this size
    # (bytes; 0: only runs tracked with --snapshot)
    snapshot_max_bytes: int = 0

    @property
    def artifacts_location(self) -> str:
        """Where the artifacts live: the URL, or the local folder."""
        return self.artifacts_url or str(self.artifacts_root)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process open the same store and artifacts."""
    env = {STORE_ENV: settings.store_url, ARTIFACTS_ENV: settings.artifacts_location}
    if settings.artifacts_url is not None and settings.artifacts_options:
        env[ARTIFACTS_OPTIONS_ENV] = json.dumps(dict(settings.artifacts_options))
    return env


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding pyproject.toml or .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in _MARKERS):
            return folder
    return here


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, or None (in-memory or not SQLite)."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split(":///", 1)
    if len(rest) != 2 or not rest[1] or rest[1].startswith(":memory:"):
        return None
    return Path(rest[1].split("?", 1)[0])


def _as_url(value: str, base: Path, setting: str) -> str:
    value = value.strip()
    if not value:
        raise ConfigError(f"{setting} is empty: give a SQLAlchemy URL or a path to a .db file",
                          setting=setting)
    if "://" in value:
        scheme = value.split("://", 1)[0]
        if not scheme.replace("+", "").replace("_", "").isalnum():
            raise ConfigError(
                f"{setting}={value!r} is not a SQLAlchemy URL (expected e.g. "
                "'sqlite:///path/lineage.db' or 'postgresql+psycopg://user@host/db')",
                setting=setting,
            )
        if scheme.split("+", 1)[0] == "sqlite":  # also sqlite+pysqlite://, with ?options
            path = sqlite_path(value)
            if path is not None and not path.is_absolute():
                _, sep, query = value.partition("?")
                return f"{scheme}:///{(base / path).resolve()}{sep}{query}"
        return value
    return f"sqlite:///{(base / Path(value).expanduser()).resolve()}"


def _read_tool_table(pyproject: Path) -> Mapping[str, Any]:
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read [tool.nbmlops] from {pyproject}: {exc}",
                          setting=str(pyproject)) from exc
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"[tool] in {pyproject} must be a table", setting="tool")
    table = tool.get("nbmlops", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.nbmlops] in {pyproject} must be a table", setting="tool.nbmlops")
    unknown = set(table) - {"store", "artifacts", "auto_upgrade", "artifacts_options",
                            "snapshot_max_bytes"}
    if unknown:
        raise ConfigError(
            f"[tool.nbmlops] in {pyproject} has unknown key(s) {sorted(unknown)}; "
            "known keys are store, artifacts, auto_upgrade, artifacts_options, "
            "snapshot_max_bytes",
            setting="tool.nbmlops",
        )
    limit = table.get("snapshot_max_bytes", 0)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigError(f"[tool.nbmlops] snapshot_max_bytes in {pyproject} must be a whole "
                          "number of bytes, 0 or more (0: snapshot only with %%track "
                          "--snapshot)", setting="tool.nbmlops.snapshot_max_bytes")
    for key in ("store", "artifacts"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"[tool.nbmlops] {key} in {pyproject} must be a string",
                              setting=f"tool.nbmlops.{key}")
    options = table.get("artifacts_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"[tool.nbmlops] artifacts_options in {pyproject} must be a table",
                          setting="tool.nbmlops.artifacts_options")
    secret = sorted(k for k in options if k.lower() in _CREDENTIAL_KEYS)
    if secret:
        raise ConfigError(
            f"[tool.nbmlops.artifacts_options] in {pyproject} holds credentials ({secret}); "
            "they do not belong in a committed file: use the usual AWS chain (AWS_* "
            "variables, ~/.aws, a profile) instead", setting="tool.nbmlops.artifacts_options")
    if "auto_upgrade" in table and not isinstance(table["auto_upgrade"], bool):
        raise ConfigError(f"[tool.nbmlops] auto_upgrade in {pyproject} must be true or false",
                          setting="tool.nbmlops.auto_upgrade")
    return table


def _parse_bool(value: str, setting: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{setting}={value!r}: use 1/0, true/false, yes/no or on/off",
                      setting=setting)


def resolve_settings(start: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Work out where the store and artifacts are for a process started in ``start``."""
    env = os.environ if env is None else env
    cwd = (start or Path.cwd()).resolve()
    root = find_project_root(cwd)
    table = _read_tool_table(root / "pyproject.toml")

    if env.get(STORE_ENV):
        store_url, source = _as_url(env[STORE_ENV], cwd, STORE_ENV), "env"
    elif "store" in table:
        store_url, source = _as_url(table["store"], root, "[tool.nbmlops] store"), "pyproject.toml"
    else:
        store_url, source = f"sqlite:///{root / DEFAULT_DIR / 'lineage.db'}", "default"

    artifacts_url: str | None = None
    if env.get(ARTIFACTS_ENV):
        artifacts_url = _artifacts_url(env[ARTIFACTS_ENV], ARTIFACTS_ENV)
        given: Path | None = None if artifacts_url else \
            (cwd / Path(_local(env[ARTIFACTS_ENV])).expanduser()).resolve()
    elif "artifacts" in table:
        artifacts_url = _artifacts_url(table["artifacts"], "[tool.nbmlops] artifacts")
        given = None if artifacts_url else \
            (root / Path(_local(table["artifacts"])).expanduser()).resolve()
    else:
        given = None
    if given is not None:
        artifacts = given
    elif (db := sqlite_path(store_url)) is not None and source != "default":
        artifacts = db.parent / "artifacts"
    else:
        artifacts = root / DEFAULT_DIR / "artifacts"
    if artifacts_url is not None:
        artifacts = artifacts.with_name("artifact-cache")
    if env.get(ARTIFACTS_OPTIONS_ENV):
        artifacts_options = _json_object(env[ARTIFACTS_OPTIONS_ENV], ARTIFACTS_OPTIONS_ENV)
    else:
        artifacts_options = dict(table.get("artifacts_options", {}))

    if env.get(AUTO_UPGRADE_ENV):
        auto_upgrade = _parse_bool(env[AUTO_UPGRADE_ENV], AUTO_UPGRADE_ENV)
    else:
        auto_upgrade = bool(table.get("auto_upgrade", True))

    return Settings(store_url=store_url, artifacts_root=artifacts, project_root=root,
                    auto_upgrade=auto_upgrade, source=source, artifacts_url=artifacts_url,
                    artifacts_options=artifacts_options if artifacts_url else {},
                    snapshot_max_bytes=int(table.get("snapshot_max_bytes", 0)))


def _local(value: str) -> str:
    value = value.strip()
    return value[len("file://"):] if value.lower().startswith("file://") else value


def _artifacts_url(value: str, setting: str) -> str | None:
    """The URL when artifacts are on an fsspec filesystem, None for a local folder."""
    value = value.strip()
    if not value:
        raise ConfigError(f"{setting} is empty: give a folder or a URL such as "
                          "'s3://bucket/prefix'", setting=setting)
    if "://" not in value or value.lower().startswith("file://"):
        return None
    try:
        scheme, rest = split_artifacts_url(value)
    except ConfigError as exc:
        raise ConfigError(f"{setting}: {exc}", setting=setting) from None
    return f"{scheme}://{rest}"


def split_artifacts_url(url: str) -> tuple[str, str]:
    """``("s3", "bucket/prefix")`` for ``s3://bucket/prefix/``; refuses a prefix with
    ``.``, ``..`` or empty segments (it must name one place, plainly)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum() \
            or not rest.strip("/"):
        raise ConfigError(f"{url!r} is not an artifact store URL (expected e.g. "
                          "'s3://bucket/prefix')")
    rest = rest.rstrip("/")
    if any(part in ("", ".", "..") for part in rest.split("/")):
        raise ConfigError(f"the artifact store URL {url!r} has an empty, '.' or '..' "
                          "segment; give the prefix plainly, e.g. 's3://bucket/team/ml'")
    return scheme.lower(), rest


def _json_object(value: str, setting: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{setting} is not valid JSON ({exc.msg} at character {exc.pos}); "
                          'give an object such as {"endpoint_url": "http://localhost:9000"}',
                          setting=setting) from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"{setting} must be a JSON object, not {type(parsed).__name__}",
                          setting=setting)
    return parsed
