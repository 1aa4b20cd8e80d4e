"""Where a search's fits run: joblib's loky or threading backends, or a Dask cluster.

For ``dask``, give the address of a running scheduler, or nbmlops starts a local cluster
(one single-threaded worker process per core) for the search and stops it afterwards.
Scripts that start a local cluster must guard their entry point with
``if __name__ == "__main__":`` (worker processes import the main module).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from nbmlops.errors import MissingExtraError, TuneError

BACKENDS = ("loky", "threading", "dask")


def check(backend: str, scheduler: str | None) -> None:
    if backend not in BACKENDS:
        raise TuneError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}",
                        argument="backend")
    if scheduler and backend != "dask":
        raise TuneError("a scheduler address goes with backend 'dask'", argument="scheduler")


@contextmanager
def parallel(backend: str, scheduler: str | None, n_jobs: int | None) -> Iterator[int]:
    """Run the block on ``backend``; yields how many fits run at once (the batch size)."""
    import joblib

    check(backend, scheduler)
    if backend != "dask":
        with joblib.parallel_config(backend=backend):
            yield max(1, joblib.effective_n_jobs(n_jobs))
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise MissingExtraError("the dask backend", extra="dask", module="distributed") from exc
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=30)
        else:
            cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise TuneError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                        argument="scheduler") from exc
    try:
        with joblib.parallel_config(backend="dask"):
            yield max(1, joblib.effective_n_jobs(n_jobs if n_jobs is not None else -1))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
