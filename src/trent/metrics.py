"""Prometheus metrics (prometheus-client), shared by every process of one server.

`trent serve` runs a supervisor, workers and an audit writer, each its own process, so the metrics use
prometheus-client's multiprocess mode: the supervisor points PROMETHEUS_MULTIPROC_DIR at an empty directory
before it starts anyone (`prepare`), every process then writes its own memory-mapped files there, and
`/metrics` on any worker adds them all up (`exposition`). Without that variable (tests in one process) the
metrics live in the process's default registry.

What a metric may hold is fixed here: operation names, AWS error codes and numbers. Never a key id, an
account, a principal or anything the client chose freely (docs/operations.md): the caller maps an unknown
operation name to `OTHER` before it gets here, so label values, and with them the files, stay bounded
whatever unauthenticated clients send.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import math
import os
import shutil
from pathlib import Path
from typing import Any

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "Other"  # the operation label of a request that named no known operation

# Request latency runs from the start of the operation until its audit record is durable (what the client
# waits for): sub-millisecond for cached reads, a few ms with the audit fsync, more under load.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class _Metrics:
    """Every metric, made at the first use of any: prometheus-client is imported only then, so that a server
    starts without it (~30 ms: benchmarks/results/dev_start.md), and only after `prepare` (prometheus-client
    chooses its multiprocess mode once, when imported, from PROMETHEUS_MULTIPROC_DIR)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.REQUESTS = Counter(
            "trent_requests",
            "KMS API requests answered, by operation and AWS error code (empty: success).",
            ("operation", "error_code"),
        )
        self.REQUEST_SECONDS = Histogram(
            "trent_request_duration_seconds",
            "Time from the start of a KMS API operation until its audit record was durable.",
            ("operation",),
            buckets=_LATENCY_BUCKETS,
        )
        self.AUDIT_COMMIT_SECONDS = Histogram(
            "trent_audit_commit_seconds",
            "Time the audit writer took to append one batch to the chain and commit it (fsync included).",
            buckets=_COMMIT_BUCKETS,
        )
        self.AUDIT_BATCH_RECORDS = Histogram(
            "trent_audit_batch_records",
            "Audit records per commit of the audit writer.",
            buckets=_BATCH_BUCKETS,
        )
        self.READ_BATCH_REQUESTS = Histogram(
            "trent_read_batch_requests",
            "Requests per batch of the per-node read batcher (a store whose reads are round trips: PostgreSQL).",
            buckets=_BATCH_BUCKETS,
        )
        self.STORE_CONNECTIONS = Counter(
            "trent_store_connections_opened",
            "Connections to a PostgreSQL store opened: one per process without a pool, more when one was replaced.",
        )
        self.STORE_ROUND_TRIPS = Counter(
            "trent_store_round_trips",
            "Round trips to the store database made by request handling (transaction control aside).",
        )


_NAMES = frozenset(
    {
        "REQUESTS",
        "REQUEST_SECONDS",
        "AUDIT_COMMIT_SECONDS",
        "AUDIT_BATCH_RECORDS",
        "READ_BATCH_REQUESTS",
        "STORE_CONNECTIONS",
        "STORE_ROUND_TRIPS",
    }
)


@functools.cache
def _made() -> _Metrics:
    return _Metrics()


def __getattr__(name: str) -> Any:
    """metrics.REQUESTS, metrics.STORE_CONNECTIONS, ...: the metric, made at first use (_Metrics)."""
    if name in _NAMES:
        return getattr(_made(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def prepare(directory: Path) -> None:
    """Give this server's processes an empty metrics directory; call before any of them starts."""
    shutil.rmtree(directory, ignore_errors=True)  # files of an earlier run would add to this one's counts
    directory.mkdir(mode=0o700)
    os.environ[MULTIPROC_DIR] = str(directory)


FLUSH_SECONDS = 1.0  # how long a worker's request counts may wait before its shared files have them

# A worker's request counts since the last flush. Updating the shared (memory-mapped) values costs ~4 us per
# request (a lock and a pid check per value), 3% of a worker's time at ~8k req/s; counting here and adding
# the sums once a second costs well under 1 us. /metrics flushes its own worker first; the others' counts
# are at most FLUSH_SECONDS late.
_BOUNDS = (*_LATENCY_BUCKETS, math.inf)
_counts: dict[tuple[str, str], int] = {}
_latencies: dict[str, tuple[list[int], list[float]]] = {}  # operation: (count per bucket, [sum of seconds])
_flush_due = False


def request(operation: str, error_code: str | None, seconds: float) -> None:
    global _flush_due
    key = (operation, error_code or "")
    _counts[key] = _counts.get(key, 0) + 1
    tally = _latencies.get(operation)
    if tally is None:
        tally = _latencies[operation] = ([0] * len(_BOUNDS), [0.0])
    tally[0][bisect.bisect_left(_BOUNDS, seconds)] += 1  # the first bucket whose bound is >= seconds
    tally[1][0] += seconds
    if not _flush_due:
        _flush_due = True
        try:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)
        except RuntimeError:  # no event loop (a background job, a test): at once
            flush()


def flush() -> None:
    """Add the counts gathered since the last flush to the shared values."""
    global _flush_due
    _flush_due = False
    counts, latencies = dict(_counts), dict(_latencies)
    _counts.clear()
    _latencies.clear()
    if not counts and not latencies:
        return
    made = _made()
    for (operation, code), n in counts.items():
        made.REQUESTS.labels(operation, code).inc(n)
    for operation, (buckets, total) in latencies.items():
        child = made.REQUEST_SECONDS.labels(operation)
        # What observe() does per sample (prometheus_client's Histogram: _sum, then the first bucket whose
        # bound holds the value), once per bucket; tests/unit/test_metrics.py checks it against observe().
        child._sum.inc(total[0])
        for index, n in enumerate(buckets):
            if n:
                child._buckets[index].inc(n)


def read_batch(requests: int, round_trips: int) -> None:
    """One batch of the read batcher: how many requests, and the round trips its prefetch and requests made."""
    made = _made()
    made.READ_BATCH_REQUESTS.observe(requests)
    made.STORE_ROUND_TRIPS.inc(round_trips)


def audit_commit(records: int, seconds: float) -> None:
    made = _made()
    made.AUDIT_COMMIT_SECONDS.observe(seconds)
    made.AUDIT_BATCH_RECORDS.observe(records)


def exposition() -> tuple[bytes, str]:
    """The text format of every process's metrics, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    _made()  # every metric exists (at zero, if unused), as in any process that counted something
    flush()
    directory = os.environ.get(MULTIPROC_DIR)
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
