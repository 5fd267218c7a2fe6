"""The store port's contract for custom key stores and their HSM clusters, on every adapter
(tests/contract/conftest.py), and the migrations that add them to older databases."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.contract.conftest import Opener
from tests.contract.migrations import postgres_at_version, postgres_insert_key, sqlite_at_version, sqlite_insert_key
from tests.contract.records import ACCOUNT, NOW, REGION, key
from trent.kms.ids import AccountId, Region
from trent.kms.keystores import (
    CloudHsmConfig,
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
    HsmCluster,
)
from trent.store.base import ConflictError, DuplicateError, Store
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _cluster(n: int) -> HsmCluster:
    return HsmCluster(f"cluster-abcdefghij{n}", "/usr/lib/softhsm/libsofthsm2.so", f"token-{n}", CERT, NOW)


def _store(n: int, name: str | None = None, account: AccountId = ACCOUNT, region: Region = REGION) -> CustomKeyStore:
    config = CloudHsmConfig(f"cluster-abcdefghij{n}", CERT, b"\x00wrapped password" + bytes([n]))
    return CustomKeyStore(
        f"cks-{n:017x}",
        account,
        region,
        name or f"store {n}",
        CustomKeyStoreType.AWS_CLOUDHSM,
        NOW + timedelta(seconds=n),
        config,
    )


def test_clusters_are_registered_listed_and_removed(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_hsm_cluster(_cluster(2))
        tx.insert_hsm_cluster(_cluster(1))
    assert store.get_hsm_cluster(_cluster(1).cluster_id) == _cluster(1)
    assert store.list_hsm_clusters() == (_cluster(1), _cluster(2))
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_hsm_cluster(_cluster(1))
    with store.transaction() as tx:
        tx.delete_hsm_cluster(_cluster(1).cluster_id)
    assert store.get_hsm_cluster(_cluster(1).cluster_id) is None
    assert store.list_hsm_clusters() == (_cluster(2),)


def test_a_custom_key_store_round_trips_with_its_config(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_custom_key_store(_store(1))
    assert store.get_custom_key_store(_store(1).custom_key_store_id) == _store(1)
    assert store.get_custom_key_store("cks-00000000000000099") is None


def test_names_are_unique_per_account_and_region(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_custom_key_store(_store(1, "same"))
        tx.insert_custom_key_store(_store(2, "same", region=Region("eu-west-1")))
        tx.insert_custom_key_store(_store(3, "same", account=AccountId("444455556666")))
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_custom_key_store(_store(4, "same"))
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_custom_key_store(_store(1, "another"))  # its id
    assert store.list_custom_key_stores(ACCOUNT, REGION) == (_store(1, "same"),)
    assert len(store.list_custom_key_stores(None, None)) == 3


def test_updates_compare_and_set_and_keep_names_unique(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_custom_key_store(_store(1))
        tx.insert_custom_key_store(_store(2))
    one = _store(1)
    failed = one.evolve(
        connection_state=ConnectionState.FAILED, connection_error_code=ConnectionErrorCode.INVALID_CREDENTIALS
    )
    with store.transaction() as tx:
        tx.update_custom_key_store(failed, one.revision)
    assert store.get_custom_key_store(one.custom_key_store_id) == failed
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.update_custom_key_store(one.evolve(name="late"), one.revision)
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.update_custom_key_store(failed.evolve(name=_store(2).name), failed.revision)
    with store.transaction() as tx:  # the transaction is still usable after a refused rename
        tx.update_custom_key_store(failed.evolve(name="renamed"), failed.revision)
    assert store.get_custom_key_store(one.custom_key_store_id).name == "renamed"  # type: ignore[union-attr]
    with store.transaction() as tx:
        tx.delete_custom_key_store(one.custom_key_store_id)
    assert store.get_custom_key_store(one.custom_key_store_id) is None


def test_keys_carry_their_store_and_are_counted(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_custom_key_store(_store(1))
        tx.insert_key(key(1, custom_key_store_id=_store(1).custom_key_store_id), None, "{}", [])
        tx.insert_key(key(2), b"wrapped", "{}", [])
    assert store.get_key(key(1).key_id).custom_key_store_id == _store(1).custom_key_store_id  # type: ignore[union-attr]
    assert store.get_key(key(2).key_id).custom_key_store_id is None  # type: ignore[union-attr]
    assert store.count_keys_in_custom_key_store(_store(1).custom_key_store_id) == 1
    assert store.count_keys_in_custom_key_store(_store(2).custom_key_store_id) == 0


def test_a_connection_state_change_is_seen_by_another_handle(open_store: Opener) -> None:
    first, second = open_store(), open_store()
    with first.transaction() as tx:
        tx.insert_custom_key_store(_store(1))
    assert second.get_custom_key_store(_store(1).custom_key_store_id) == _store(1)  # now memoized, where it is
    connected = _store(1).evolve(connection_state=ConnectionState.CONNECTED)
    with first.transaction() as tx:
        tx.update_custom_key_store(connected, 1)
    assert second.get_custom_key_store(_store(1).custom_key_store_id) == connected


def test_sqlite_version_7_migrates_to_custom_key_stores(tmp_path: Path) -> None:
    path = tmp_path / "trent.db"
    sqlite_at_version(path, 7)
    k = key(11)
    with sqlite3.connect(path) as conn:
        sqlite_insert_key(conn, k)
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.get_key(k.key_id) == k
        with store.transaction() as tx:
            tx.insert_custom_key_store(_store(1))
        assert store.count_keys_in_custom_key_store(_store(1).custom_key_store_id) == 0
    finally:
        store.close()


def test_postgresql_version_4_migrates_to_custom_key_stores(postgres_url: str) -> None:
    k = key(12)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        postgres_at_version(conn, 4)
        postgres_insert_key(conn, k)
    store = PostgresStore(postgres_url)
    try:
        assert store.get_key(k.key_id) == k
        with store.transaction() as tx:
            tx.insert_hsm_cluster(_cluster(1))
            tx.insert_custom_key_store(_store(1))
        assert store.get_custom_key_store(_store(1).custom_key_store_id) == _store(1)
    finally:
        store.close()


def test_a_wipe_forgets_custom_key_stores_and_keeps_the_clusters(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_hsm_cluster(_cluster(1))
        tx.insert_custom_key_store(_store(1))
        tx.insert_key(key(1, custom_key_store_id=_store(1).custom_key_store_id), None, "{}", [])
    with store.transaction() as tx:
        tx.wipe()
    assert store.get_custom_key_store(_store(1).custom_key_store_id) is None
    assert store.list_custom_key_stores(None, None) == ()
    assert store.list_hsm_clusters() == (_cluster(1),)
    with store.transaction() as tx:  # the name is free again
        tx.insert_custom_key_store(_store(1))
