"""Request metrics gathered per worker and added to the shared values in one go: the same exposition as one
observe() per request, and none lost or counted twice."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from trent import metrics


def _samples(registry: CollectorRegistry, name: str, operation: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.startswith(name) and sample.labels.get("operation") == operation:
                found[(sample.name, sample.labels.get("le", ""))] = sample.value
    return found


def test_deferred_counts_expose_as_observe_per_request_would() -> None:
    latencies = [random.Random(7).choice([0.0001, 0.0005, 0.003, 0.2, 7.0, 99.0]) for _ in range(500)]
    latencies += [b for b in metrics._LATENCY_BUCKETS]  # exactly on each bound: that bucket, as observe() does
    reference_registry = CollectorRegistry()
    reference = Histogram(
        "trent_request_duration_seconds",
        "reference",
        ("operation",),
        buckets=metrics._LATENCY_BUCKETS,
        registry=reference_registry,
    )

    async def serve() -> dict[tuple[str, str], float]:
        for seconds in latencies:
            metrics.request("DeferredOp", None, seconds)
            reference.labels("DeferredOp").observe(seconds)
        before = _samples(REGISTRY, "trent_request_duration_seconds", "DeferredOp")
        metrics.exposition()  # /metrics flushes its own worker's counts first
        return before

    before = asyncio.run(serve())
    assert before.get(("trent_request_duration_seconds_count", ""), 0) == 0  # not yet added: deferred
    got = _samples(REGISTRY, "trent_request_duration_seconds", "DeferredOp")
    want = _samples(reference_registry, "trent_request_duration_seconds", "DeferredOp")
    created = {k for k in want if k[0].endswith("_created")}
    assert {k: v for k, v in got.items() if k not in created} == pytest.approx(
        {k: v for k, v in want.items() if k not in created}
    )
    assert got[("trent_request_duration_seconds_count", "")] == len(latencies)


def test_counts_by_error_code_add_up_and_flush_without_a_loop() -> None:
    for _ in range(3):
        metrics.request("CountedOp", "NotFoundException", 0.001)
    metrics.request("CountedOp", None, 0.001)  # no event loop: added at once
    counted = {
        (s.labels["error_code"]): s.value
        for family in REGISTRY.collect()
        for s in family.samples
        if s.name == "trent_requests_total" and s.labels.get("operation") == "CountedOp"
    }
    assert counted == {"NotFoundException": 3, "": 1}
