"""Canary and shadow rollouts: a challenger served beside the champion, compared, and
promoted or rolled back by rules.

A deployment of ``churn@production`` started with ``canary="candidate"`` sends a share of
requests (or, with ``key``, of rows: the hash of the key's value decides, so one key
always meets one version) to ``churn@candidate``; ``shadow="candidate"`` scores every
request with both and answers with the champion only (the challenger's rows are logged
with ``_shadow`` set and, in ``_answered``, the id of the answered row each shadows, off
the request's path: a label sent for that id grades the shadow's prediction too). Both
follow their aliases.

Each worker counts, per role and version, requests, errors (a model that failed; the
challenger's failures are answered by the champion), rows, the model's scoring time, and
how many challenger rows agree with the champion (the champion scores canary rows too:
its one call covers the whole request). The counters are Prometheus metrics, so with
several workers they add up (multiprocess mode); a worker counts in memory and hands its
counts over every :data:`FLUSH_S` and before a read, a scrape or a stop.

Rules (``requests>=2000 and errors<=champion and p99<=1.2*champion``) are read with
:mod:`ast` against a whitelist: the figures ``requests``, ``rows``, ``errors`` (a share),
``p50``/``p99`` (ms), ``agreement`` (a share) of the challenger, and ``champion`` (the
champion's value of the figure it is compared with, or ``champion.p99``), numbers,
arithmetic, comparisons, ``and``/``or``/``not``. The server's main process evaluates them
each second (:func:`control`); a promotion goes through the registry's ``promote`` (gates,
protected aliases: a request is opened instead), a rollback ends the canary; each decision
is an audit event with its figures, and the state the workers follow is kept in the
deployment's record.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import math
import os
import queue
import random
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.references import Reference
    from nbmlops.serving.model import ServedModel
    from nbmlops.serving.predlog import PredictionLog
    from nbmlops.serving.sources import Holder, StoreSource
    from nbmlops.workspace import Workspace

FIGURES = ("requests", "rows", "errors", "p50", "p99", "agreement")
LIVE = ("running", "requested")  # states in which the challenger is served
SHADOW = "_shadow"
ANSWERED = "_answered"  # on a shadow's row: the id of the answered row it shadows
SHADOW_QUEUE = 256  # requests waiting for the shadow (more are counted as skipped)
SHADOW_WAIT_S = 0.05  # how long the shadow gathers requests before it scores them at once
# "1": score the shadow in a process of its own, "0": in the worker's thread; unset: the
# process when this machine gives the server 2 CPUs or more (see shadow_process_wanted)
SHADOW_PROCESS_ENV = "NBMLOPS_SHADOW_PROCESS"
SHADOW_NICE = 5  # the shadow's process yields the CPU to the workers answering requests
BUCKETS = tuple(round(5e-5 * 1.25 ** i, 7) for i in range(60))  # 50 µs to ~32 s


# -- rules ------------------------------------------------------------------------------

class RuleError(ValueError):
    """A rule that cannot be read (raised at deploy time, one line)."""


_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b if b else math.inf}
_CMPOPS: dict[type, Callable[[float, float], bool]] = {
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}


@dataclass(frozen=True)
class Rule:
    """A checked rule; ``holds(challenger, champion)`` evaluates it on two figure maps."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)

    def holds(self, challenger: Mapping[str, float], champion: Mapping[str, float]) -> bool:
        return bool(_eval(self.tree.body, challenger, champion, None))


