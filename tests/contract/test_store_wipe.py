"""The store port's contract for wipe(): a dev server's reset (docs/dev-mode.md) empties the store of every
principal and key, seen by every handle at once, and keeps what is not state (blobs, the audit outbox)."""

from __future__ import annotations

from tests.contract.conftest import Opener
from tests.contract.records import ACCOUNT, NOW, OTHER_REGION, alias, grant, key
from trent.kms.ids import Region
from trent.kms.keys import AccessKey, Account, Tag, User
from trent.store.base import Store


def _fill(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_account(Account(ACCOUNT, NOW))
        tx.insert_user(User(f"arn:aws:iam::{ACCOUNT}:user/u", ACCOUNT, "u", NOW))
        tx.put_access_key(AccessKey("AKIAEXAMPLE000000001", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", b"w", NOW))
        for n, k in enumerate((key(1), key(2, region=OTHER_REGION))):
            tx.insert_key(k, b"material-%d" % n, "{}", [Tag("t", "v")])
        tx.insert_alias(alias("a", key(1)))
        tx.insert_grant(grant("g" * 64, key(1)))


def test_wipe_leaves_the_store_empty_for_every_handle(open_store: Opener) -> None:
    store, other = open_store(), open_store()
    _fill(store)
    assert other.get_key(key(1).key_id) is not None  # the other handle has read (and may remember) it
    with store.transaction() as tx:
        tx.wipe()
    for handle in (store, other):
        assert handle.is_empty()
        assert handle.get_key(key(1).key_id) is None and handle.get_key(key(2).key_id) is None
        assert handle.get_material(key(1).key_id, 1) is None
        assert handle.get_alias(ACCOUNT, key(1).region, alias("a", key(1)).name) is None
        assert handle.list_grants(key(1).key_id) == ()
        assert handle.get_access_key("AKIAEXAMPLE000000001") is None
        assert handle.list_accounts() == () and handle.list_users(None) == ()
        assert handle.list_keys(ACCOUNT, Region("us-east-1"), None, 10).items == ()


def test_after_a_wipe_the_same_ids_can_be_stored_again(store: Store) -> None:
    _fill(store)
    with store.transaction() as tx:
        tx.wipe()
    _fill(store)
    assert store.get_key(key(1).key_id) == key(1)
    assert store.get_tags(key(1).key_id) == (Tag("t", "v"),)


def test_wipe_keeps_blobs_and_the_outbox(store: Store) -> None:
    store.update_blob("anchor", lambda _old: b"kept")
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.put_account(Account(ACCOUNT, NOW))
        unit.journal("event-1", b"row")
    with store.transaction() as tx:
        tx.wipe()
    assert store.get_blob("anchor") == b"kept"
    assert store.outbox(10) == (("event-1", b"row"),)


def test_a_wipe_that_raises_is_rolled_back(store: Store) -> None:
    _fill(store)
    try:
        with store.transaction() as tx:
            tx.wipe()
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    assert store.get_key(key(1).key_id) == key(1)
