"""The in-memory adapter beyond the port's contract: what it promises threads (one writer at a time; every other
thread reads the last commit, whole, without waiting)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.contract.records import key
from trent.kms.keys import Tag
from trent.store.memory import MemoryStore


def test_another_thread_reads_the_last_commit_while_a_unit_holds_the_lock() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        tx.insert_key(key(1), b"w", "{}", [])
    seen: list[object] = []

    def read() -> None:
        seen.append(store.get_key(key(1).key_id))
        seen.append(store.get_keys([key(2).key_id]))

    with store.unit():
        with store.transaction() as tx:
            tx.update_key(key(1).evolve(description="uncommitted"), 1)
            tx.insert_key(key(2), b"w", "{}", [])
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive()  # it did not wait for the unit
        assert store.get_key(key(1).key_id).description == "uncommitted"  # type: ignore[union-attr]
    assert seen == [key(1), {}]
    assert store.get_key(key(2).key_id) == key(2)


def test_writers_in_threads_are_serialized() -> None:
    """Each writer reads the tag, then writes it plus one: with two at a time, increments would be lost."""
    store = MemoryStore()
    with store.transaction() as tx:
        tx.insert_key(key(3), b"w", "{}", [Tag("n", "0")])

    def bump() -> None:
        for _ in range(200):
            with store.transaction() as tx:
                (tag,) = tx.get_tags(key(3).key_id)
                time.sleep(0.0001)  # let another thread run between the read and the write
                tx.put_tags(key(3).key_id, [Tag("n", str(int(tag.tag_value) + 1))])

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert store.get_tags(key(3).key_id) == (Tag("n", "800"),)


def test_transactions_do_not_nest_nor_does_a_blob_update_inside_one() -> None:
    store = MemoryStore()
    with store.transaction():
        with pytest.raises(RuntimeError), store.transaction():
            pass
        with pytest.raises(RuntimeError):
            store.update_blob("b", lambda old: b"x")
    assert store.get_blob("b") is None
    with store.transaction() as tx:  # the lock was released
        tx.insert_key(key(4), b"w", "{}", [])
    assert store.get_key(key(4).key_id) == key(4)
