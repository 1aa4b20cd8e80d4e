"""A simulated wall clock for the processes a test starts (model servers): when
``NBMLOPS_TEST_CLOCK`` names a file, ``time.time()`` and ``time.time_ns()`` are the real
clock plus the offset in seconds the file holds (read at every call, so the test moves the
clock of a running server by rewriting it). The server itself runs unchanged: its
prediction log, row ids and heartbeats carry the simulated time. Put this folder first on
PYTHONPATH of the child process only."""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("NBMLOPS_TEST_CLOCK")

if _PATH:
    _real, _real_ns = time.time, time.time_ns

    def _offset() -> float:
        try:
            with open(_PATH) as fh:
                return float(fh.read() or 0.0)
        except (OSError, ValueError):
            return 0.0

    def _time() -> float:
        return _real() + _offset()

    def _time_ns() -> int:
        return _real_ns() + int(_offset() * 1e9)

    time.time = _time
    time.time_ns = _time_ns
