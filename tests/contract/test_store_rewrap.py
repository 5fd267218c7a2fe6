"""The store port's contract for re-wrapping (a root-key rotation): every material version paged in order, and
compare-and-set replacement of wrapped material and wrapped secrets, on every adapter."""

from __future__ import annotations

from tests.contract.conftest import Opener
from tests.contract.records import ACCOUNT, NOW, key
from trent.kms.keys import AccessKey, MaterialVersion
from trent.kms.principals import root_arn
from trent.store.base import Store


def _keys_with_versions(store: Store) -> None:
    with store.transaction() as tx:
        for n in (3, 1, 2):
            tx.insert_key(key(n), f"w{n}.1".encode(), "{}", [])
        tx.add_material(MaterialVersion(key(1).key_id, 2, NOW, "ON_DEMAND"), b"w1.2")
        tx.add_material(MaterialVersion(key(1).key_id, 10, NOW, "ON_DEMAND"), b"w1.10")


def test_wrapped_materials_are_paged_in_key_and_version_order(store: Store) -> None:
    _keys_with_versions(store)
    one, two, three = key(1).key_id, key(2).key_id, key(3).key_id
    everything = [(one, 1, b"w1.1"), (one, 2, b"w1.2"), (one, 10, b"w1.10"), (two, 1, b"w2.1"), (three, 1, b"w3.1")]

    pages, after = [], None
    while page := store.list_wrapped_materials(after, 2):
        pages.append(page)
        after = page[-1][:2]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [row for page in pages for row in page] == everything
    assert store.list_wrapped_materials((one, 2), 10) == tuple(everything[2:])  # 10 sorts after 2, as a number
    assert store.list_wrapped_materials((three, 1), 10) == ()


def test_rewrap_material_is_compare_and_set(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    _keys_with_versions(store)
    one = key(1).key_id
    with store.transaction() as tx:
        assert tx.rewrap_material(one, 2, b"w1.2", b"new1.2")
        assert not tx.rewrap_material(one, 1, b"stale", b"lost")  # changed since it was read
        assert not tx.rewrap_material(one, 7, b"w1.2", b"none")  # no such version
    assert peer.get_material(one, 2) == b"new1.2"
    assert peer.get_material(one, 1) == b"w1.1"
    assert peer.get_material(one, 7) is None
    assert peer.list_materials(one) == (
        MaterialVersion(one, 1, NOW, None),
        MaterialVersion(one, 2, NOW, "ON_DEMAND"),
        MaterialVersion(one, 10, NOW, "ON_DEMAND"),
    )


def test_a_rewrap_rolled_back_leaves_the_old_bytes(store: Store) -> None:
    _keys_with_versions(store)
    try:
        with store.transaction() as tx:
            assert tx.rewrap_material(key(2).key_id, 1, b"w2.1", b"new")
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert store.get_material(key(2).key_id, 1) == b"w2.1"


def test_rewrap_secret_is_compare_and_set(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    record = AccessKey("AKIAREWRAP0000000001", ACCOUNT, root_arn(ACCOUNT), b"old-secret", NOW)
    with store.transaction() as tx:
        tx.put_access_key(record)
    assert peer.get_access_key(record.access_key_id) == record  # read (and cached, where an adapter caches)
    with store.transaction() as tx:
        assert not tx.rewrap_secret(record.access_key_id, b"stale", b"lost")
        assert tx.rewrap_secret(record.access_key_id, b"old-secret", b"new-secret")
        assert not tx.rewrap_secret("AKIANOSUCHKEY0000000", b"old-secret", b"x")
    again = peer.get_access_key(record.access_key_id)
    assert again is not None and again.wrapped_secret == b"new-secret"
    assert again.active and again.principal_arn == record.principal_arn and again.created == record.created
    assert [a.wrapped_secret for a in peer.list_access_keys(None)] == [b"new-secret"]