def parse_rule(text: str, *, what: str = "rule") -> Rule:
    """A :class:`Rule`, or a RuleError naming what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"{what} {text!r} is not an expression ({exc.msg}); write e.g. "
                        "\"requests>=2000 and errors<=champion\"") from None
    _check(tree.body, text, what, None)
    return Rule(text.strip(), tree)


def _figure_in(node: ast.AST) -> str | None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in FIGURES:
            return sub.id
    return None


def _check(node: ast.AST, text: str, what: str, context: str | None) -> None:
    bad = f"{what} {text!r}:"
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text, what, context)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        _check(node.operand, text, what, context)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _CMPOPS for op in node.ops):
            raise RuleError(f"{bad} compare with <, <=, >, >=, == or != only")
        context = _figure_in(node) or context
        for part in (node.left, *node.comparators):
            _check(part, text, what, context)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise RuleError(f"{bad} only +, -, * and / are allowed")
        _check(node.left, text, what, context)
        _check(node.right, text, what, context)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise RuleError(f"{bad} {node.value!r} is not a number")
    elif isinstance(node, ast.Name):
        if node.id == "champion":
            if context is None:
                raise RuleError(f"{bad} 'champion' stands for the champion's value of the "
                                f"figure it is compared with; name one ({', '.join(FIGURES)}) "
                                "on the other side, or write champion.p99")
        elif node.id not in FIGURES:
            raise RuleError(f"{bad} unknown name {node.id!r}; use {', '.join(FIGURES)} or "
                            "champion")
    elif isinstance(node, ast.Attribute):
        if not (isinstance(node.value, ast.Name) and node.value.id == "champion"
                and node.attr in FIGURES):
            raise RuleError(f"{bad} only champion.<figure> is allowed "
                            f"({', '.join(FIGURES)})")
    else:
        shown = ast.get_source_segment(text.strip(), node) or type(node).__name__
        raise RuleError(f"{bad} {shown!r} is not allowed; use figures, numbers, + - * /, "
                        "comparisons, and, or, not")


def _eval(node: ast.AST, mine: Mapping[str, float], champ: Mapping[str, float],
          context: str | None) -> Any:
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, mine, champ, context) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, mine, champ, context)
        return not value if isinstance(node.op, ast.Not) else \
            -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Compare):
        context = _figure_in(node) or context
        left = _eval(node.left, mine, champ, context)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, mine, champ, context)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, mine, champ, context),
                                      _eval(node.right, mine, champ, context))
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, (int, float))
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(champ[context] if node.id == "champion" and context else mine[node.id])
    if isinstance(node, ast.Attribute):
        return float(champ[node.attr])
    raise RuleError(f"cannot evaluate {ast.dump(node)}")  # _check let nothing else through


# -- the specification, as it travels to the workers and into the deployment's record -----

@dataclass(frozen=True)
class RolloutSpec:
    mode: str  # canary | shadow
    challenger: str  # an alias or a version of the champion's model: candidate, 3, churn/3
    share: float = 0.1
    key: str | None = None
    promote_when: str | None = None
    rollback_when: str | None = None

    def check(self, champion: Reference) -> None:
        """A one-line ValueError naming what is wrong (at deploy time)."""
        if self.mode not in ("canary", "shadow"):
            raise ValueError(f"rollout mode {self.mode!r}: use canary or shadow")
        if self.mode == "canary" and not 0.0 < self.share <= 1.0:
            raise ValueError(f"--share is the challenger's share of requests, above 0 and at "
                             f"most 1 (got {self.share})")
        if self.key is not None and (self.mode != "canary" or not self.key.strip()):
            raise ValueError("--key goes with --canary: the column whose value keeps a row "
                             "on one version")
        challenger = self.reference(champion)
        if challenger == champion:
            raise ValueError(f"the challenger {challenger} is the champion itself; name "
                             "another alias or version")
        if self.promote_when is not None:
            if champion.alias is None:
                raise ValueError(f"--promote-when moves an alias, and {champion} is a fixed "
                                 f"version: deploy {champion.model}@ALIAS")
            parse_rule(self.promote_when, what="--promote-when")
        if self.rollback_when is not None:
            parse_rule(self.rollback_when, what="--rollback-when")

    def reference(self, champion: Reference) -> Reference:
        from nbmlops.references import Reference, parse_reference

        text = self.challenger.strip()
        if text.isdigit():
            return Reference(champion.model, version=int(text))
        if "/" in text or "@" in text:
            ref = parse_reference(text)
            if ref.model != champion.model:
                raise ValueError(f"the challenger {text} is not a version of {champion.model}; "
                                 "a rollout compares versions of one model")
            return ref
        return parse_reference(f"{champion.model}@{text}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RolloutSpec:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


# -- counters ---------------------------------------------------------------------------

class RolloutMetrics:
    """Per role (champion, challenger) and version: requests, errors, rows, scoring time;
    agreement of challenger rows with the champion."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        labels = ["role", "version"]
        self.requests = Counter("nbmlops_rollout_requests", "requests scored, per role and "
                                "version", labels, registry=registry)
        self.errors = Counter("nbmlops_rollout_errors", "requests the version failed to "
                              "score", labels, registry=registry)
        self.rows = Counter("nbmlops_rollout_rows", "rows scored", labels, registry=registry)
        self.compared = Counter("nbmlops_rollout_compared_rows", "challenger rows compared "
                                "with the champion", ["version"], registry=registry)
        self.agreeing = Counter("nbmlops_rollout_agreeing_rows", "challenger rows with the "
                                "champion's answer", ["version"], registry=registry)
        self.skipped = Counter("nbmlops_rollout_shadow_skipped", "shadow requests not scored "
                               "(the queue was full)", registry=registry)
        self.latency = Histogram("nbmlops_rollout_scoring_seconds", "time the version took "
                                 "to score a request", labels, buckets=BUCKETS,
                                 registry=registry)
        # counted here, added to the Prometheus metrics every FLUSH_S (and before a read,
        # a scrape, a stop): a request costs a few additions, not a lock and a histogram
        # scan per metric (and, with several workers, writes to their shared files)
        self._pending: dict[tuple[str, int], list[Any]] = {}
        self._agreed: dict[int, list[int]] = {}
        self._lock = threading.Lock()  # the counts kept in memory
        self._flushing = threading.Lock()  # one flush at a time, whole
        # a histogram's buckets as observe() finds them: the first bound >= the value
        self._bounds = tuple(self.latency._upper_bounds)
        _LOCAL.append(registry)
        _BATCHED.add(self)

    def scored(self, role: str, version: int, rows: int, seconds: float, ok: bool,
               requests: int = 1) -> None:
        """``requests`` requests of ``rows`` rows in all, each scored in ``seconds`` (or
        failed: errors, no rows nor time)."""
        with self._lock:
            slot = self._pending.get((role, version))
            if slot is None:
                slot = self._pending[(role, version)] = [0, 0, 0, 0.0, {}]
            slot[0] += requests
            if ok:
                slot[2] += rows
                slot[3] += seconds * requests
                at = bisect.bisect_left(self._bounds, seconds)
                buckets = slot[4]
                buckets[at] = buckets.get(at, 0) + requests
            else:
                slot[1] += requests

    def agreement(self, version: int, compared: int, agreeing: int) -> None:
        with self._lock:
            slot = self._agreed.get(version)
            if slot is None:
                slot = self._agreed[version] = [0, 0]
            slot[0] += compared
            slot[1] += agreeing

    def flush(self) -> None:
        """Add what was counted since the last flush to the Prometheus metrics; a reader
        that flushes while another flush is adding its counts waits for it (it would read
        the metrics half added)."""
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            if not self._pending and not self._agreed:
                return
            pending, agreed = self._pending, self._agreed
            self._pending, self._agreed = {}, {}
        for (role, version), (requests, errors, rows, seconds, buckets) in pending.items():
            v = str(version)  # (every series of a version shows, as before, zeros too)
            self.requests.labels(role, v).inc(requests)
            self.errors.labels(role, v).inc(errors)
            self.rows.labels(role, v).inc(rows)
            latency = self.latency.labels(role, v)
            for at, n in buckets.items():  # as n calls of observe() would count them
                latency._buckets[at].inc(n)
            if buckets:
                latency._sum.inc(seconds)
        for version, (compared, agreeing) in agreed.items():
            self.compared.labels(str(version)).inc(compared)
            self.agreeing.labels(str(version)).inc(agreeing)


