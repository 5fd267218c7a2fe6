"""The store port's contract for blobs: opaque records (the audit chain's anchor) replaced atomically."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.conftest import ADAPTERS, Opener
from trent.store.base import Store


def test_update_blob_stores_what_change_returns_and_keeps_the_old_on_none(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    seen: list[bytes | None] = []

    def first(old: bytes | None) -> bytes | None:
        seen.append(old)
        return b"one" if old is None else None

    assert store.get_blob("anchor") is None
    assert store.update_blob("anchor", first) == b"one"
    assert store.update_blob("anchor", first) == b"one"  # made once: the second change keeps it
    assert seen == [None, b"one"]
    assert peer.get_blob("anchor") == b"one" and peer.get_blob("other") is None
    assert peer.update_blob("anchor", lambda old: (old or b"") + b"+two") == b"one+two"
    assert store.get_blob("anchor") == b"one+two"


def test_a_change_that_raises_stores_nothing(store: Store) -> None:
    store.update_blob("anchor", lambda old: b"kept")

    def fails(old: bytes | None) -> bytes | None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        store.update_blob("anchor", fails)
    assert store.get_blob("anchor") == b"kept"


@pytest.fixture(params=["sqlite-file", "memory", "postgresql"])
def two_handles(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Store]]:
    """Two handles on one database, as two processes or nodes hold them (a private SQLite database has one)."""
    with ADAPTERS[request.param](request, tmp_path) as opener:
        handles = [opener(), opener()]
        yield handles
        for handle in {id(h): h for h in handles}.values():
            handle.close()


def test_concurrent_updates_from_two_handles_lose_none(two_handles: list[Store]) -> None:
    barrier = threading.Barrier(len(two_handles))
    failures: list[BaseException] = []

    def count(store: Store) -> None:
        try:
            barrier.wait()
            for _ in range(25):
                store.update_blob("counter", lambda old: str(int(old or b"0") + 1).encode())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=count, args=(s,)) for s in two_handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and two_handles[0].get_blob("counter") == b"50"
