"""Numbers, durations and sizes as people read them: in run summaries, listings, search
progress, model cards, gates' messages, plots and the CLI. One rule each, so a metric reads
the same wherever it is shown."""

from __future__ import annotations

import math


def format_number(value: float) -> str:
    """``0.9123`` → ``0.9123``, ``3.0`` → ``3``, ``1234.5678`` → ``1235``; nan and ±inf
    spelled out."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_duration(seconds: float) -> str:
    """``0.25`` → ``250 ms``, ``12.5`` → ``12.50 s``, ``125`` → ``2m05s``, ``7200`` → ``2h00m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_size(size: int | None) -> str:
    """A byte count in B, KB, MB or GB (1024 each); ``?`` when not known."""
    if size is None:
        return "?"
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"  # pragma: no cover


__all__ = ["format_duration", "format_number", "format_size"]
