"""The Workspace: what every capability works in, opened once per process.

A :class:`Workspace` holds the lineage store, the artifact store, the settings they came
from and the acting identity. It is frozen: a capability function takes the workspace it
works in and never reaches for a global store.

``open_workspace(settings, mode=...)`` opens one per store location and process:

- ``mode="read"`` looks and changes nothing: a store that is not there is not created
  (:class:`~nbmlops.errors.NoStoreError`), an older schema is not upgraded (a
  :class:`~nbmlops.errors.SchemaVersionError` says what to do) and no crashed runs are
  marked;
- ``mode="write"`` creates the store if needed, upgrades its schema (when the settings
  allow) and marks runs left ``running`` by dead processes as ``crashed``.

A workspace opened for writing also serves reads. Capabilities may keep per-process
services (tracking's background writer) in :meth:`Workspace.service`; they are closed with
the workspace and renewed in a forked child.
"""

from __future__ import annotations

import atexit
import getpass
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from nbmlops._types import Actor
from nbmlops.config import (
    ARTIFACTS_ENV,
    ARTIFACTS_OPTIONS_ENV,
    AUTO_UPGRADE_ENV,
    STORE_ENV,
    Settings,
    resolve_settings,
)

if TYPE_CHECKING:
    from nbmlops.artifacts import ArtifactStore
    from nbmlops.store import Store

Mode = Literal["read", "write"]
MODES: tuple[Mode, ...] = ("read", "write")


class Service(Protocol):
    """A per-process part a capability keeps in a workspace (e.g. a background writer)."""

    def close(self) -> None: ...

    def after_fork(self) -> None: ...


S = TypeVar("S", bound=Service)


@dataclass(frozen=True, eq=False)
class Workspace:
    """The store, the artifact store, the settings and the acting identity, together."""

    settings: Settings
    store: Store
    artifacts: ArtifactStore
    actor: Actor
    mode: Mode
    # a stand-in for a store that does not exist yet: every read finds nothing
    empty: bool = False
    # team mode (PostgreSQL after ``nbmlops team init``): the database names who acts, and
    # ``actor`` is the role this session logged in as
    team: bool = False
    _services: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def project_root(self) -> Path:
        return self.settings.project_root

    @property
    def writable(self) -> bool:
        return self.mode == "write"

    def service(self, name: str, make: Callable[[Workspace], S]) -> S:
        """The workspace's ``name`` service, made by ``make(self)`` the first time."""
        found = self._services.get(name)
        if found is None:
            with self._lock:
                found = self._services.get(name)
                if found is None:
                    found = self._services[name] = make(self)
        return found

    def services(self) -> list[Any]:
        return list(self._services.values())

    def acting_for(self, user: str | None) -> Workspace:
        """This workspace acting for ``user``: a front end's logged-in person (the
        JupyterLab panel's Jupyter user), on this host. The same store, artifacts and
        services; only who records is different. In team mode it is this workspace
        unchanged: there the database's identity is the only one that counts."""
        if not user or self.team or self.empty or user == self.actor.user:
            return self
        view = Workspace(settings=self.settings, store=self.store, artifacts=self.artifacts,
                         actor=Actor(user=user, host=self.actor.host), mode=self.mode,
                         empty=self.empty, team=self.team)
        object.__setattr__(view, "_services", self._services)  # one set of services
        object.__setattr__(view, "_lock", self._lock)
        return view

    def __repr__(self) -> str:
        return (f"Workspace(store={self.store.url!r}, artifacts={self.artifacts.location!r}, "
                f"mode={self.mode!r})")


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


USER_ENV = "NBMLOPS_USER"


def process_actor() -> Actor:
    """Who this process acts as: ``NBMLOPS_USER`` when set, else the OS user; and this host.

    On SQLite this names who did what in the audit trail and the approval workflow; it is
    not a proof of identity (whoever can write the store's file can do anything)."""
    from nbmlops.store import liveness

    named = os.environ.get(USER_ENV, "").strip()
    return Actor(user=named or _user(), host=liveness.hostname())


# -- settings ------------------------------------------------------------------------------

_settings_cache: dict[tuple[str, ...], tuple[Settings, float | None]] = {}


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def current_settings() -> Settings:
    """The settings for this working directory and environment.

    Resolved once per (directory, NBMLOPS_* variables) and again only when the project's
    pyproject.toml changes, so a tracked cell does not re-read configuration.
    """
    key = (os.getcwd(), *(os.environ.get(v, "") for v in (STORE_ENV, ARTIFACTS_ENV,
                                                          ARTIFACTS_OPTIONS_ENV,
                                                          AUTO_UPGRADE_ENV)))
    cached = _settings_cache.get(key)
    if cached is not None and cached[1] == _mtime(cached[0].project_root / "pyproject.toml"):
        return cached[0]
    resolved = resolve_settings()
    _settings_cache[key] = (resolved, _mtime(resolved.project_root / "pyproject.toml"))
    return resolved


