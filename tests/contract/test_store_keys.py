"""The store port's contract for keys: records, compare-and-set, material versions, policies, tags, the
many-key read and the jobs' queries, on every adapter (tests/contract/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.conftest import Opener
from tests.contract.records import ACCOUNT, NOW, OTHER_ACCOUNT, OTHER_REGION, REGION, alias, grant, key
from trent.kms.ids import KeyId
from trent.kms.keys import MaterialVersion, Tag
from trent.kms.specs import ExpirationModel, KeySpec, KeyState, KeyUsage, Origin
from trent.store.base import ConflictError, Store


def test_key_round_trip_and_compare_and_set(store: Store) -> None:
    first = key(1, description="d", deletion_date=NOW + timedelta(days=7), pending_window_days=7)
    with store.transaction() as tx:
        tx.insert_key(first, b"wrapped-1", "{}", [Tag("a", "1")])
    assert store.get_key(first.key_id) == first
    assert store.get_material(first.key_id, 1) == b"wrapped-1" and store.get_material(first.key_id, 2) is None
    assert store.get_policy(first.key_id) == "{}"
    assert store.get_tags(first.key_id) == (Tag("a", "1"),)
    changed = first.evolve(state=KeyState.DISABLED)
    with store.transaction() as tx:
        tx.update_key(changed, first.revision)
    assert store.get_key(first.key_id) == changed
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.update_key(changed.evolve(description="stale"), first.revision)  # lost the race
    assert store.get_key(first.key_id) == changed


def test_every_field_of_a_key_round_trips(store: Store) -> None:
    full = key(
        2,
        spec=KeySpec.ECC_NIST_P256,
        usage=KeyUsage.SIGN_VERIFY,
        origin=Origin.EXTERNAL,
        state=KeyState.PENDING_IMPORT,
        description="every field",
        current_version=3,
        policy_revision=5,
        multi_region=True,
        valid_to=NOW + timedelta(days=30),
        expiration_model=ExpirationModel.KEY_MATERIAL_EXPIRES,
        rotation_period_days=90,
        next_rotation_date=NOW + timedelta(days=90),
        on_demand_rotation_start=NOW + timedelta(seconds=1),
    )
    with store.transaction() as tx:
        tx.insert_key(full, b"w", "{}", [])
    assert store.get_key(full.key_id) == full
    assert store.list_materials(full.key_id) == (MaterialVersion(full.key_id, 3, NOW, None),)


def test_updating_a_key_that_does_not_exist_is_a_conflict(store: Store) -> None:
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.update_key(key(3).evolve(description="x"), 1)
    assert store.get_key(key(3).key_id) is None


def test_a_transaction_that_raises_leaves_nothing(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_key(key(4), b"w", "{}", [])
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_key(key(5), b"w", "{}", [])
        tx.update_key(key(4).evolve(description="never"), 1)
        tx.put_tags(key(4).key_id, [Tag("never", "1")])
        assert tx.get_key(key(5).key_id) == key(5)  # a transaction reads its own writes
        raise RuntimeError("boom")
    assert store.get_key(key(5).key_id) is None
    assert store.get_key(key(4).key_id) == key(4) and store.get_tags(key(4).key_id) == ()


def test_list_keys_is_scoped_and_paged(store: Store) -> None:
    with store.transaction() as tx:
        for n in range(5):
            tx.insert_key(key(n), b"w", "{}", [])
        tx.insert_key(key(8, region=OTHER_REGION), b"w", "{}", [])
        tx.insert_key(key(9, account=OTHER_ACCOUNT), b"w", "{}", [])
    first = store.list_keys(ACCOUNT, REGION, None, 3)
    assert [k.key_id[-1] for k in first.items] == ["0", "1", "2"] and first.next_marker is not None
    rest = store.list_keys(ACCOUNT, REGION, first.next_marker, 3)
    assert [k.key_id[-1] for k in rest.items] == ["3", "4"] and rest.next_marker is None
    exact = store.list_keys(ACCOUNT, REGION, None, 5)
    assert len(exact.items) == 5 and exact.next_marker is None  # a full last page says there is no more
    assert [k.key_id[-1] for k in store.list_keys(OTHER_ACCOUNT, REGION, None, 10).items] == ["9"]
    assert store.count_keys(ACCOUNT) == 6 and store.count_keys(OTHER_ACCOUNT) == 1


def test_material_versions(store: Store) -> None:
    k = key(10)
    later = NOW + timedelta(days=365)
    with store.transaction() as tx:
        tx.insert_key(k, b"v1", "{}", [])
        tx.add_material(MaterialVersion(k.key_id, 2, later, "AUTOMATIC"), b"v2")
    with store.transaction() as tx:
        tx.add_material(MaterialVersion(k.key_id, 3, later, "ON_DEMAND"), b"v3")
    assert store.list_materials(k.key_id) == (
        MaterialVersion(k.key_id, 1, NOW, None),
        MaterialVersion(k.key_id, 2, later, "AUTOMATIC"),
        MaterialVersion(k.key_id, 3, later, "ON_DEMAND"),
    )
    assert [store.get_material(k.key_id, v) for v in (1, 2, 3, 4)] == [b"v1", b"v2", b"v3", None]
    assert store.list_materials(key(11).key_id) == ()


def test_policies_are_replaced(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_key(key(12), b"w", '{"v": 1}', [])
    with store.transaction() as tx:
        tx.put_policy(key(12).key_id, '{"v": 2}')
        assert tx.get_policy(key(12).key_id) == '{"v": 2}'
        tx.put_policy(key(13).key_id, '{"v": 3}')  # no such key: nothing to replace
    assert store.get_policy(key(12).key_id) == '{"v": 2}'
    assert store.get_policy(key(13).key_id) is None


def test_tags_are_upserted_sorted_and_deleted(store: Store) -> None:
    k = key(14)
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [Tag("b", "1"), Tag("a", "1")])
    with store.transaction() as tx:
        tx.put_tags(k.key_id, [Tag("b", "2"), Tag("c", "1")])
    assert store.get_tags(k.key_id) == (Tag("a", "1"), Tag("b", "2"), Tag("c", "1"))
    with store.transaction() as tx:
        tx.delete_tags(k.key_id, ["a", "c", "never-there"])
    assert store.get_tags(k.key_id) == (Tag("b", "2"),)


def test_delete_key_takes_everything_of_it_and_nothing_else(store: Store) -> None:
    k, kept = key(15), key(16)
    with store.transaction() as tx:
        for record in (k, kept):
            tx.insert_key(record, b"w", "{}", [Tag("t", "v")])
            tx.add_material(MaterialVersion(record.key_id, 2, NOW, "ON_DEMAND"), b"w2")
            tx.insert_alias(alias(f"a{record.key_id[-2:]}", record))
            tx.insert_grant(grant(f"g{record.key_id[-2:]}", record, retiring="arn:aws:iam::111122223333:root"))
    with store.transaction() as tx:
        tx.delete_key(k.key_id)
        tx.delete_key(key(17).key_id)  # no such key: nothing happens
    assert store.get_key(k.key_id) is None and store.get_keys([k.key_id]) == {}
    assert store.get_material(k.key_id, 1) is None and store.list_materials(k.key_id) == ()
    assert store.get_policy(k.key_id) is None and store.get_tags(k.key_id) == ()
    assert store.list_aliases(ACCOUNT, REGION, k.key_id, None, 10).items == ()
    assert store.list_grants(k.key_id) == () and store.get_grant("g15") is None
    assert store.get_key(kept.key_id) == kept and len(store.list_materials(kept.key_id)) == 2
    assert store.get_tags(kept.key_id) == (Tag("t", "v"),) and store.get_grant("g16") is not None
    assert [a.name for a in store.list_aliases(ACCOUNT, REGION, None, None, 10).items] == ["alias/a16"]
    assert store.count_keys(ACCOUNT) == 1


def test_get_keys_answers_those_that_exist(store: Store) -> None:
    present = [key(n) for n in range(20, 25)]
    with store.transaction() as tx:
        for k in present:
            tx.insert_key(k, b"w", "{}", [])
    assert store.get_keys([]) == {}
    asked = [present[0].key_id, key(99).key_id, present[3].key_id, present[0].key_id]
    assert dict(store.get_keys(asked)) == {present[0].key_id: present[0], present[3].key_id: present[3]}
    assert dict(store.get_keys([k.key_id for k in present])) == {k.key_id: k for k in present}


def test_get_keys_reads_many_hundreds_at_once(store: Store) -> None:
    """More ids than one statement takes (adapters read them in chunks): each exists or is missing as it is."""
    stored = [key(n) for n in range(1000, 1700, 2)]
    with store.transaction() as tx:
        for k in stored:
            tx.insert_key(k, b"w", "{}", [])
    asked = [key(n).key_id for n in range(1000, 1700)]
    assert dict(store.get_keys(asked)) == {k.key_id: k for k in stored}


def test_get_keys_is_fresh_and_sees_its_own_transaction(open_store: Opener) -> None:
    store, peer = open_store(), open_store()  # peer: what another process (or node) of the same store sees
    k = key(30)
    assert peer.get_keys([k.key_id]) == {} and peer.get_key(k.key_id) is None  # absences are not kept
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        disabled = k.evolve(state=KeyState.DISABLED)
        tx.update_key(disabled, k.revision)
        assert tx.get_keys([k.key_id]) == {k.key_id: disabled}
    assert peer.get_keys([k.key_id]) == {k.key_id: disabled}
    with store.transaction() as tx:
        tx.update_key(disabled.evolve(state=KeyState.ENABLED), disabled.revision)
    assert peer.get_keys([k.key_id, key(31).key_id])[k.key_id].state is KeyState.ENABLED
    assert peer.get_key(k.key_id) == store.get_keys([k.key_id])[k.key_id]
    with store.transaction() as tx:
        tx.delete_key(k.key_id)
    assert peer.get_keys([k.key_id]) == {}


def test_keys_due_for_deletion(store: Store) -> None:
    due = key(40, state=KeyState.PENDING_DELETION, deletion_date=NOW - timedelta(seconds=1))
    exactly = key(41, state=KeyState.PENDING_DELETION, deletion_date=NOW)
    later = key(42, state=KeyState.PENDING_DELETION, deletion_date=NOW + timedelta(days=1))
    cancelled = key(43, state=KeyState.DISABLED, deletion_date=NOW - timedelta(days=1))  # state decides
    with store.transaction() as tx:
        for k in (due, exactly, later, cancelled, key(44)):
            tx.insert_key(k, b"w", "{}", [])
    assert {k.key_id: k for k in store.keys_due_for_deletion(NOW)} == {due.key_id: due, exactly.key_id: exactly}
    assert store.keys_due_for_deletion(NOW - timedelta(days=1)) == ()


def test_keys_due_for_rotation(store: Store) -> None:
    due = key(50, rotation_period_days=365, next_rotation_date=NOW - timedelta(days=1))
    exactly = key(51, rotation_period_days=365, next_rotation_date=NOW)
    later = key(52, rotation_period_days=365, next_rotation_date=NOW + timedelta(seconds=1))
    with store.transaction() as tx:
        for k in (due, exactly, later, key(53)):
            tx.insert_key(k, b"w", "{}", [])
    assert {k.key_id: k for k in store.keys_due_for_rotation(NOW)} == {due.key_id: due, exactly.key_id: exactly}
    with store.transaction() as tx:  # the job moves the date on: the key is no longer due
        tx.update_key(due.evolve(next_rotation_date=NOW + timedelta(days=364)), due.revision)
    assert [k.key_id for k in store.keys_due_for_rotation(NOW)] == [exactly.key_id]


def test_keys_of_ids_that_are_not_uuids_are_only_missing(store: Store) -> None:
    assert store.get_keys([KeyId(""), KeyId("alias/x"), KeyId("'; DROP TABLE keys; --")]) == {}
