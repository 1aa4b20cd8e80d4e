"""Artifact bytes: content-addressed blobs (sha256), written atomically, verified on read,
in a local folder or on any fsspec filesystem (``s3://bucket/prefix``)."""

from nbmlops.artifacts.base import ArtifactStore
from nbmlops.artifacts.local import LocalArtifactStore, guess_media_type, iter_files
from nbmlops.artifacts.names import check_name, check_sha256
from nbmlops.artifacts.schemes import open_artifact_store, register

__all__ = ["ArtifactStore", "LocalArtifactStore", "check_name", "check_sha256",
           "guess_media_type", "iter_files", "open_artifact_store", "register"]
