"""The PostgreSQL store's custom key stores and HSM clusters (the schema's version 5; postgres_ops.py gives the
statements' round trips)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors

from trent.kms.ids import AccountId, Region
from trent.kms.keystores import CustomKeyStore, HsmCluster
from trent.store import keystore_rows as rows
from trent.store.base import ConflictError, DuplicateError
from trent.store.postgres_statements import PostgresStatements

SCHEMA_V5 = """
    CREATE TABLE hsm_clusters (
        cluster_id text COLLATE "C" PRIMARY KEY,
        module text NOT NULL,
        token_label text NOT NULL,
        trust_anchor text NOT NULL,
        created timestamptz NOT NULL
    );
    CREATE TABLE custom_key_stores (
        custom_key_store_id text COLLATE "C" PRIMARY KEY,
        account text NOT NULL,
        region text NOT NULL,
        name text NOT NULL,
        store_type text NOT NULL,
        creation_date timestamptz NOT NULL,
        connection_state text NOT NULL,
        connection_error_code text,
        config text NOT NULL,
        revision integer NOT NULL,
        UNIQUE (account, region, name)
    );
    ALTER TABLE keys ADD COLUMN custom_key_store_id text;
    CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id) WHERE custom_key_store_id IS NOT NULL;
"""
_STORES = f"SELECT {rows.STORE_COLUMNS} FROM custom_key_stores"
_CLUSTERS = f"SELECT {rows.CLUSTER_COLUMNS} FROM hsm_clusters"
_STORE_COLUMNS = [c.strip() for c in rows.STORE_COLUMNS.split(",")]
_UPDATE_STORE = (
    "UPDATE custom_key_stores SET "
    + ", ".join(f"{c} = %s" for c in _STORE_COLUMNS[1:])
    + " WHERE custom_key_store_id = %s AND revision = %s"
)


def _same(value: datetime) -> datetime:
    return value


class PostgresKeyStores(PostgresStatements):
    _c: psycopg.Connection[Any]  # the store's connection (postgres_ops.py)

    def get_hsm_cluster(self, cluster_id: str) -> HsmCluster | None:
        row = self._one(_CLUSTERS + " WHERE cluster_id = %s", (cluster_id,))
        return None if row is None else rows.cluster_of(row, _same)

    def list_hsm_clusters(self) -> tuple[HsmCluster, ...]:
        return tuple(rows.cluster_of(r, _same) for r in self._all(_CLUSTERS + " ORDER BY cluster_id"))

    def get_custom_key_store(self, custom_key_store_id: str) -> CustomKeyStore | None:
        row = self._one(_STORES + " WHERE custom_key_store_id = %s", (custom_key_store_id,))
        return None if row is None else rows.store_of(row, _same)

    def list_custom_key_stores(self, account: AccountId | None, region: Region | None) -> tuple[CustomKeyStore, ...]:
        found = self._all(
            _STORES + " WHERE (%s::text IS NULL OR account = %s) AND (%s::text IS NULL OR region = %s) "
            "ORDER BY custom_key_store_id",
            (account, account, region, region),
        )
        return tuple(rows.store_of(r, _same) for r in found)

    def count_keys_in_custom_key_store(self, custom_key_store_id: str) -> int:
        row = self._one("SELECT count(*) FROM keys WHERE custom_key_store_id = %s", (custom_key_store_id,))
        return int(row[0])

    def insert_hsm_cluster(self, cluster: HsmCluster) -> None:
        sql = f"INSERT INTO hsm_clusters ({rows.CLUSTER_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"
        self._insert(sql, rows.cluster_values(cluster, _same), cluster.cluster_id)

    def delete_hsm_cluster(self, cluster_id: str) -> None:
        self._write("DELETE FROM hsm_clusters WHERE cluster_id = %s", (cluster_id,))

    def insert_custom_key_store(self, store: CustomKeyStore) -> None:
        sql = f"INSERT INTO custom_key_stores ({rows.STORE_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"
        self._insert(sql, rows.store_values(store, _same), store.custom_key_store_id)

    def update_custom_key_store(self, store: CustomKeyStore, expected_revision: int) -> None:
        values = rows.store_values(store, _same)
        try:
            with self._c.transaction():  # a savepoint: a name collision leaves the transaction usable, as _insert
                count = self._write(_UPDATE_STORE, (*values[1:], store.custom_key_store_id, expected_revision))
        except errors.IntegrityError as exc:
            raise DuplicateError(store.name) from exc
        if count != 1:
            raise ConflictError(store.custom_key_store_id)

    def delete_custom_key_store(self, custom_key_store_id: str) -> None:
        self._write("DELETE FROM custom_key_stores WHERE custom_key_store_id = %s", (custom_key_store_id,))
