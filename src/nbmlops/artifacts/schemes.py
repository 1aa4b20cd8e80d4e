"""Which artifact store a location opens: a folder is the local store, a URL the store
registered for its scheme, else :class:`~nbmlops.artifacts.remote.FsspecArtifactStore`.

A package adds a store for a scheme with ``register("myfs", factory)`` or, without being
imported first, with an entry point in the group ``nbmlops.artifact_stores`` named after
the scheme. A factory is called as ``factory(url, options=..., cache_root=...)`` and
returns an :class:`~nbmlops.artifacts.base.ArtifactStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nbmlops.artifacts.base import ArtifactStore

ENTRY_POINTS = "nbmlops.artifact_stores"
Factory = Callable[..., ArtifactStore]
_factories: dict[str, Factory] = {}


def register(scheme: str, factory: Factory) -> None:
    """Open ``scheme://`` locations with ``factory`` (replacing any earlier one)."""
    _factories[scheme.lower()] = factory


def factory_for(scheme: str) -> Factory:
    scheme = scheme.lower()
    found = _factories.get(scheme)
    if found is None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINTS, name=scheme):
            found = _factories[scheme] = ep.load()
            break
    if found is None:
        from nbmlops.artifacts.remote import FsspecArtifactStore

        found = FsspecArtifactStore
    return found


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location and \
        not location.lower().startswith("file://")


def open_artifact_store(location: str | Path, *, options: Mapping[str, Any] | None = None,
                        cache_root: Path | None = None) -> ArtifactStore:
    """The store at ``location``: a folder, or a URL (``s3://bucket/prefix``) read through
    a local cache at ``cache_root``."""
    from nbmlops.artifacts.local import LocalArtifactStore

    if not is_url(location):
        path = str(location)
        return LocalArtifactStore(Path(path[len("file://"):] if path.lower().startswith(
            "file://") else path))
    if cache_root is None:
        raise ValueError(f"a local cache folder is needed to open {location}")
    scheme = str(location).split("://", 1)[0]
    return factory_for(scheme)(str(location), options=dict(options or {}),
                               cache_root=Path(cache_root))


__all__ = ["ENTRY_POINTS", "Factory", "factory_for", "is_url", "open_artifact_store",
           "register"]
