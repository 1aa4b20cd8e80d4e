"""Progress of long work: items done of total, elapsed and ETA (and, for a search, the
best score so far).

A search reports candidates to a :class:`Progress`, batch scoring reports rows: both
capabilities use this module, so it sits below them. The default writes plain text lines
(terminals, papermill, CI logs); the IPython extension registers a widget progress bar for
live notebooks (``set_default``), so this layer never imports a front end.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TextIO

from nbmlops.formatting import format_duration, format_number


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
    # the time left as the worker estimated it (an :class:`Eta`; None: not known yet), or
    # "rate": extrapolate the pace since the start (fine-grained work such as rows)
    remaining_s: float | Literal["rate"] | None = "rate"

    @property
    def eta_s(self) -> float | None:
        if not self.total or not self.done or self.done >= self.total:
            return None
        if self.remaining_s != "rate":
            return self.remaining_s
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


class Eta:
    """The time left of work whose items finish in batches (a search's candidates).

    The first batch to finish carries the start-up cost (worker processes starting,
    imports, the data sent to them), so a pace measured from the start overstates the time
    left, several times over for a short search. The pace is measured from the first
    completion on instead, and nothing is estimated until at least ``min_done`` more items,
    and one more whole batch of ``workers``, have finished after it. The time left counts
    whole batches: with ``workers`` items running at once, the last, partial batch takes
    as long as a full one.
    """

    def __init__(self, *, workers: int = 1, min_done: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workers = max(1, workers)
        self.min_done = min_done
        self._clock = clock
        self._first: tuple[float, int] | None = None  # (time, done) at the first completion
        self._last: tuple[float, int] | None = None

    def finished(self, done: int) -> None:
        """``done`` items have finished in all, now."""
        now = self._clock()
        if self._first is None:
            self._first = (now, done)
        self._last = (now, done)

    def remaining(self, total: int | None) -> float | None:
        """Seconds left until ``total`` items have finished; None until it can be told."""
        if total is None or self._first is None or self._last is None:
            return None
        (t0, d0), (t1, d1) = self._first, self._last
        if d1 >= total or d1 - d0 < max(self.min_done, self.workers) or t1 <= t0:
            return None
        per_item = (t1 - t0) / (d1 - d0)  # wall time: the workers' overlap included
        batches = math.ceil((total - d1) / self.workers)
        return max(0.0, batches * self.workers * per_item - (self._clock() - t1))


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


__all__ = ["Eta", "NoProgress", "Progress", "ProgressFactory", "ProgressState", "TextProgress",
           "default", "set_default"]
