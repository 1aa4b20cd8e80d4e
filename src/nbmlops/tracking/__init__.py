"""Tracking: runs from notebook cells and scripts, their capture, and how they are listed."""

from nbmlops.tracking.summary import format_number

__all__ = ["format_number"]