FLUSH_S = 0.25  # how long counts wait in a worker before the rules (and scrapes) see them


_LOCAL: list[Any] = []  # the registry of this process's worker (one worker: no sharing)
_BATCHED: weakref.WeakSet[RolloutMetrics] = weakref.WeakSet()  # flushed before a read here


def flush_counts() -> None:
    """This process's rollout counts into its Prometheus metrics (before they are read)."""
    for metrics in list(_BATCHED):
        metrics.flush()


def read_figures(registry: Any = None) -> dict[tuple[str, int], dict[str, float]]:
    """Figures per (role, version), added up over the workers (multiprocess mode: read from
    the shared folder; else from ``registry``, or from this process's one worker)."""
    from nbmlops.serving.metrics import MULTIPROC_ENV

    flush_counts()
    if registry is None and not os.environ.get(MULTIPROC_ENV):
        if not _LOCAL:
            return {}
        registry = _LOCAL[-1]
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    raw: dict[tuple[str, int], dict[str, Any]] = {}
    agree: dict[int, dict[str, float]] = {}
    for family in registry.collect():
        if not family.name.startswith("nbmlops_rollout_"):
            continue
        for sample in family.samples:
            labels = sample.labels
            if "version" not in labels:
                continue
            version = int(labels["version"])
            if "role" not in labels:
                slot = agree.setdefault(version, {})
                key = "compared" if "compared" in sample.name else "agreeing"
                slot[key] = slot.get(key, 0.0) + sample.value
                continue
            figures = raw.setdefault((labels["role"], version), {"buckets": {}})
            name = sample.name
            if name.endswith("_bucket"):
                le = float(labels["le"])
                figures["buckets"][le] = figures["buckets"].get(le, 0.0) + sample.value
            elif name == "nbmlops_rollout_requests_total":
                figures["requests"] = figures.get("requests", 0.0) + sample.value
            elif name == "nbmlops_rollout_errors_total":
                figures["errors_n"] = figures.get("errors_n", 0.0) + sample.value
            elif name == "nbmlops_rollout_rows_total":
                figures["rows"] = figures.get("rows", 0.0) + sample.value
    out = {}
    for (role, version), f in raw.items():
        requests = f.get("requests", 0.0)
        slot = agree.get(version, {})
        compared = slot.get("compared", 0.0)
        out[(role, version)] = {
            "requests": requests, "rows": f.get("rows", 0.0),
            "errors": f.get("errors_n", 0.0) / requests if requests else 0.0,
            "error_count": f.get("errors_n", 0.0),
            "p50": _quantile(f["buckets"], 0.5), "p99": _quantile(f["buckets"], 0.99),
            "agreement": (slot.get("agreeing", 0.0) / compared if compared else
                          (1.0 if role == "champion" else math.nan)),
            "compared": compared}
    return out


def _quantile(buckets: Mapping[float, float], q: float) -> float:
    """The q-quantile (ms) of a cumulative histogram, linear within the bucket."""
    bounds = sorted(buckets)
    if not bounds or not buckets[bounds[-1]]:
        return 0.0
    total = buckets[bounds[-1]]
    want = q * total
    below, lower = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= want:
            if math.isinf(le):
                return lower * 1000
            inside = count - below
            share = (want - below) / inside if inside else 1.0
            return (lower + (le - lower) * share) * 1000
        below, lower = count, le
    return lower * 1000


# -- the worker's side: routing and scoring ------------------------------------------------

