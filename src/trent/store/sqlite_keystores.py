"""The SQLite store's custom key stores and HSM clusters (trent/store/sqlite_schema.py has the schema: version 8)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from trent.kms.ids import AccountId, Region
from trent.kms.keystores import CustomKeyStore, HsmCluster
from trent.store import keystore_rows as rows
from trent.store.base import ConflictError, DuplicateError

# Version 8 of the SQLite store schema: custom key stores (docs/decisions/0014-custom-key-stores.md).
SCHEMA_V8 = """
    CREATE TABLE hsm_clusters (
        cluster_id TEXT PRIMARY KEY,
        module TEXT NOT NULL,
        token_label TEXT NOT NULL,
        trust_anchor TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE custom_key_stores (
        custom_key_store_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        store_type TEXT NOT NULL,
        creation_date REAL NOT NULL,
        connection_state TEXT NOT NULL,
        connection_error_code TEXT,
        config TEXT NOT NULL,
        revision INTEGER NOT NULL,
        UNIQUE (account, region, name)
    );
    ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT;
    CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id) WHERE custom_key_store_id IS NOT NULL;
"""


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class SqliteKeyStores:
    _c: sqlite3.Connection

    def get_hsm_cluster(self, cluster_id: str) -> HsmCluster | None:
        row = self._c.execute(
            f"SELECT {rows.CLUSTER_COLUMNS} FROM hsm_clusters WHERE cluster_id = ?", (cluster_id,)
        ).fetchone()
        return None if row is None else rows.cluster_of(row, _dt)

    def list_hsm_clusters(self) -> tuple[HsmCluster, ...]:
        found = self._c.execute(f"SELECT {rows.CLUSTER_COLUMNS} FROM hsm_clusters ORDER BY cluster_id")
        return tuple(rows.cluster_of(r, _dt) for r in found)

    def get_custom_key_store(self, custom_key_store_id: str) -> CustomKeyStore | None:
        row = self._c.execute(
            f"SELECT {rows.STORE_COLUMNS} FROM custom_key_stores WHERE custom_key_store_id = ?",
            (custom_key_store_id,),
        ).fetchone()
        return None if row is None else rows.store_of(row, _dt)

    def list_custom_key_stores(self, account: AccountId | None, region: Region | None) -> tuple[CustomKeyStore, ...]:
        found = self._c.execute(
            f"SELECT {rows.STORE_COLUMNS} FROM custom_key_stores WHERE (? IS NULL OR account = ?) "
            "AND (? IS NULL OR region = ?) ORDER BY custom_key_store_id",
            (account, account, region, region),
        )
        return tuple(rows.store_of(r, _dt) for r in found)

    def count_keys_in_custom_key_store(self, custom_key_store_id: str) -> int:
        (count,) = self._c.execute(
            "SELECT count(*) FROM keys WHERE custom_key_store_id = ?", (custom_key_store_id,)
        ).fetchone()
        return int(count)

    def _insert_row(self, sql: str, values: Sequence[Any], name: str) -> None:
        """An INSERT; DuplicateError(name) if it breaks a uniqueness constraint."""
        try:
            self._c.execute(sql, values)
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(name) from exc

    def insert_hsm_cluster(self, cluster: HsmCluster) -> None:
        sql = f"INSERT INTO hsm_clusters ({rows.CLUSTER_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
        self._insert_row(sql, rows.cluster_values(cluster, _ts), cluster.cluster_id)

    def delete_hsm_cluster(self, cluster_id: str) -> None:
        self._c.execute("DELETE FROM hsm_clusters WHERE cluster_id = ?", (cluster_id,))

    def insert_custom_key_store(self, store: CustomKeyStore) -> None:
        sql = f"INSERT INTO custom_key_stores ({rows.STORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        self._insert_row(sql, rows.store_values(store, _ts), store.custom_key_store_id)

    def update_custom_key_store(self, store: CustomKeyStore, expected_revision: int) -> None:
        values = rows.store_values(store, _ts)
        columns = [c.strip() for c in rows.STORE_COLUMNS.split(",")]
        try:
            done = self._c.execute(
                "UPDATE custom_key_stores SET "
                + ", ".join(f"{c} = ?" for c in columns[1:])
                + " WHERE custom_key_store_id = ? AND revision = ?",
                (*values[1:], store.custom_key_store_id, expected_revision),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(store.name) from exc
        if done.rowcount != 1:
            raise ConflictError(store.custom_key_store_id)

    def delete_custom_key_store(self, custom_key_store_id: str) -> None:
        self._c.execute("DELETE FROM custom_key_stores WHERE custom_key_store_id = ?", (custom_key_store_id,))
