"""Progress of long work: items done of total, elapsed and ETA (and, for a search, the
best score so far).

A search reports candidates to a :class:`Progress`, batch scoring reports rows. The default
writes plain text lines (terminals, papermill, CI logs); the IPython extension registers a
widget progress bar for live notebooks (``set_default``), so this layer never imports a
front end.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from nbmlops.tracking.summary import format_duration, format_number


@dataclass(frozen=True, slots=True)
class ProgressState:
    """A snapshot of a search (or of other long work, counted in ``unit``), as every
    progress display shows it."""

    description: str
    done: int
    total: int | None  # None when the count is not known ahead (successive halving)
    elapsed_s: float
    best: float | None
    metric: str
    failed: int = 0
    unit: str = "candidates"  # what ``done`` and ``total`` count ("rows" for batch scoring)

    @property
    def eta_s(self) -> float | None:
        if not self.total or not self.done or self.done >= self.total:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)

    def line(self) -> str:
        count = f"{self.done:,}/{self.total:,}" if self.total else f"{self.done:,}"
        parts = [f"{self.description}: {count} {self.unit}",
                 f"{format_duration(self.elapsed_s)} elapsed"]
        if self.eta_s is not None:
            parts.append(f"ETA {format_duration(self.eta_s)}")
        if self.best is not None and not math.isnan(self.best):
            parts.append(f"best {self.metric} {format_number(self.best)}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return " · ".join(parts)


class Progress(Protocol):
    def update(self, state: ProgressState) -> None: ...

    def close(self, state: ProgressState, status: str) -> None: ...


class TextProgress:
    """One line per update (at most one every ``every_s`` seconds, and the last one)."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 2.0) -> None:
        self._stream = stream
        self._every = every_s
        self._last = -math.inf

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def update(self, state: ProgressState) -> None:
        now = time.monotonic()
        final = state.total is not None and state.done >= state.total
        if final or now - self._last >= self._every:
            self._last = now
            self._write(state.line())

    def close(self, state: ProgressState, status: str) -> None:
        if status != "finished":
            self._write(f"{state.line()} · {status}")


class NoProgress:
    def update(self, state: ProgressState) -> None:
        pass

    def close(self, state: ProgressState, status: str) -> None:
        pass


ProgressFactory = Callable[[], Progress]
_default: ProgressFactory = TextProgress


def set_default(factory: ProgressFactory | None) -> None:
    """Choose how searches show progress by default (None: plain text again)."""
    global _default
    _default = factory or TextProgress


def default() -> Progress:
    return _default()
