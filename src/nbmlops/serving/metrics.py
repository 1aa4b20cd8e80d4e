"""The server's Prometheus metrics (``GET /metrics``), with prometheus_client.

With several workers, each is its own process: prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by the server before its workers start) adds up what
they count, so a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Counters and a latency histogram for one worker; ``render`` for a scrape."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise for a scrape of one server
        self._multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter("nbmlops_requests", "HTTP requests answered",
                                ["endpoint", "status"], registry=reg)
        self.errors = Counter("nbmlops_request_errors", "requests answered with an error "
                              "status (4xx, 5xx)", ["endpoint", "status"], registry=reg)
        self.latency = Histogram("nbmlops_request_duration_seconds", "time to answer a "
                                 "request", ["endpoint"], buckets=LATENCY_BUCKETS, registry=reg)
        self.rows = Counter("nbmlops_predicted_rows", "rows scored by /predict", registry=reg)
        self.version = Gauge("nbmlops_model_version", "the model version being served",
                             registry=reg, multiprocess_mode="livemax")
        self.switches = Counter("nbmlops_model_switches", "switches to another version "
                                "after the followed alias moved", registry=reg)
        self.log_dropped = Counter("nbmlops_prediction_log_dropped_rows", "rows the "
                                   "prediction log could not keep", registry=reg)
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self.before_render: list[Callable[[], None]] = []  # counts kept aside, added first

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        found = self._children.get(key)
        if found is None:  # label lookups cost more than the increments: keep the children
            label = str(status)
            found = (self.requests.labels(endpoint, label),
                     self.errors.labels(endpoint, label) if status >= 400 else None,
                     self.latency.labels(endpoint))
            self._children[key] = found
        requests, errors, latency = found
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        for flush in self.before_render:
            flush()
        if not self._multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def worker_exited(pid: int) -> None:
    """Forget a finished worker's live gauges (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
