"""Artifact bytes: content-addressed blobs (sha256), written atomically, verified on read,
in a local folder or on any fsspec filesystem (``s3://bucket/prefix``)."""

from collections.abc import Mapping
from typing import Any

from nbmlops.artifacts.base import ArtifactStore
from nbmlops.artifacts.local import LocalArtifactStore, guess_media_type, iter_files
from nbmlops.artifacts.names import check_name, check_sha256
from nbmlops.artifacts.schemes import is_url, open_artifact_store, register


def open_filesystem(url: str, options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path it names (fsspec imported now)."""
    from nbmlops.artifacts.remote import open_filesystem as _open

    return _open(url, options)


__all__ = ["ArtifactStore", "LocalArtifactStore", "check_name", "check_sha256",
           "guess_media_type", "is_url", "iter_files", "open_artifact_store",
           "open_filesystem", "register"]
