"""Token buckets in a shared memory-mapped file (trent/buckets.py): the rate, the burst, memory that stays the
same whatever keys come, and one rate across processes."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from trent.buckets import PROBE, BucketFileError, SharedBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_starts_full_and_refills_at_its_rate(tmp_path: Path) -> None:
    clock = Clock()
    buckets = SharedBuckets.create(tmp_path / "b", slots=64, clock=clock)
    assert [buckets.take(b"k", 5, 5) for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.1  # half a token
    assert buckets.take(b"k", 5, 5) is False
    clock.now += 0.1  # the half of the refused take is kept: one token now
    assert buckets.take(b"k", 5, 5) is True
    assert buckets.take(b"k", 5, 5) is False
    clock.now += 60  # never more than the burst
    assert sum(buckets.take(b"k", 5, 5) for _ in range(10)) == 5


def test_a_rate_below_one_a_second(tmp_path: Path) -> None:
    clock = Clock()
    buckets = SharedBuckets.create(tmp_path / "b", slots=64, clock=clock)
    assert [buckets.take(b"k", 0.1, 1) for _ in range(2)] == [True, False]
    clock.now += 9.9
    assert buckets.take(b"k", 0.1, 1) is False
    clock.now += 0.2
    assert buckets.take(b"k", 0.1, 1) is True


def test_keys_have_buckets_of_their_own(tmp_path: Path) -> None:
    buckets = SharedBuckets.create(tmp_path / "b", slots=64, clock=Clock())
    assert buckets.take(b"a", 1, 1) and not buckets.take(b"a", 1, 1)
    assert buckets.take(b"b", 1, 1) and not buckets.take(b"b", 1, 1)


def test_memory_is_the_same_however_many_keys_come(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "b"
    buckets = SharedBuckets.create(path, slots=64, clock=clock)
    size = path.stat().st_size
    for n in range(5000):
        clock.now += 0.001
        buckets.take(f"stranger-{n}".encode(), 1, 1)
    assert path.stat().st_size == size
    # Strangers take over the least recently used slots; a key in steady use keeps its bucket meanwhile: at
    # 1 a second it gets one request through in these 0.2 s, not one per stranger that could have evicted it.
    clock.now += 1
    taken = 0
    for n in range(200):
        clock.now += 0.001
        taken += buckets.take(b"regular", 1, 1)
        buckets.take(f"late-{n}".encode(), 1, 1)
    assert taken == 1


def test_a_bucket_taken_over_starts_full(tmp_path: Path) -> None:
    clock = Clock()
    buckets = SharedBuckets.create(tmp_path / "b", slots=PROBE, clock=clock)  # every key probes every slot
    assert buckets.take(b"old", 1, 1)
    for n in range(PROBE):  # PROBE newer keys: "old" is the least recently used, and goes
        clock.now += 0.01
        buckets.take(f"new-{n}".encode(), 1, 1)
    assert buckets.take(b"old", 1, 1)  # forgotten: full again (it would have refilled within a second anyway)


def test_the_file_must_be_one_this_version_made(tmp_path: Path) -> None:
    path = tmp_path / "b"
    path.write_bytes(b"not a table" * 10)
    with pytest.raises(BucketFileError):
        SharedBuckets(path)
    with pytest.raises(ValueError):
        SharedBuckets.create(path, slots=64).take(b"k", 0, 1)


def _draw(path: str, seconds: float, start: float, results: multiprocessing.Queue[int]) -> None:
    buckets = SharedBuckets(Path(path))
    while time.monotonic() < start:
        pass
    taken = 0
    while time.monotonic() < start + seconds:
        taken += buckets.take(b"shared", 20, 20)
    results.put(taken)


def test_processes_draw_from_the_same_buckets(tmp_path: Path) -> None:
    """Two processes as fast as they can for 1.5 s against 20/s with a burst of 20: together at most 20 + 20 x 1.5
    (and a token of rounding), not twice that, as buckets of their own would give."""
    path = tmp_path / "b"
    SharedBuckets.create(path).close()
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    start, seconds = time.monotonic() + 3.0, 1.5
    workers = [context.Process(target=_draw, args=(str(path), seconds, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert all(count > 0 for count in counts), counts  # both drew
    assert 20 + 20 * seconds - 2 <= sum(counts) <= 20 + 20 * seconds + 1, counts