class Rollout:
    """A worker's challenger: routes rows, scores, counts, logs the shadow's rows."""

    def __init__(self, spec: RolloutSpec, challenger: Holder, metrics: RolloutMetrics, *,
                 source: StoreSource | None = None, log: PredictionLog | None = None,
                 deployment: Callable[[], Mapping[str, Any]] | None = None,
                 poll_s: float = 2.0) -> None:
        self.spec = spec
        self.challenger = challenger
        self.metrics = metrics
        self.source = source
        self.log = log
        self.state: str = "running"
        self._deployment = deployment
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=SHADOW_QUEUE)
        self._threads: list[threading.Thread] = []
        self._process: ShadowProcess | None = None

    def active(self, champion: ServedModel) -> bool:
        return self.state in LIVE and self.challenger.current.version != champion.version

    # the request path ---------------------------------------------------------------
    def score(self, champion: ServedModel, frame: pd.DataFrame, payload: Any, proba: bool,
              request: str | None = None) -> tuple[list[Any], list[int] | None]:
        """The answer's outputs and, for a canary, each row's version. The champion's
        errors are raised (the app answers them); the challenger's are counted and its
        rows answered by the champion. ``request``: the answer's request id (a shadow's
        rows keep the ids of the rows they shadow)."""
        outputs = self._timed("champion", champion, frame, proba)
        if self.spec.mode == "shadow":
            try:
                self._queue.put_nowait((champion, frame, proba, outputs, request))
            except queue.Full:
                self.metrics.skipped.inc()
            return outputs, None
        chosen = self._route(frame, payload)
        versions = [champion.version] * len(frame)
        if not chosen:
            return outputs, versions
        from nbmlops.serving.model import take

        challenger = self.challenger.current
        part = take(frame, chosen)
        try:
            theirs = self._timed("challenger", challenger, part, proba)
        except Exception:  # counted; the champion's answer stands for these rows
            return outputs, versions
        self._agreement(challenger.version, [outputs[i] for i in chosen], theirs)
        answered = list(outputs)
        for i, value in zip(chosen, theirs, strict=True):
            answered[i] = value
            versions[i] = challenger.version
        return answered, versions

    def _timed(self, role: str, model: ServedModel, frame: pd.DataFrame, proba: bool
               ) -> list[Any]:
        start = time.perf_counter()
        try:
            out = model.predict_proba(frame) if proba else model.predict(frame)
        except Exception:
            self.metrics.scored(role, model.version, len(frame), 0.0, ok=False)
            raise
        self.metrics.scored(role, model.version, len(frame), time.perf_counter() - start,
                            ok=True)
        return out

    def _route(self, frame: pd.DataFrame, payload: Any) -> list[int]:
        """The positions of the rows the challenger answers."""
        share = self.spec.share
        if self.spec.key is None:
            return list(range(len(frame))) if random.random() < share else []
        keys = key_values(payload, frame, self.spec.key)
        limit = share * 0xFFFFFFFF
        return [i for i, k in enumerate(keys)
                if k is not None and zlib.crc32(str(k).encode()) <= limit]

    def _agreement(self, version: int, champion: Sequence[Any], theirs: Sequence[Any]) -> None:
        agreeing = sum(1 for a, b in zip(champion, theirs, strict=True) if _agrees(a, b))
        self.metrics.agreement(version, len(theirs), agreeing)

    def log_rows(self, log: PredictionLog, frame: pd.DataFrame, outputs: Sequence[Any],
                 versions: Sequence[int], logged: Callable[[Sequence[Any]], Mapping[str, Any]],
                 request: str) -> None:
        """A canary request's rows into the log, each part with the version that answered."""
        from nbmlops.serving.model import take
        from nbmlops.serving.predlog import row_ids

        if not versions:
            return
        first = versions[0]
        if versions.count(first) == len(versions):  # one version answered it all (most)
            columns = dict(logged(outputs))
            columns["_id"] = row_ids(request, len(versions))
            log.add(frame, columns, version=first, request=request)
            return
        for version in sorted(set(versions)):
            rows = [i for i, v in enumerate(versions) if v == version]
            part = take(frame, rows)
            columns = dict(logged([outputs[i] for i in rows]))
            columns["_id"] = [f"{request}-{i}" for i in rows]  # the ids the answer gave
            log.add(part, columns, version=version, request=request)

    # the worker's threads ---------------------------------------------------------------
    def start(self) -> None:
        if self.source is not None:
            self.source.start(self.challenger)
        if self.spec.mode == "shadow":
            if shadow_process_wanted():
                try:
                    self._process = ShadowProcess(self.log.settings if self.log else None,
                                                  self.challenger.current)
                except Exception as exc:  # the worker's thread scores it instead
                    print(f"nbmlops: the shadow's process could not start ({exc}); its "
                          "requests are scored in the worker", file=sys.stderr, flush=True)
            self._spawn(self._shadow_loop, "nbmlops-shadow")
        if self._deployment is not None:
            self._spawn(self._follow_loop, "nbmlops-rollout")
        self._spawn(self._flush_loop, "nbmlops-rollout-counts")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=name)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self.source is not None:
            self.source.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._process is not None:
            self._process.close()
        self.metrics.flush()  # every request counted, the shadow's last batch too

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_S):
            self.metrics.flush()

    def _follow_loop(self) -> None:
        assert self._deployment is not None
        while not self._stop.wait(self._poll_s):
            try:
                state = self._deployment().get("rollout", {}).get("status", "running")
            except Exception as exc:  # keep going as we were
                print(f"nbmlops: could not read the rollout's state: {exc}", file=sys.stderr,
                      flush=True)
                continue
            self.state = str(state)

    def _shadow_loop(self) -> None:
        """Score what waits in the queue with the challenger: the requests that came
        meanwhile in one call (one model call for many single rows costs about one), each
        counted as a request with its share of the time."""
        while True:
            try:
                batch = [self._queue.get(timeout=0.5)]
            except queue.Empty:
                if self._stop.is_set():  # (what was queued before the stop is scored)
                    return
                continue
            # let more requests arrive: fewer, larger calls
            self._stop.wait(SHADOW_WAIT_S)
            while len(batch) < SHADOW_QUEUE:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for proba in (False, True):
                same = [b for b in batch if b[2] is proba and self.active(b[0])]
                if same:
                    self._shadow_batch(same, proba)

    def _shadow_batch(self, batch: list[tuple[Any, ...]], proba: bool) -> None:
        """Score a batch with the challenger, in the shadow's process (which logs its rows)
        or, without one, here; then count it."""
        challenger = self.challenger.current
        whole = _stack([b[1] for b in batch])
        sizes = [len(b[1]) for b in batch]
        champion = [value for b in batch for value in b[3]]
        answered = [f"{b[4]}-{i}" if b[4] is not None else None
                    for b in batch for i in range(len(b[1]))]
        done: ShadowScored | None = None
        if self._process is not None:
            try:
                if self._process.ready():
                    done = self._process.score(challenger, whole, proba, sizes, champion,
                                               answered)
            except Exception as exc:  # it died: this worker scores the shadow from now on
                print(f"nbmlops: the shadow's process stopped ({exc!r}); its requests are "
                      "scored in the worker", file=sys.stderr, flush=True)
                self._process.close()
                self._process = None
        if done is None:
            done = score_shadow(challenger, self.log, whole, proba, sizes, champion,
                                answered)
        # counted at once, per (time, outcome): the requests of one call share its time
        alike: dict[tuple[float, bool], list[int]] = {}
        for rows, seconds, ok in done.requests:
            found = alike.setdefault((seconds, ok), [0, 0])
            found[0] += rows
            found[1] += 1
        for (seconds, ok), (rows, n) in alike.items():
            self.metrics.scored("challenger", done.version, rows, seconds, ok=ok, requests=n)
        if done.compared:
            self.metrics.agreement(done.version, done.compared, done.agreeing)


