"""Tracking: runs from notebook cells and scripts, their capture, and how they are listed."""
