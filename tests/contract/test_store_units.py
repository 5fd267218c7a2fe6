"""The store port's contract for units: a request's transactions and its audit record commit together or not at
all, a failed block undoes only itself, and the outbox keeps the records until the chain holds them."""

from __future__ import annotations

import pytest

from tests.contract.conftest import Opener
from tests.contract.records import ACCOUNT, NOW, REGION, alias, key
from trent.kms.keys import Account, Tag
from trent.store.base import ConflictError, DuplicateError, Store


def test_a_unit_commits_its_transactions_and_journal_together(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    with store.unit() as unit:
        assert not unit.wrote()
        with store.transaction() as tx:
            tx.insert_key(key(40), b"w", "{}", [])
        with store.transaction() as tx:
            assert tx.get_key(key(40).key_id) == key(40)  # a later block sees the earlier ones
            tx.put_tags(key(40).key_id, [Tag("t", "1")])
        assert store.get_keys([key(40).key_id]) == {key(40).key_id: key(40)}  # so do the unit's own reads
        assert unit.wrote()
        unit.journal("event-1", b"row-1")
    assert peer.get_key(key(40).key_id) == key(40)
    assert peer.get_tags(key(40).key_id) == (Tag("t", "1"),)
    assert peer.outbox(10) == (("event-1", b"row-1"),)


def test_a_unit_that_raises_leaves_nothing(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_key(key(41), b"w", "{}", [])
    with pytest.raises(RuntimeError), store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_key(key(42), b"w", "{}", [])  # this block ended normally, but the unit did not
        with store.transaction() as tx:
            tx.delete_key(key(41).key_id)
        unit.journal("event-3", b"row-3")
        raise RuntimeError("the commit of the record failed")
    assert store.get_key(key(42).key_id) is None and store.get_key(key(41).key_id) == key(41)
    assert store.outbox(10) == ()


def test_a_failed_transaction_in_a_unit_undoes_only_itself(store: Store) -> None:
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_key(key(43), b"w", "{}", [])
        with pytest.raises(DuplicateError), store.transaction() as tx:
            tx.put_tags(key(43).key_id, [Tag("undone", "1")])
            tx.insert_alias(alias("a", key(43)))
            tx.insert_alias(alias("a", key(43)))
        with store.transaction() as tx:  # the unit goes on after the failed block, on what the others left
            assert tx.get_tags(key(43).key_id) == ()
            tx.put_tags(key(43).key_id, [Tag("kept", "1")])
        unit.journal("event-4", b"row-4")
    assert store.get_key(key(43).key_id) is not None
    assert store.get_tags(key(43).key_id) == (Tag("kept", "1"),)
    assert store.get_alias(ACCOUNT, REGION, alias("a", key(43)).name) is None
    assert store.outbox(10) == (("event-4", b"row-4"),)


def test_a_lost_compare_and_set_in_a_unit_leaves_no_trace_of_what_it_read(store: Store) -> None:
    """A block that read a key it then changed, and failed, must not leave that change visible to a later read,
    even one of the same revision with other contents (a remembered parse of a revision that never was)."""
    with store.transaction() as tx:
        tx.insert_key(key(44), b"w", "{}", [])
    with store.unit():
        with pytest.raises(ConflictError), store.transaction() as tx:
            tx.update_key(key(44).evolve(description="never"), 1)
            assert tx.get_key(key(44).key_id).description == "never"  # type: ignore[union-attr]
            tx.update_key(key(44).evolve(description="stale"), 1)  # the revision is 2 now: a conflict
        with store.transaction() as tx:
            tx.update_key(key(44).evolve(description="real"), 1)
            assert tx.get_key(key(44).key_id).description == "real"  # type: ignore[union-attr]
    assert store.get_key(key(44).key_id).description == "real"  # type: ignore[union-attr]


def test_a_unit_whose_only_change_was_undone_wrote_nothing(store: Store) -> None:
    """Nothing of the failed block is committed, so there is nothing for an audit record to describe."""
    with store.transaction() as tx:
        tx.insert_key(key(45), b"w", "{}", [])
    with store.unit() as unit:
        with pytest.raises(DuplicateError), store.transaction() as tx:
            tx.insert_alias(alias("b", key(45)))
            tx.insert_alias(alias("b", key(45)))
        assert not unit.wrote()
        with pytest.raises(RuntimeError):
            unit.journal("event-5", b"row-5")
    assert store.get_alias(ACCOUNT, REGION, alias("b", key(45)).name) is None
    assert store.outbox(10) == ()


def test_a_unit_that_only_reads_or_changes_nothing_wrote_nothing(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_account(Account(ACCOUNT, NOW))
    with store.unit() as unit:
        assert store.get_key(key(46).key_id) is None
        with store.transaction() as tx:
            assert tx.get_key(key(46).key_id) is None
            tx.put_account(Account(ACCOUNT, NOW))  # exists already: kept as it is
            tx.delete_key(key(46).key_id)  # no such key
            tx.put_policy(key(46).key_id, "{}")
        assert not unit.wrote()
        with pytest.raises(RuntimeError):
            unit.journal("event-6", b"row-6")  # never done: there is no change to record
    assert store.outbox(10) == ()


def test_units_do_not_nest(store: Store) -> None:
    with store.unit(), pytest.raises(RuntimeError), store.unit():
        pass
    with store.unit() as unit:  # the outer unit still works
        with store.transaction() as tx:
            tx.insert_key(key(47), b"w", "{}", [])
        unit.journal("event-7", b"row-7")
    assert store.outbox(10) == (("event-7", b"row-7"),)


def test_the_outbox_keeps_records_in_order_until_they_are_deleted(store: Store) -> None:
    for n in range(1, 5):
        with store.unit() as unit:
            with store.transaction() as tx:
                tx.insert_key(key(50 + n), b"w", "{}", [])
            unit.journal(f"event-{n}", b"row-%d" % n)
    assert [e for e, _ in store.outbox(10)] == ["event-1", "event-2", "event-3", "event-4"]
    assert store.outbox(2) == (("event-1", b"row-1"), ("event-2", b"row-2"))
    with store.transaction() as tx:
        tx.delete_outbox(["event-1", "event-3", "event-never"])
    assert store.outbox(10) == (("event-2", b"row-2"), ("event-4", b"row-4"))
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.delete_key(key(51).key_id)
        unit.journal("event-5", b"row-5")
    assert [e for e, _ in store.outbox(10)] == ["event-2", "event-4", "event-5"]  # a new record comes last
    with store.transaction() as tx:
        tx.delete_outbox([e for e, _ in store.outbox(10)])
    assert store.outbox(10) == ()


def test_a_failed_block_around_a_failed_block_undoes_both_and_the_unit_wrote_nothing(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_key(key(60), b"w", "{}", [])
    with store.unit() as unit:
        with pytest.raises(RuntimeError), store.transaction() as outer:
            outer.put_tags(key(60).key_id, [Tag("outer", "1")])
            with pytest.raises(RuntimeError), store.transaction() as inner:
                inner.put_tags(key(60).key_id, [Tag("inner", "1")])
                raise RuntimeError("inner")
            assert outer.get_tags(key(60).key_id) == (Tag("outer", "1"),)
            assert unit.wrote()
            raise RuntimeError("outer")
        assert not unit.wrote()
    assert store.get_tags(key(60).key_id) == ()
