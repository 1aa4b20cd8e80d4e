"""Kept for what imported it here: progress reporting lives in :mod:`nbmlops.progress`,
below the capabilities, since batch scoring reports progress too."""

from nbmlops.progress import (
    Eta,
    NoProgress,
    Progress,
    ProgressFactory,
    ProgressState,
    TextProgress,
    default,
    set_default,
)

__all__ = ["Eta", "NoProgress", "Progress", "ProgressFactory", "ProgressState", "TextProgress",
           "default", "set_default"]