def shadow_process_wanted() -> bool:
    """Whether a worker scores its shadow in a process of its own: as
    ``NBMLOPS_SHADOW_PROCESS`` says (1 or 0), else when it may run on 2 CPUs or more (the
    challenger then scores on another CPU than the one answering requests, instead of
    taking turns with them for the worker's interpreter; on one CPU it would only add the
    cost of handing the rows over)."""
    said = os.environ.get(SHADOW_PROCESS_ENV, "").strip()
    if said in ("0", "1"):
        return said == "1"
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2


@dataclass(frozen=True)
class ShadowScored:
    """What scoring a shadow batch gave: per request (rows, seconds, ok), and how many
    rows were compared with the champion's answers and agreed."""

    version: int
    requests: list[tuple[int, float, bool]]
    compared: int
    agreeing: int


def score_shadow(challenger: ServedModel, log: PredictionLog | None, whole: Any, proba: bool,
                 sizes: Sequence[int], champion: Sequence[Any],
                 answered: Sequence[str | None] | None = None) -> ShadowScored:
    """Score the requests stacked in ``whole`` (``sizes`` rows each) with the challenger in
    one call (one by one if it fails: only the requests that fail count as errors),
    compare with the champion's answers, and log the challenger's rows, each with the id
    of the answered row it shadows (``answered``)."""
    from nbmlops.serving.model import take

    start = time.perf_counter()
    try:
        theirs = challenger.predict_proba(whole) if proba else challenger.predict(whole)
    except Exception:
        requests: list[tuple[int, float, bool]] = []
        compared = agreeing = at = 0
        for n in sizes:
            part, mine_champion = take(whole, range(at, at + n)), champion[at:at + n]
            at += n
            begin = time.perf_counter()
            try:
                mine = challenger.predict_proba(part) if proba else challenger.predict(part)
            except Exception:
                requests.append((n, 0.0, False))
                continue
            requests.append((n, time.perf_counter() - begin, True))
            compared += n
            agreeing += sum(1 for a, b in zip(mine_champion, mine, strict=True)
                            if _agrees(a, b))
            _log_shadow(log, challenger, part, mine, proba,
                        None if answered is None else answered[at - n:at])
        return ShadowScored(challenger.version, requests, compared, agreeing)
    each = (time.perf_counter() - start) / len(sizes)
    agreeing = sum(1 for a, b in zip(champion, theirs, strict=True) if _agrees(a, b))
    _log_shadow(log, challenger, whole, theirs, proba, answered)
    return ShadowScored(challenger.version, [(n, each, True) for n in sizes], len(theirs),
                        agreeing)


def _log_shadow(log: PredictionLog | None, challenger: ServedModel, frame: Any,
                outputs: list[Any], proba: bool,
                answered: Sequence[str | None] | None = None) -> None:
    """The shadow's rows into the log: ``_shadow`` true, an ``_id`` of their own (never an
    answer's, so labels by id meet only answered rows) and ``_answered``."""
    if log is None:
        return
    logged = ({f"proba_{c}": [p[i] for p in outputs] for i, c in
               enumerate(challenger.classes or [])} if proba
              else {challenger.output_column: outputs})
    logged[SHADOW] = [True] * len(frame)
    if answered is not None:
        logged[ANSWERED] = list(answered)
    log.add(frame, logged, version=challenger.version, request=f"shadow-{time.time_ns():x}")


class ShadowProcess:
    """A process of its own (one per worker, at a lower priority) that scores the shadow's
    batches and writes its rows to the prediction log: the challenger's work does not hold
    the worker's interpreter (the GIL) while it answers requests. Fed through a socket
    pair: the challenger (pickled, again when its version changes), then each batch
    (its rows as one array or frame, the champion's answers, the ids of the answered rows);
    it sends back what to count.
    Until it has started (seconds, on a busy machine), the worker scores the shadow."""

    def __init__(self, log: Mapping[str, Any] | None, challenger: ServedModel) -> None:
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        mine, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from nbmlops.serving.rollout import shadow_main; "
                 "shadow_main()", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, env=env)
        finally:
            theirs.close()
        self._conn = Connection(mine.detach())
        try:
            self._conn.send(("log", dict(log) if log is not None else None))
            self._conn.send(("model", challenger))
        except BaseException:  # (a model that does not pickle): no process left behind
            self._conn.close()
            self._proc.kill()
            self._proc.wait()
            raise
        self._version = challenger.version
        self._ready = False

    def ready(self) -> bool:
        """Whether it has started (it says so once, when it has read the model). Raises
        ``EOFError`` or ``OSError`` when it stopped before (the caller scores the shadow
        itself from then on)."""
        if not self._ready and self._conn.poll():
            self._ready = self._conn.recv() == "ready"
        return self._ready

    def score(self, challenger: ServedModel, whole: Any, proba: bool, sizes: Sequence[int],
              champion: Sequence[Any], answered: Sequence[str | None] | None = None
              ) -> ShadowScored:
        if challenger.version != self._version:
            self._conn.send(("model", challenger))
            self._version = challenger.version
        self._conn.send(("score", whole, proba, list(sizes), list(champion),
                         None if answered is None else list(answered)))
        done = self._conn.recv()
        assert isinstance(done, ShadowScored)
        return done

    def close(self) -> None:
        """Stop it once its rows are written (it ends too when this worker does)."""
        with contextlib.suppress(OSError):
            self._conn.send(("stop",))
        try:
            self._proc.wait(timeout=30)
        except Exception:
            self._proc.kill()
        self._conn.close()


