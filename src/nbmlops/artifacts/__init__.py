"""Artifact bytes: content-addressed blobs (sha256), written atomically, verified on read."""

from nbmlops.artifacts.local import LocalArtifactStore, guess_media_type, iter_files
from nbmlops.artifacts.names import check_name, check_sha256

__all__ = ["LocalArtifactStore", "check_name", "check_sha256", "guess_media_type", "iter_files"]
