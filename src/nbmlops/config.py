"""Where the lineage store and the artifacts live.

Precedence, highest first:

1. environment variables ``NBMLOPS_STORE`` (a SQLAlchemy URL or a path to a SQLite file)
   and ``NBMLOPS_ARTIFACTS`` (a folder);
2. ``[tool.nbmlops]`` in the project's ``pyproject.toml`` (``store``, ``artifacts``,
   ``auto_upgrade``), relative paths taken from the folder holding that file;
3. the default: ``.nbmlops/lineage.db`` and ``.nbmlops/artifacts/`` at the project root,
   the nearest folder at or above the working directory that holds ``pyproject.toml`` or
   ``.git`` (else the working directory itself, which in Jupyter is the notebook's folder).

When only the store is given and it is a SQLite file, artifacts default to an
``artifacts/`` folder beside it, so a store folder is self-contained.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import ConfigError

__all__ = ["Settings", "find_project_root", "resolve_settings", "sqlite_path"]

STORE_ENV = "NBMLOPS_STORE"
ARTIFACTS_ENV = "NBMLOPS_ARTIFACTS"
AUTO_UPGRADE_ENV = "NBMLOPS_AUTO_UPGRADE"
DEFAULT_DIR = ".nbmlops"
_MARKERS = ("pyproject.toml", ".git")


@dataclass(frozen=True, slots=True)
class Settings:
    store_url: str
    artifacts_root: Path
    project_root: Path
    auto_upgrade: bool = True
    source: str = "default"  # "env", "pyproject.toml" or "default": where store_url came from


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
    unknown = set(table) - {"store", "artifacts", "auto_upgrade"}
    if unknown:
        raise ConfigError(
            f"[tool.nbmlops] in {pyproject} has unknown key(s) {sorted(unknown)}; "
            "known keys are store, artifacts, auto_upgrade",
            setting="tool.nbmlops",
        )
    for key in ("store", "artifacts"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"[tool.nbmlops] {key} in {pyproject} must be a string",
                              setting=f"tool.nbmlops.{key}")
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

    if env.get(ARTIFACTS_ENV):
        artifacts = (cwd / Path(env[ARTIFACTS_ENV]).expanduser()).resolve()
    elif "artifacts" in table:
        artifacts = (root / Path(table["artifacts"]).expanduser()).resolve()
    elif (db := sqlite_path(store_url)) is not None and source != "default":
        artifacts = db.parent / "artifacts"
    else:
        artifacts = root / DEFAULT_DIR / "artifacts"

    if env.get(AUTO_UPGRADE_ENV):
        auto_upgrade = _parse_bool(env[AUTO_UPGRADE_ENV], AUTO_UPGRADE_ENV)
    else:
        auto_upgrade = bool(table.get("auto_upgrade", True))

    return Settings(store_url=store_url, artifacts_root=artifacts, project_root=root,
                    auto_upgrade=auto_upgrade, source=source)