def shadow_main() -> None:
    """The shadow's process (see :class:`ShadowProcess`)."""
    import signal
    from multiprocessing.connection import Connection

    from nbmlops.serving.predlog import PredictionLog

    with contextlib.suppress(OSError):
        os.nice(SHADOW_NICE)
    # a signal to the server's process group stops the worker, whose end (the socket
    # closing) stops this process once its rows are written
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    challenger: Any = None
    log: PredictionLog | None = None
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the worker is gone
                break
            if message[0] == "stop":
                break
            if message[0] == "log" and message[1] is not None:
                log = PredictionLog(**message[1], on_error=lambda m: print(
                    f"nbmlops: {m}", file=sys.stderr, flush=True))
                log.start()
            elif message[0] == "model":
                if challenger is None:
                    conn.send("ready")
                challenger = message[1]
            elif message[0] == "score":
                conn.send(score_shadow(challenger, log, *message[1:]))
    finally:
        if log is not None:
            log.close()


def _stack(frames: list[Any]) -> Any:
    """The requests' frames (DataFrames or lean Rows) as one (as numbers at once when
    every column is float64, or all are Rows of the same columns)."""
    import numpy as np
    import pandas as pd

    from nbmlops.serving.model import Rows

    if len(frames) == 1:
        return frames[0]
    if all(isinstance(f, Rows) for f in frames):
        first = frames[0]
        if all(f.columns == first.columns and f.values.dtype == first.values.dtype
               for f in frames):
            return Rows(first.columns, first.dtypes, np.vstack([f.values for f in frames]))
    frames = [f.to_frame() if isinstance(f, Rows) else f for f in frames]
    columns = tuple(frames[0].columns)
    arrays = [f.to_numpy() for f in frames]
    if all(a.dtype == np.float64 for a in arrays) and all(tuple(f.columns) == columns
                                                          for f in frames):
        return pd.DataFrame(np.vstack(arrays), columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def _agrees(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):  # probabilities: the same top class
        return bool(a) and bool(b) and a.index(max(a)) == b.index(max(b))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) <= 1e-3 * max(abs(float(a)), abs(float(b)), 1e-9)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def key_values(payload: Any, frame: pd.DataFrame, key: str) -> list[Any]:
    """The key column's value for each row of the request (None where a row has none)."""
    n = len(frame)
    if key in frame.columns:
        return list(frame[key].tolist())
    if isinstance(payload, Mapping):
        inner = payload.get("dataframe_records", payload.get("dataframe_split",
                            payload.get("inputs", payload.get("instances", payload))))
        payload = inner
    if isinstance(payload, list):
        return [r.get(key) if isinstance(r, Mapping) else None for r in payload][:n] + \
            [None] * max(0, n - len(payload))
    if isinstance(payload, Mapping):
        if "columns" in payload and "data" in payload and isinstance(payload["columns"], list):
            columns = [str(c) for c in payload["columns"]]
            if key in columns:
                at = columns.index(key)
                return [row[at] if isinstance(row, list) and len(row) > at else None
                        for row in payload["data"]]
            return [None] * n
        value = payload.get(key)
        if isinstance(value, list):
            return value[:n] + [None] * max(0, n - len(value))
        return [value] * n
    return [None] * n


# -- the server's main process: rules and decisions ---------------------------------------

def champion_and_challenger(ws: Workspace, champion: Reference, spec: RolloutSpec
                            ) -> tuple[int, int]:
    """The versions the champion's and the challenger's references point at now."""
    ch = spec.reference(champion)
    store = ws.store
    now = store.get_model_version(champion.model, version=champion.version,
                                  alias=champion.alias).version
    other = store.get_model_version(ch.model, version=ch.version, alias=ch.alias).version
    return now, other


def _row(figures: Mapping[tuple[str, int], Mapping[str, float]], role: str,
         version: int) -> dict[str, float]:
    empty = {"requests": 0.0, "rows": 0.0, "errors": 0.0, "error_count": 0.0, "p50": 0.0,
             "p99": 0.0, "agreement": math.nan if role == "challenger" else 1.0,
             "compared": 0.0}
    return {**empty, **figures.get((role, version), {})}


