"""The PostgreSQL store's XKS proxy tables (schema version 6 in trent/store/postgres_schema.py; SQLite's version
9): logical key stores and the Trent keys exposed to them (docs/xks.md). PostgresOps gives the round trips."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trent.kms.ids import KeyId
from trent.kms.xks import USAGES, XksExposure, XksKeyStore, usage_text
from trent.store import xks_rows as rows
from trent.store.base import DuplicateError
from trent.store.postgres_statements import PostgresStatements

SCHEMA = """
    CREATE TABLE xks_stores (
        uri_prefix text COLLATE "C" PRIMARY KEY,
        access_key_id text COLLATE "C" NOT NULL UNIQUE,
        wrapped_secret bytea NOT NULL,
        enabled boolean NOT NULL,
        created timestamptz NOT NULL,
        previous_access_key_id text,
        previous_wrapped_secret bytea
    );
    CREATE TABLE xks_exposures (
        uri_prefix text COLLATE "C" NOT NULL REFERENCES xks_stores (uri_prefix) ON DELETE CASCADE,
        key_id text COLLATE "C" NOT NULL,
        usage text NOT NULL,
        created timestamptz NOT NULL,
        allowed_principals text[] NOT NULL DEFAULT '{}',
        allowed_operations text[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (uri_prefix, key_id)
    );
"""
_STORE_COLUMNS = rows.STORE_COLUMNS
_EXPOSURE_COLUMNS = rows.EXPOSURE_COLUMNS
_UPDATE_STORE = rows.UPDATE_STORE


def _same(value: datetime) -> datetime:
    return value


def _store(row: Any) -> XksKeyStore:
    return rows.store_of(row, _same)


def _exposure(row: Any) -> XksExposure:
    return XksExposure(
        uri_prefix=row[0],
        key_id=KeyId(row[1]),
        usage=USAGES[row[2]],
        created=row[3],
        allowed_principals=tuple(row[4]),
        allowed_operations=tuple(row[5]),
    )


class PostgresXks(PostgresStatements):
    """Reads and writes of xks_stores and xks_exposures."""

    def get_xks_store(self, uri_prefix: str) -> XksKeyStore | None:
        row = self._one(f"SELECT {_STORE_COLUMNS} FROM xks_stores WHERE uri_prefix = %s", (uri_prefix,))
        return None if row is None else _store(row)

    def list_xks_stores(self) -> tuple[XksKeyStore, ...]:
        return tuple(map(_store, self._all(f"SELECT {_STORE_COLUMNS} FROM xks_stores ORDER BY uri_prefix")))

    def get_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> XksExposure | None:
        row = self._one(
            f"SELECT {_EXPOSURE_COLUMNS} FROM xks_exposures WHERE uri_prefix = %s AND key_id = %s", (uri_prefix, key_id)
        )
        return None if row is None else _exposure(row)

    def list_xks_exposures(self, uri_prefix: str) -> tuple[XksExposure, ...]:
        found = self._all(
            f"SELECT {_EXPOSURE_COLUMNS} FROM xks_exposures WHERE uri_prefix = %s ORDER BY key_id", (uri_prefix,)
        )
        return tuple(map(_exposure, found))

    # -- writes (only called inside a transaction) ---------------------------------------------------------
    def insert_xks_store(self, store: XksKeyStore) -> None:
        sql = f"INSERT INTO xks_stores ({_STORE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        self._insert(sql, rows.store_values(store, _same), store.uri_prefix)

    def update_xks_store(self, store: XksKeyStore) -> None:
        self._insert(_UPDATE_STORE, rows.update_values(store, _same), store.access_key_id)

    def delete_xks_store(self, uri_prefix: str) -> None:
        self._write("DELETE FROM xks_exposures WHERE uri_prefix = %s", (uri_prefix,))
        self._write("DELETE FROM xks_stores WHERE uri_prefix = %s", (uri_prefix,))

    def put_xks_exposure(self, exposure: XksExposure) -> None:
        try:
            self._insert(
                f"INSERT INTO xks_exposures ({_EXPOSURE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (uri_prefix, key_id) DO UPDATE SET usage = excluded.usage, created = excluded.created, "
                "allowed_principals = excluded.allowed_principals, allowed_operations = excluded.allowed_operations",
                (
                    exposure.uri_prefix,
                    exposure.key_id,
                    usage_text(exposure.usage),
                    exposure.created,
                    list(exposure.allowed_principals),
                    list(exposure.allowed_operations),
                ),
                exposure.uri_prefix,
            )
        except DuplicateError as exc:  # the foreign key: no such store
            raise ValueError(f"no XKS key store {exposure.uri_prefix}") from exc

    def delete_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> None:
        self._write("DELETE FROM xks_exposures WHERE uri_prefix = %s AND key_id = %s", (uri_prefix, key_id))
