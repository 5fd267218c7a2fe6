"""The PostgreSQL store's XKS proxy tables (schema version 6 in trent/store/postgres_schema.py; SQLite's version
9): logical key stores and the Trent keys exposed to them (docs/xks.md). PostgresOps gives the round trips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trent.kms.ids import KeyId
from trent.kms.xks import USAGES, XksExposure, XksKeyStore, usage_text
from trent.store.base import DuplicateError

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
_STORE_COLUMNS = (
    "uri_prefix, access_key_id, wrapped_secret, enabled, created, previous_access_key_id, previous_wrapped_secret"
)
_EXPOSURE_COLUMNS = "uri_prefix, key_id, usage, created, allowed_principals, allowed_operations"


def _store(row: Any) -> XksKeyStore:
    return XksKeyStore(
        uri_prefix=row[0],
        access_key_id=row[1],
        wrapped_secret=bytes(row[2]),
        enabled=bool(row[3]),
        created=row[4],
        previous_access_key_id=row[5],
        previous_wrapped_secret=None if row[6] is None else bytes(row[6]),
    )


def _exposure(row: Any) -> XksExposure:
    return XksExposure(
        uri_prefix=row[0],
        key_id=KeyId(row[1]),
        usage=USAGES[row[2]],
        created=row[3],
        allowed_principals=tuple(row[4]),
        allowed_operations=tuple(row[5]),
    )


class PostgresXks:
    """Reads and writes of xks_stores and xks_exposures."""

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        raise NotImplementedError

    def _insert(self, sql: str, args: Sequence[Any], name: str) -> None:
        raise NotImplementedError

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
        self._insert(
            f"INSERT INTO xks_stores ({_STORE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                store.uri_prefix,
                store.access_key_id,
                store.wrapped_secret,
                store.enabled,
                store.created,
                store.previous_access_key_id,
                store.previous_wrapped_secret,
            ),
            store.uri_prefix,
        )

    def update_xks_store(self, store: XksKeyStore) -> None:
        self._insert(
            "UPDATE xks_stores SET access_key_id = %s, wrapped_secret = %s, enabled = %s, created = %s, "
            "previous_access_key_id = %s, previous_wrapped_secret = %s WHERE uri_prefix = %s",
            (
                store.access_key_id,
                store.wrapped_secret,
                store.enabled,
                store.created,
                store.previous_access_key_id,
                store.previous_wrapped_secret,
                store.uri_prefix,
            ),
            store.access_key_id,
        )

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