def decide(ws: Workspace, deployment_id: str, champion: Reference, spec: RolloutSpec,
           state: Mapping[str, Any],
           figures: Mapping[tuple[str, int], Mapping[str, float]]) -> dict[str, Any] | None:
    """One evaluation of the rules: the new state (recorded, with an audit event), or None
    when nothing changes."""
    from nbmlops.errors import GateError
    from nbmlops.registry import promote

    status = state.get("status", "running")
    if status not in LIVE:
        return None
    champ_v, chal_v = champion_and_challenger(ws, champion, spec)
    if champ_v == chal_v:  # the champion follows the promoted alias: the canary is over
        if status == "requested" or state.get("promoted_version") == chal_v:
            return _record(ws, deployment_id, "rollout-end", {
                **state, "status": "promoted"}, {"version": chal_v, "champion": champ_v},
                version=chal_v, reason=f"{champion} now serves version {chal_v}")
        return None
    if status == "requested" and ws.store.get_request(int(state["request"])).status \
            == "rejected":  # the canary goes on; this version is not proposed again
        return _record(ws, deployment_id, "rollout-rejected", {
            **state, "status": "running", "blocked": chal_v}, {"request": state["request"]},
            version=chal_v, reason=f"approval request #{state['request']} was rejected")
    mine, champ = _row(figures, "challenger", chal_v), _row(figures, "champion", champ_v)
    shown = {"challenger": _plain(mine), "champion": _plain(champ),
             "challenger_version": chal_v, "champion_version": champ_v}
    if spec.rollback_when and parse_rule(spec.rollback_when).holds(mine, champ):
        return _record(ws, deployment_id, "rollout-rollback", {
            **state, "status": "rolled back"}, {**shown, "rule": spec.rollback_when},
            version=chal_v, reason=f"rollback rule held: {spec.rollback_when}")
    if status != "running" or not spec.promote_when or state.get("blocked") == chal_v:
        return None
    if not parse_rule(spec.promote_when).holds(mine, champ):
        return None
    assert champion.alias is not None
    reason = f"canary rule held: {spec.promote_when}"
    try:
        outcome = promote(ws, champion.model, chal_v, champion.alias, reason=reason)
    except GateError as exc:
        return _record(ws, deployment_id, "rollout-blocked", {**state, "blocked": chal_v},
                       {**shown, "rule": spec.promote_when, "error": str(exc)},
                       version=chal_v, reason=str(exc))
    from nbmlops._types import ApprovalRequest

    if isinstance(outcome, ApprovalRequest):
        return _record(ws, deployment_id, "rollout-promote", {
            **state, "status": "requested", "request": outcome.id, "promoted_version": chal_v},
            {**shown, "rule": spec.promote_when, "request": outcome.id},
            version=chal_v, reason=f"{reason}; {champion} is protected: approval request "
                                   f"#{outcome.id} opened")
    return _record(ws, deployment_id, "rollout-promote", {
        **state, "status": "running", "promoted_version": chal_v},
        {**shown, "rule": spec.promote_when}, version=chal_v,
        reason=f"{reason}; {champion} moved to version {chal_v}")


def _plain(figures: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else round(v, 6))
            for k, v in figures.items()}


def _record(ws: Workspace, deployment_id: str, action: str, state: dict[str, Any],
            details: Mapping[str, Any], *, version: int, reason: str) -> dict[str, Any]:
    from nbmlops._types import Actor

    ws.store.record_rollout(deployment_id, action, state=state, details=details,
                            version=version, reason=reason,
                            actor=Actor(user=ws.actor.user, host=ws.actor.host))
    print(f"nbmlops: rollout: {reason}", file=sys.stderr, flush=True)
    return state


def control(ws: Workspace, deployment_id: str, champion: Reference, spec: RolloutSpec,
            stop: threading.Event, every_s: float = 1.0) -> None:
    """Evaluate the rules every ``every_s`` seconds until ``stop`` (the main process)."""
    state: dict[str, Any] = dict(ws.store.get_deployment(deployment_id).options
                                 .get("rollout", {}))
    last_error = ""
    while not stop.wait(every_s):
        try:
            changed = decide(ws, deployment_id, champion, spec, state, read_figures())
            if changed is not None:
                state = changed
            last_error = ""
        except Exception as exc:  # say so once per cause, try again next time
            message = f"nbmlops: rollout rules could not be evaluated: {exc}"
            if message != last_error:
                print(message, file=sys.stderr, flush=True)
                last_error = message


# -- what `nbmlops rollout NAME` shows ----------------------------------------------------

@dataclass(frozen=True)
class RolloutReport:
    """A deployment's rollout: its settings, its state, and per version the live figures."""

    deployment: str
    mode: str
    status: str
    champion: str
    challenger: str
    share: float
    key: str | None
    promote_when: str | None
    rollback_when: str | None
    versions: list[dict[str, Any]]
    decisions: list[dict[str, Any]]

    def table(self) -> pd.DataFrame:
        """One row per version: the live figures, then ``labelled``, ``basis`` (realized,
        estimated or None) and each metric of that basis."""
        import pandas as pd

        columns = ["role", "version", "requests", "rows", "error_rate", "p50_ms", "p99_ms",
                   "agreement", "labelled", "basis"]
        metrics = [k for v in self.versions for k in v.get("performance") or {}]
        rows = [{**v, **(v.get("performance") or {})} for v in self.versions]
        return pd.DataFrame(rows, columns=columns + list(dict.fromkeys(metrics)))

    def __str__(self) -> str:
        head = (f"{self.deployment}: {self.mode} of {self.challenger} beside {self.champion}"
                + (f", share {self.share:g}" if self.mode == "canary" else "")
                + (f", sticky by {self.key}" if self.key else "") + f" · {self.status}")
        rules = "".join(f"\n  {name}: {rule}" for name, rule in (
            ("promote when", self.promote_when), ("roll back when", self.rollback_when))
            if rule)
        lines = [head + rules]
        for v in self.versions:
            agreement = "—" if v["agreement"] is None else f"{v['agreement']:.1%}"
            lines.append(f"  {v['role']:<10} v{v['version']:<4} {int(v['requests']):>8,} req "
                         f" errors {v['error_rate']:.2%}  p50 {v['p50_ms']:.2f} ms  p99 "
                         f"{v['p99_ms']:.2f} ms  agreement {agreement}"
                         + _performance_text(v))
        for d in self.decisions:
            lines.append(f"  {d['time']}  {d['action']}: {d['reason']}")
        return "\n".join(lines)


