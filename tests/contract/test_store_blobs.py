"""Blobs (the audit chain's identity and checkpoint): read-modify-write that is atomic across processes and nodes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore


class BlobStore(Protocol):
    def get_blob(self, name: str) -> bytes | None: ...

    def update_blob(self, name: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None: ...

    def close(self) -> None: ...


@pytest.fixture(params=["sqlite-file", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BlobStore]]:
    """Opens another store on one database, as another process or node would."""
    opened: list[BlobStore] = []
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None

    def open_one() -> BlobStore:
        store: BlobStore = PostgresStore(url) if url is not None else SqliteStore(tmp_path / "t.db")
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def test_update_blob_inserts_keeps_and_replaces(open_store: Callable[[], BlobStore]) -> None:
    store = open_store()
    assert store.get_blob("chain") is None
    assert store.update_blob("chain", lambda old: b"first" if old is None else None) == b"first"
    assert store.update_blob("chain", lambda old: b"second" if old is None else None) == b"first"  # kept
    assert store.update_blob("chain", lambda old: (old or b"") + b"+") == b"first+"
    assert open_store().get_blob("chain") == b"first+" and store.get_blob("other") is None


def test_a_change_that_raises_leaves_the_blob(open_store: Callable[[], BlobStore]) -> None:
    store = open_store()
    store.update_blob("checkpoint", lambda old: b"kept")

    def fail(old: bytes | None) -> bytes | None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update_blob("checkpoint", fail)
    assert open_store().get_blob("checkpoint") == b"kept"
    assert store.update_blob("checkpoint", lambda old: None) == b"kept"  # and the store goes on


def test_concurrent_updates_from_two_stores_lose_none(open_store: Callable[[], BlobStore]) -> None:
    stores = [open_store(), open_store()]
    barrier = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def count(store: BlobStore) -> None:
        try:
            barrier.wait()
            for _ in range(25):
                store.update_blob("counter", lambda old: str(int(old or b"0") + 1).encode())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=count, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and stores[0].get_blob("counter") == b"50"
