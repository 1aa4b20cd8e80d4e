"""What a canary and a shadow cost per request, measured in process (CPU time, no HTTP).

Drives the server's ASGI application (``nbmlops.serving.app.create_app``) directly, with
the bench's model (logistic regression, 20 float columns) and single-row ``dataframe_split``
bodies, and reports the process's CPU time per request (``time.process_time``: the
worker's threads included, so a shadow scored in the worker's thread counts; the shadow's
own process is a child and is counted apart) for the server alone, with a canary (share
0.1) and with a shadow. The prediction log is on (a temporary folder), as in
``bench/serve.py``. CPU time is the figure to judge by on a shared machine: wall-clock
throughput there depends on everyone else.

    PYTHONPATH=src .venv/bin/python bench/rollout_cost.py [--requests 20000] [--block 500]
        [--multiprocess] [--profile canary] [--shadow-process]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from typing import Any

N_SAMPLES, N_FEATURES = 5000, 20


def build(mode: str, folder: str, shadow_process: bool) -> tuple[Any, Any, Any]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from nbmlops.registry import infer
    from nbmlops.serving.app import create_app
    from nbmlops.serving.metrics import Metrics
    from nbmlops.serving.model import ServedModel
    from nbmlops.serving.predlog import PredictionLog
    from nbmlops.serving.rollout import Rollout, RolloutMetrics, RolloutSpec
    from nbmlops.serving.sources import Holder

    X, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
    model = LogisticRegression(max_iter=1000).fit(frame, y)
    signature = infer(model, frame)
    v1 = ServedModel("churn", 1, model, signature, "0" * 64)
    v2 = ServedModel("churn", 2, model, signature, "0" * 64)
    metrics = Metrics()
    log = PredictionLog(os.path.join(folder, mode), dtypes=dict(signature.inputs)
                        if signature else None)
    rollout = None
    if mode != "alone":
        if shadow_process:
            os.environ["NBMLOPS_SHADOW_PROCESS"] = "1"
        spec = RolloutSpec(mode=mode, challenger="candidate", share=0.1)
        rollout = Rollout(spec, Holder(v2), RolloutMetrics(metrics.registry), log=log)
    app = create_app(Holder(v1), log=log, metrics=metrics, rollout=rollout)
    bodies = [json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                              "data": [row]}}).encode()
              for row in X[:500].tolist()]
    return app, (log, rollout), bodies


async def drive(app: Any, bodies: list[bytes], n: int) -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for i in range(n):
        body = bodies[i % len(bodies)]
        done = False

        async def receive(body: bytes = body) -> dict[str, Any]:
            nonlocal done
            if done:
                await asyncio.sleep(3600)
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/predict", "raw_path":
                 b"/predict", "query_string": b"", "root_path": "",
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"request failed: {sent}")
        sent.clear()
        if i % 200 == 199:  # as a server between requests: the loop turns, threads run
            await asyncio.sleep(0)


def thread_cpu(thread: threading.Thread | None) -> float:
    """A running thread's CPU time so far (0 for none)."""
    if thread is None or thread.ident is None or not thread.is_alive():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


class Served:
    """One application (alone, canary or shadow) and the CPU its requests and its
    threads (prediction log writer, shadow) have taken."""

    def __init__(self, mode: str, folder: str, shadow_process: bool) -> None:
        self.mode = mode
        self.app, (self.log, self.rollout), self.bodies = build(mode, folder, shadow_process)
        self.log.start()
        if self.rollout is not None:
            self.rollout.start()
            process = self.rollout._process
            deadline = time.time() + 60
            while process is not None and not process.ready() and time.time() < deadline:
                time.sleep(0.05)
        self.cpu = 0.0  # the request path's (the event loop's thread)
        self.requests = 0
        self.offset = 0

    def threads(self) -> list[threading.Thread]:
        found = [self.log._thread] if self.log._thread is not None else []
        return found + (list(self.rollout._threads) if self.rollout is not None else [])

    def block(self, n: int) -> None:
        t0 = time.thread_time()
        asyncio.run(drive(self.app, self.bodies[self.offset:] + self.bodies[:self.offset], n))
        self.cpu += time.thread_time() - t0
        self.requests += n
        self.offset = (self.offset + n) % len(self.bodies)

    def settle(self) -> float:
        """Let the shadow score what is queued and the log write what it holds; the CPU
        of its threads (the flush done here counts as the request path's)."""
        if self.rollout is not None:
            deadline = time.time() + 30
            while not self.rollout._queue.empty() and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
        t0 = time.thread_time()
        self.log.flush()
        self.cpu += time.thread_time() - t0
        return sum(thread_cpu(t) for t in self.threads())

    def child_cpu(self) -> float:
        """The shadow's own process's CPU so far (0 without one)."""
        process = self.rollout._process if self.rollout is not None else None
        if process is None:
            return 0.0
        with open(f"/proc/{process._proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.rollout is not None:
            self.rollout.stop()
        self.log.close()


def measure(modes: list[str], n: int, block: int, folder: str, shadow_process: bool
            ) -> dict[str, tuple[float, float, float]]:
    """Per mode: (request path CPU, its threads' CPU, the shadow's process's) per request, the modes taking turns
    in blocks of ``block`` requests (the machine's load changes alike for each)."""
    served = [Served(mode, folder, shadow_process) for mode in modes]
    for s in served:  # warm up
        s.block(300)
        s.cpu, s.requests = 0.0, 0
    base = {s.mode: (s.settle(), s.child_cpu()) for s in served}
    for at in range(0, n, block):
        for s in served[at // block % len(served):] + served[:at // block % len(served)]:
            s.block(min(block, n - at))
    out = {s.mode: (s.cpu / s.requests, (s.settle() - base[s.mode][0]) / s.requests,
                    (s.child_cpu() - base[s.mode][1]) / s.requests) for s in served}
    for s in served:
        s.close()
    return out


def profile(mode: str, n: int, folder: str, shadow_process: bool) -> None:
    s = Served(mode, folder, shadow_process)
    s.block(300)
    prof = cProfile.Profile()
    prof.enable()
    s.block(n)
    prof.disable()
    s.close()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--modes", default="alone,canary,shadow")
    parser.add_argument("--shadow-process", action="store_true")
    parser.add_argument("--multiprocess", action="store_true",
                        help="prometheus multiprocess mode (as with --workers 2 or more)")
    parser.add_argument("--profile", default=None, help="a mode to profile (cProfile)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        if args.multiprocess:
            os.makedirs(os.path.join(folder, "prom"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(folder, "prom")
        if args.profile:
            profile(args.profile, args.requests, folder, args.shadow_process)
            return 0
        modes = args.modes.split(",")
        load = os.getloadavg()[0]
        found = measure(modes, args.requests, args.block, folder, args.shadow_process)
        alone = sum(found["alone"]) if "alone" in found else None
        print(f"load {load:.2f} -> {os.getloadavg()[0]:.2f}; {args.requests:,} requests "
              f"per mode, in turns of {args.block}; CPU per request (request path + threads and the shadow's process)")
        for mode, (path, threads, child) in found.items():
            total = path + threads + child
            extra = (f"  {(total - alone) * 1e6:+6.1f} µs ({total / alone - 1:+.1%})"
                     if alone and mode != "alone" else "")
            print(f"  {mode:<8} {total * 1e6:7.1f} µs = {path * 1e6:6.1f} + "
                  f"{threads * 1e6:5.1f}" + (f" + {child * 1e6:5.1f}" if child else "")
                  + extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