SHOWN_METRICS = 3  # of a version's performance, in the text (all in the table and JSON)


def _performance_text(v: Mapping[str, Any]) -> str:
    basis, shown = v.get("basis"), v.get("performance") or {}
    if basis is None:
        return "  · no labels yet" if "basis" in v else ""
    mark = "≈" if basis == "estimated" else ""
    figures = ", ".join(f"{k} {mark}{value:.3f}" for k, value in
                        list(shown.items())[:SHOWN_METRICS])
    why = (f"realized on {v['labelled']:,} labels" + (
        " of the rows it shadowed" if v.get("shadowed") else
        ", the rows the shadow scored too" if v.get("same_rows") else "")
        if basis == "realized" else "estimated (CBPE), no labels yet")
    return f"  · {figures} ({why})"


def report(deployment: Any, live: Mapping[str, Any], decisions: Sequence[Any],
           performance: Mapping[int, Mapping[str, Any]] | None = None) -> RolloutReport:
    """A :class:`RolloutReport` from the deployment's record, its server's ``/rollout``
    and, per version, the performance of its labelled rows or, before any label came, its
    estimate (:func:`nbmlops.monitoring.performance.by_version`). A shadow is graded by
    the labels of the answered rows it shadowed (``shadowed``); beside it, the champion's
    figures are those of the same rows (``same_rows``)."""
    spec = RolloutSpec.from_dict(deployment.options.get("rollout", {}))
    performance = dict(performance or {})
    shown = [int(v["version"]) for v in live.get("versions", [])]
    if spec.mode == "shadow" and len(shown) == 2:
        beside = (performance.get(shown[1]) or {}).get("beside") or {}
        if beside.get("realized") and beside.get("versions") == [shown[0]]:
            performance[shown[0]] = {**performance.get(shown[0], {}), "basis": "realized",
                                     "labelled": beside["labelled"], "same_rows": True,
                                     "realized": beside["realized"]}
    versions = []
    for v in live.get("versions", []):
        found = performance.get(int(v["version"]))
        if found is not None:
            basis = found.get("basis")
            v = {**v, "labelled": found.get("labelled", 0), "basis": basis,
                 "performance": {k: round(float(x), 6) for k, x in
                                 (found.get(basis) or {}).items()} if basis else {}}
            v.update({k: found[k] for k in ("shadowed", "same_rows") if found.get(k)})
        versions.append(v)
    return RolloutReport(
        deployment=deployment.name, mode=spec.mode, status=str(live.get("status")),
        champion=str(live.get("champion")), challenger=str(live.get("challenger")),
        share=spec.share, key=spec.key, promote_when=spec.promote_when,
        rollback_when=spec.rollback_when, versions=versions,
        decisions=[{"time": e.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                    "action": e.action, "reason": e.reason, "details": dict(e.details)}
                   for e in decisions if e.action.startswith("rollout-")])


def live_figures(rollout: Rollout, champion: ServedModel, registry: Any) -> dict[str, Any]:
    """What ``GET /rollout`` answers: the state, and figures for the champion and the
    challenger versions being served now."""
    figures = read_figures(registry)
    challenger = rollout.challenger.current
    rows = []
    for role, version in (("champion", champion.version), ("challenger", challenger.version)):
        f = _row(figures, role, version)
        rows.append({"role": role, "version": version, "requests": int(f["requests"]),
                     "rows": int(f["rows"]), "error_rate": f["errors"],
                     "p50_ms": round(f["p50"], 4), "p99_ms": round(f["p99"], 4),
                     "agreement": None if math.isnan(f["agreement"]) else f["agreement"]})
    return {"mode": rollout.spec.mode, "status": rollout.state
            if challenger.version != champion.version or rollout.state not in LIVE
            else "promoted", "champion": champion.reference,
            "challenger": challenger.reference, "share": rollout.spec.share,
            "key": rollout.spec.key, "versions": rows}


def spec_from(*, canary: str | None = None, shadow: str | None = None,
              share: float | None = None, key: str | None = None,
              promote_when: str | None = None, rollback_when: str | None = None
              ) -> dict[str, Any] | None:
    """The rollout options of ``deploy``/``serve`` as a spec (None: no challenger), or a
    one-line ValueError for options that do not go together."""
    if canary is not None and shadow is not None:
        raise ValueError("use --canary or --shadow, not both")
    challenger = canary if canary is not None else shadow
    if challenger is None:
        given = [n for n, v in (("--share", share), ("--key", key),
                                ("--promote-when", promote_when),
                                ("--rollback-when", rollback_when)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} go(es) with --canary or --shadow CHALLENGER")
        return None
    if shadow is not None and share is not None:
        raise ValueError("--share goes with --canary (a shadow scores every request)")
    return RolloutSpec(mode="canary" if canary is not None else "shadow",
                       challenger=str(challenger), share=0.1 if share is None else share,
                       key=key, promote_when=promote_when,
                       rollback_when=rollback_when).to_dict()


def command_flags(spec: Mapping[str, Any] | None) -> list[str]:
    """``spec`` as the server's command-line flags (see :func:`spec_from`)."""
    if spec is None:
        return []
    flags = [f"--{spec['mode']}", str(spec["challenger"])]
    if spec["mode"] == "canary":
        flags += ["--share", repr(float(spec["share"]))]
    for flag, name in (("--key", "key"), ("--promote-when", "promote_when"),
                       ("--rollback-when", "rollback_when")):
        if spec.get(name) is not None:
            flags += [flag, str(spec[name])]
    return flags
