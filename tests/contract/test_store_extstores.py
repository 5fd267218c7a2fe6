"""The store port's contract for external key stores, on every adapter (tests/contract/conftest.py): an
EXTERNAL_KEY_STORE's XksConfig round-trips in the custom key store's JSON config (no schema change), keys carry
their XksKeyId (SQLite version 10, PostgreSQL version 7), and the migrations keep older keys as they were."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg

from tests.contract.migrations import postgres_at_version, postgres_insert_key, sqlite_at_version, sqlite_insert_key
from tests.contract.records import ACCOUNT, NOW, REGION, key
from trent.kms.keystores import ConnectionErrorCode, ConnectionState, CustomKeyStore, CustomKeyStoreType, XksConfig
from trent.kms.specs import Origin
from trent.store.base import Store
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore


def _external(n: int) -> CustomKeyStore:
    config = XksConfig("https://proxy.example:8443", f"/ks/{n}/kms/xks/v1", "A" * 20, b"\x00wrapped secret")
    return CustomKeyStore(
        f"cks-{n:017x}", ACCOUNT, REGION, f"external {n}", CustomKeyStoreType.EXTERNAL_KEY_STORE,
        NOW + timedelta(seconds=n), config,
    )  # fmt: skip


def test_an_external_key_store_round_trips_with_its_proxy_config(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_custom_key_store(_external(1))
    assert store.get_custom_key_store(_external(1).custom_key_store_id) == _external(1)
    failed = _external(1).evolve(
        connection_state=ConnectionState.FAILED, connection_error_code=ConnectionErrorCode.XKS_PROXY_ACCESS_DENIED
    )
    with store.transaction() as tx:
        tx.update_custom_key_store(failed, 1)
    assert store.get_custom_key_store(_external(1).custom_key_store_id) == failed
    assert store.list_custom_key_stores(ACCOUNT, REGION) == (failed,)


def test_keys_carry_their_external_key(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_custom_key_store(_external(1))
        inside = key(1, origin=Origin.EXTERNAL_KEY_STORE, custom_key_store_id=_external(1).custom_key_store_id,
                     xks_key_id="external-key-1")  # fmt: skip
        tx.insert_key(inside, b"wrapped", "{}", [])
        tx.insert_key(key(2), b"wrapped", "{}", [])
    assert store.get_key(key(1).key_id) == inside
    assert store.get_key(key(2).key_id).xks_key_id is None  # type: ignore[union-attr]
    with store.transaction() as tx:
        tx.update_key(inside.evolve(description="changed"), inside.revision)
    assert store.get_key(key(1).key_id).xks_key_id == "external-key-1"  # type: ignore[union-attr]


def test_sqlite_version_9_migrates_to_xks_key_ids(tmp_path: Path) -> None:
    path = tmp_path / "trent.db"
    sqlite_at_version(path, 9)
    k = key(11)
    with sqlite3.connect(path) as conn:
        sqlite_insert_key(conn, k)
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.get_key(k.key_id) == k
    finally:
        store.close()


def test_postgresql_version_6_migrates_to_xks_key_ids(postgres_url: str) -> None:
    k = key(12)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        postgres_at_version(conn, 6)
        postgres_insert_key(conn, k)
    store = PostgresStore(postgres_url)
    try:
        assert store.get_key(k.key_id) == k
    finally:
        store.close()
