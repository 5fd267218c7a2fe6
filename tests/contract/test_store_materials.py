"""The store port's contract for imported key material, on every adapter (tests/contract/conftest.py): keys with
no material yet, versions whose bytes are gone, forgotten versions, the expiry query, import parameters, and
the migrations that brought older databases to them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.contract.conftest import Opener
from tests.contract.migrations import postgres_at_version, postgres_insert_key, sqlite_at_version, sqlite_insert_key
from tests.contract.records import NOW, key
from trent.kms.keys import ImportParameters, Key, MaterialVersion
from trent.kms.specs import ExpirationModel, KeyState, Origin, WrappingAlgorithm, WrappingKeySpec
from trent.store.base import DuplicateError, Store
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore

EXPIRES = ExpirationModel.KEY_MATERIAL_EXPIRES


def _external(n: int, **changes: object) -> Key:
    return key(n, origin=Origin.EXTERNAL, state=KeyState.PENDING_IMPORT, **changes)


def _version(k: Key, version: int, **changes: object) -> MaterialVersion:
    return MaterialVersion(k.key_id, version, NOW + timedelta(seconds=version), None, **changes)


def _parameters(k: Key, n: int = 1) -> ImportParameters:
    return ImportParameters(
        k.key_id,
        bytes([n]) * 32,
        WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256,
        WrappingKeySpec.RSA_3072,
        b"wrapped-private-" + bytes([n]),
        NOW,
        NOW + timedelta(hours=24),
    )


def test_a_key_inserted_without_material_has_none(store: Store) -> None:
    k = _external(1, material_ids=("a" * 64, "b" * 64))
    with store.transaction() as tx:
        tx.insert_key(k, None, "{}", [])
    assert store.get_key(k.key_id) == k  # material_ids round-trip with the key
    assert store.list_materials(k.key_id) == () and store.get_material(k.key_id, 1) is None
    assert store.get_policy(k.key_id) == "{}"


def test_imported_material_is_put_replaced_and_its_bytes_can_go(store: Store) -> None:
    k = _external(2)
    first = _version(k, 1, description="mine", expiration_model=EXPIRES, valid_to=NOW + timedelta(days=3))
    with store.transaction() as tx:
        tx.insert_key(k, None, "{}", [])
        tx.put_material(first, b"wrapped-1")
    assert store.list_materials(k.key_id) == (first,) and store.get_material(k.key_id, 1) == b"wrapped-1"
    reimported = replace(first, expiration_model=ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE, valid_to=None)
    with store.transaction() as tx:
        tx.put_material(reimported, b"wrapped-1b")  # replaces the version's record and bytes
    assert store.list_materials(k.key_id) == (reimported,) and store.get_material(k.key_id, 1) == b"wrapped-1b"
    gone = replace(reimported, imported=False)
    with store.transaction() as tx:
        tx.put_material(gone, None)
    assert store.list_materials(k.key_id) == (gone,)  # the record stays, the bytes do not
    assert store.get_material(k.key_id, 1) is None
    with pytest.raises(ValueError), store.transaction() as tx:
        tx.put_material(reimported, None)  # imported, yet no bytes: refused
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.add_material(_version(k, 1), b"again")
    assert store.list_materials(k.key_id) == (gone,)


def test_a_version_can_be_forgotten(store: Store) -> None:
    k = _external(3)
    with store.transaction() as tx:
        tx.insert_key(k, None, "{}", [])
        tx.put_material(_version(k, 1), b"one")
        tx.put_material(_version(k, 2), b"two")
    with store.transaction() as tx:
        tx.delete_material(k.key_id, 2)
        tx.delete_material(k.key_id, 7)  # no such version: nothing happens
    assert store.list_materials(k.key_id) == (_version(k, 1),) and store.get_material(k.key_id, 2) is None
    with store.transaction() as tx:
        tx.put_material(_version(k, 2, description="other"), b"other")  # the version takes other material
    assert store.get_material(k.key_id, 2) == b"other"


def test_materials_due_for_expiry(store: Store) -> None:
    a, b = _external(4), _external(5)
    soon, later = NOW + timedelta(hours=1), NOW + timedelta(days=1)
    with store.transaction() as tx:
        tx.insert_key(a, None, "{}", [])
        tx.insert_key(b, None, "{}", [])
        tx.put_material(_version(a, 1, expiration_model=EXPIRES, valid_to=soon), b"a1")
        tx.put_material(_version(a, 2, expiration_model=EXPIRES, valid_to=later), b"a2")
        tx.put_material(_version(b, 1, expiration_model=EXPIRES, valid_to=soon, imported=False), None)  # gone
        tx.put_material(_version(b, 2), b"b2")  # never expires
        tx.insert_key(key(6), b"generated", "{}", [])
    assert store.materials_due_for_expiry(NOW) == ()
    assert store.materials_due_for_expiry(soon) == (_version(a, 1, expiration_model=EXPIRES, valid_to=soon),)
    due = store.materials_due_for_expiry(later + timedelta(days=400))
    assert [(m.key_id, m.version) for m in due] == [(a.key_id, 1), (a.key_id, 2)]


def test_import_parameters_are_one_per_key_and_go_with_it(store: Store) -> None:
    a, b = _external(7), _external(8)
    with store.transaction() as tx:
        tx.insert_key(a, None, "{}", [])
        tx.insert_key(b, None, "{}", [])
        tx.put_import_parameters(_parameters(a, 1))
        tx.put_import_parameters(_parameters(b, 1))
    assert store.get_import_parameters(a.key_id) == _parameters(a, 1)
    with store.transaction() as tx:
        tx.put_import_parameters(_parameters(a, 2))  # a new set replaces the old one
    assert store.get_import_parameters(a.key_id) == _parameters(a, 2)
    with store.transaction() as tx:
        tx.delete_import_parameters(a.key_id)
        tx.delete_import_parameters(a.key_id)
    assert store.get_import_parameters(a.key_id) is None
    with store.transaction() as tx:
        tx.put_material(_version(b, 1), b"b1")
        tx.delete_key(b.key_id)
    assert store.get_import_parameters(b.key_id) is None and store.list_materials(b.key_id) == ()


def test_import_parameters_are_listed_by_key_id(store: Store) -> None:
    a, b, c = _external(9), _external(3), _external(5)
    assert store.list_import_parameters() == ()
    with store.transaction() as tx:
        for k in (a, b, c):
            tx.insert_key(k, None, "{}", [])
        tx.put_import_parameters(_parameters(a, 1))
        tx.put_import_parameters(_parameters(b, 2))
    expected = sorted([_parameters(a, 1), _parameters(b, 2)], key=lambda p: p.key_id)
    assert store.list_import_parameters() == tuple(expected)  # c has no set: not listed


def test_a_transaction_that_raises_leaves_no_material_change(store: Store) -> None:
    k = _external(9)
    with store.transaction() as tx:
        tx.insert_key(k, None, "{}", [])
        tx.put_material(_version(k, 1), b"one")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_material(replace(_version(k, 1), imported=False), None)
        tx.put_import_parameters(_parameters(k))
        tx.delete_material(k.key_id, 1)
        raise RuntimeError("boom")
    assert store.list_materials(k.key_id) == (_version(k, 1),) and store.get_material(k.key_id, 1) == b"one"
    assert store.get_import_parameters(k.key_id) is None


def test_another_handle_sees_the_change_at_once(open_store: Opener) -> None:
    writer, reader = open_store(), open_store()
    k = _external(10)
    with writer.transaction() as tx:
        tx.insert_key(k, None, "{}", [])
        tx.put_material(_version(k, 1), b"one")
        tx.put_import_parameters(_parameters(k))
    assert reader.get_material(k.key_id, 1) == b"one" and reader.get_import_parameters(k.key_id) == _parameters(k)
    with writer.transaction() as tx:
        tx.put_material(replace(_version(k, 1), imported=False), None)
        tx.delete_import_parameters(k.key_id)
    assert reader.get_material(k.key_id, 1) is None and reader.get_import_parameters(k.key_id) is None


def test_sqlite_version_5_migrates_keeping_its_material(tmp_path: Path) -> None:
    path = tmp_path / "trent.db"
    sqlite_at_version(path, 5)
    k = key(11)
    with sqlite3.connect(path) as conn:  # a key and its material as version 5 wrote them
        sqlite_insert_key(conn, k)
        conn.execute(
            "INSERT INTO key_material (key_id, version, wrapped, created, rotation_type) VALUES (?, 1, ?, ?, NULL)",
            (k.key_id, b"old bytes", NOW.timestamp()),
        )
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.get_key(k.key_id) == k
        assert store.get_material(k.key_id, 1) == b"old bytes"
        assert store.list_materials(k.key_id) == (MaterialVersion(k.key_id, 1, NOW, None),)
        with store.transaction() as tx:  # and the new columns and table work on it
            tx.put_material(replace(_version(k, 1), imported=False), None)
            tx.put_import_parameters(_parameters(k))
        assert store.get_material(k.key_id, 1) is None and store.get_import_parameters(k.key_id) == _parameters(k)
    finally:
        store.close()


def test_postgresql_version_2_migrates_keeping_its_material(postgres_url: str) -> None:
    k = key(12)
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # a database as version 2 left it
        postgres_at_version(conn, 2)
        postgres_insert_key(conn, k)
        conn.execute(
            "INSERT INTO key_material (key_id, version, wrapped, created) VALUES (%s, 1, %s, %s)",
            (k.key_id, b"old bytes", NOW),
        )
    store = PostgresStore(postgres_url)
    try:
        assert store.get_key(k.key_id) == k
        assert store.list_materials(k.key_id) == (MaterialVersion(k.key_id, 1, NOW, None),)
        with store.transaction() as tx:
            tx.put_material(replace(_version(k, 1), imported=False), None)
            tx.put_import_parameters(_parameters(k))
        assert store.get_material(k.key_id, 1) is None and store.get_import_parameters(k.key_id) == _parameters(k)
    finally:
        store.close()
