"""The store port's contract for multi-Region keys: related keys share one key id, each stored by its regional
id (Key.store_id) with its own material, policy, tags, aliases and grants; related_keys finds them all; the
primary region rides on every one of them (docs/multi-region.md). On every adapter (tests/contract/conftest.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from tests.contract.conftest import Opener
from tests.contract.records import NOW, OTHER_REGION, REGION, alias, grant, key
from trent.kms.ids import KeyId, Region
from trent.kms.keys import Key, MaterialVersion, Tag
from trent.kms.specs import KeyState
from trent.store.base import Store
from trent.store.postgres import PostgresStore
from trent.store.prefetch import ReadNeeds

MRK = KeyId("mrk-" + "ab" * 16)
THIRD_REGION = Region("ap-south-1")


def _related(region: Region, primary: Region = REGION) -> Key:
    return replace(key(1), key_id=MRK, region=region, multi_region=True, primary_region=primary)


def test_related_keys_share_a_key_id_and_keep_their_own_records(store: Store) -> None:
    primary, replica = _related(REGION), _related(OTHER_REGION)
    assert primary.store_id != replica.store_id and primary.key_id == replica.key_id == MRK
    with store.transaction() as tx:
        tx.insert_key(primary, b"wrapped-here", '{"p": 1}', [Tag("where", "primary")])
        tx.insert_key(replica, b"wrapped-there", '{"p": 2}', [Tag("where", "replica")])
        tx.add_material(MaterialVersion(replica.store_id, 2, NOW, "ON_DEMAND"), b"wrapped-there-2")
        tx.insert_alias(alias("here", primary))
        tx.insert_grant(grant("g" * 64, replica))
    assert store.get_key(primary.store_id) == primary and store.get_key(replica.store_id) == replica
    assert store.get_key(MRK) is None  # only regional ids name a multi-Region key
    assert store.get_keys([primary.store_id, replica.store_id]) == {
        primary.store_id: primary,
        replica.store_id: replica,
    }
    assert store.get_material(primary.store_id, 1) == b"wrapped-here"
    assert store.get_material(replica.store_id, 1) == b"wrapped-there"
    assert [m.version for m in store.list_materials(primary.store_id)] == [1]
    assert [m.version for m in store.list_materials(replica.store_id)] == [1, 2]
    assert store.get_policy(replica.store_id) == '{"p": 2}'
    assert store.get_tags(primary.store_id) == (Tag("where", "primary"),)
    assert [g.grant_id for g in store.list_grants(replica.store_id)] == ["g" * 64]
    assert store.list_grants(primary.store_id) == ()
    here = store.get_alias(primary.account, REGION, alias("here", primary).name)
    assert here is not None and here.target_key_id == primary.store_id
    assert store.list_keys(primary.account, OTHER_REGION, None, 10).items == (replica,)
    assert store.count_keys(primary.account) == 2


def test_related_keys_finds_every_region_and_nothing_else(store: Store) -> None:
    related = [_related(r) for r in (REGION, OTHER_REGION, THIRD_REGION)]
    other = replace(related[0], key_id=KeyId("mrk-" + "ab" * 15 + "ac"))
    with store.transaction() as tx:
        for record in [*related, other, key(2)]:
            tx.insert_key(record, b"w", "{}", [])
    assert store.related_keys(MRK) == tuple(sorted(related, key=lambda k: k.store_id))
    assert store.related_keys(other.key_id) == (other,)
    assert store.related_keys(KeyId("mrk-" + "cd" * 16)) == ()


def test_the_primary_region_changes_on_each_related_key(store: Store) -> None:
    primary, replica = _related(REGION), _related(OTHER_REGION)
    with store.transaction() as tx:
        tx.insert_key(primary, b"w", "{}", [])
        tx.insert_key(replica, b"w", "{}", [])
    with store.transaction() as tx:
        tx.update_key(primary.evolve(primary_region=OTHER_REGION), primary.revision)
        tx.update_key(replica.evolve(primary_region=OTHER_REGION), replica.revision)
    assert {k.region: k.primary_region for k in store.related_keys(MRK)} == {
        REGION: OTHER_REGION,
        OTHER_REGION: OTHER_REGION,
    }
    assert store.get_key(replica.store_id).is_replica is False  # type: ignore[union-attr]
    assert store.get_key(primary.store_id).is_replica is True  # type: ignore[union-attr]


def test_deleting_one_related_key_leaves_the_others(store: Store) -> None:
    primary, replica = _related(REGION), _related(OTHER_REGION)
    pending = replica.evolve(state=KeyState.PENDING_DELETION, deletion_date=NOW, pending_window_days=7)
    with store.transaction() as tx:
        tx.insert_key(primary, b"here", "{}", [])
        tx.insert_key(pending, b"there", "{}", [Tag("t", "v")])
    assert store.keys_due_for_deletion(NOW + timedelta(seconds=1)) == (pending,)
    with store.transaction() as tx:
        tx.delete_key(pending.store_id)
    assert store.related_keys(MRK) == (primary,)
    assert store.get_material(primary.store_id, 1) == b"here"
    assert store.get_material(pending.store_id, 1) is None and store.get_tags(pending.store_id) == ()


def test_a_reopened_store_still_knows_the_related_keys(open_store: Opener) -> None:
    primary, replica = _related(REGION), _related(OTHER_REGION)
    with open_store().transaction() as tx:
        tx.insert_key(primary, b"w", "{}", [])
        tx.insert_key(replica, b"w", "{}", [])
    assert open_store().related_keys(MRK) == (replica, primary)


def test_a_batch_reads_related_keys_by_their_regional_ids(postgres_url: str) -> None:
    """PostgreSQL's batched reads (store/prefetch.py) answer by the ids the batch asked for: the regional ones."""
    store = PostgresStore(postgres_url)
    try:
        primary, replica = _related(REGION), _related(OTHER_REGION)
        with store.transaction() as tx:
            tx.insert_key(primary, b"w", "{}", [])
            tx.insert_key(replica, b"w", "{}", [])
            tx.insert_alias(alias("there", replica, region=OTHER_REGION))
        wanted = ReadNeeds(
            key_ids={primary.store_id, MRK}, alias_refs={(replica.account, OTHER_REGION, alias("there", replica).name)}
        )
        snap = asyncio.run(store.read(wanted))
        assert snap.keys == {primary.store_id: primary, MRK: None, replica.store_id: replica}
    finally:
        store.close()
