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

import os
import shutil
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "Other"  # the operation label of a request that named no known operation

# Request latency runs from the start of the operation until its audit record is durable (what the client
# waits for): sub-millisecond for cached reads, a few ms with the audit fsync, more under load.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

REQUESTS = Counter(
    "trent_requests",
    "KMS API requests answered, by operation and AWS error code (empty: success).",
    ("operation", "error_code"),
)
REQUEST_SECONDS = Histogram(
    "trent_request_duration_seconds",
    "Time from the start of a KMS API operation until its audit record was durable.",
    ("operation",),
    buckets=_LATENCY_BUCKETS,
)
AUDIT_COMMIT_SECONDS = Histogram(
    "trent_audit_commit_seconds",
    "Time the audit writer took to append one batch to the chain and commit it (fsync included).",
    buckets=_COMMIT_BUCKETS,
)
AUDIT_BATCH_RECORDS = Histogram(
    "trent_audit_batch_records",
    "Audit records per commit of the audit writer.",
    buckets=_BATCH_BUCKETS,
)


def prepare(directory: Path) -> None:
    """Give this server's processes an empty metrics directory; call before any of them starts."""
    shutil.rmtree(directory, ignore_errors=True)  # files of an earlier run would add to this one's counts
    directory.mkdir(mode=0o700)
    os.environ[MULTIPROC_DIR] = str(directory)


_counters: dict[tuple[str, str], Counter] = {}
_timers: dict[str, Histogram] = {}


def request(operation: str, error_code: str | None, seconds: float) -> None:
    # The children by label, kept here: labels() takes a lock and builds its key on every call.
    code = error_code or ""
    counter = _counters.get((operation, code))
    if counter is None:
        counter = _counters[operation, code] = REQUESTS.labels(operation, code)
    timer = _timers.get(operation)
    if timer is None:
        timer = _timers[operation] = REQUEST_SECONDS.labels(operation)
    counter.inc()
    timer.observe(seconds)


def audit_commit(records: int, seconds: float) -> None:
    AUDIT_COMMIT_SECONDS.observe(seconds)
    AUDIT_BATCH_RECORDS.observe(records)


def exposition() -> tuple[bytes, str]:
    """The text format of every process's metrics, and its content type."""
    directory = os.environ.get(MULTIPROC_DIR)
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