# -- opening -------------------------------------------------------------------------------

_open: dict[tuple[str, str], Workspace] = {}
_open_lock = threading.Lock()
_replaced: list[Workspace] = []  # read workspaces a write open took over; closed at exit


def open_workspace(settings: Settings | None = None, *, mode: Mode = "write",
                   create: bool = True) -> Workspace:
    """The process's workspace for the store the settings point at (opened once).

    ``mode="read"`` never creates, upgrades or reaps: a missing store is a
    :class:`~nbmlops.errors.NoStoreError`. ``mode="write"`` does all three as needed
    (``create=False``: a missing store is a NoStoreError there too, e.g. for a server).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'read' or 'write', not {mode!r}")
    settings = settings or current_settings()
    key = (settings.store_url, settings.artifacts_location)
    found = _open.get(key)
    if found is not None and (mode == "read" or found.writable):
        return found
    with _open_lock:
        found = _open.get(key)
        if found is not None and (mode == "read" or found.writable):
            return found
        ws = _make(settings, mode, create)
        if found is not None:
            _replaced.append(found)  # someone may still hold it; it stays usable till exit
        _open[key] = ws
    return ws


def artifact_store(settings: Settings) -> ArtifactStore:
    """The artifact store the settings point at: a folder, or a URL read through the
    local cache in ``settings.artifacts_root``."""
    from nbmlops.artifacts import open_artifact_store

    if settings.artifacts_url is None:
        return open_artifact_store(settings.artifacts_root)
    return open_artifact_store(settings.artifacts_url, options=settings.artifacts_options,
                               cache_root=settings.artifacts_root)


def _make(settings: Settings, mode: Mode, create: bool) -> Workspace:
    from nbmlops.store import open_store

    writing = mode == "write"
    store = open_store(settings.store_url, create=writing and create,
                       auto_upgrade=settings.auto_upgrade if writing else False,
                       reap=writing)
    actor, team = _identity(store)
    return Workspace(settings=settings, store=store, artifacts=artifact_store(settings),
                     actor=actor, mode=mode, team=team)


def store_actor(store: Any) -> Actor:
    """Who this process acts as in ``store``: in team mode (PostgreSQL after ``nbmlops team
    init``) the role the session logged in as, which the database also writes into every
    record whatever a client sends (``NBMLOPS_USER`` is ignored there); else
    :func:`process_actor`."""
    return _identity(store)[0]


def _identity(store: Any) -> tuple[Actor, bool]:
    """Who acts in ``store``, and whether the store says so (team mode)."""
    actor = process_actor()
    identity = store.team_identity()
    return (actor, False) if identity is None else (Actor(user=identity, host=actor.host), True)


_empty: dict[tuple[str, str], Workspace] = {}


def empty_workspace(settings: Settings | None = None) -> Workspace:
    """A read-only workspace standing in for a store that is not there yet: lists are
    empty, lookups say not found, and nothing is created where the store would be."""
    from nbmlops.store import open_store

    settings = settings or current_settings()
    key = (settings.store_url, settings.artifacts_location)
    found = _empty.get(key)
    if found is None:
        with _open_lock:
            found = _empty.get(key)
            if found is None:
                found = _empty[key] = Workspace(
                    settings=settings, store=open_store("sqlite://", reap=False),
                    artifacts=artifact_store(settings),
                    actor=process_actor(), mode="read", empty=True)
    return found


def close_workspaces() -> None:
    """End every workspace's services and close its store (on unload and at exit)."""
    with _open_lock:
        items = [*_open.values(), *_replaced, *_empty.values()]
        _open.clear()
        _replaced.clear()
        _empty.clear()
    for ws in items:
        try:
            for part in ws.services():
                part.close()
        finally:
            ws.store.close()


def _after_fork_in_child() -> None:
    """A forked child gets its own connections and no inherited background threads."""
    global _open_lock
    _open_lock = threading.Lock()
    for ws in [*_open.values(), *_replaced]:
        object.__setattr__(ws, "_lock", threading.Lock())
        for part in ws.services():
            part.after_fork()
        ws.store.reset_after_fork()
    _open.clear()  # new work in the child opens fresh workspaces
    _replaced.clear()
    _empty.clear()


atexit.register(close_workspaces)
os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["MODES", "USER_ENV", "Mode", "Service", "Workspace", "artifact_store",
           "close_workspaces", "current_settings", "empty_workspace", "open_workspace",
           "process_actor", "store_actor"]
