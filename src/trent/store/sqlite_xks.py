"""The SQLite store's XKS proxy tables (schema version 9 in trent/store/sqlite_schema.py): logical key stores and the
Trent keys exposed to them (docs/xks.md)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from trent.kms.ids import KeyId
from trent.kms.xks import USAGES, XksExposure, XksKeyStore, usage_text
from trent.store import xks_rows as rows
from trent.store.base import DuplicateError

SCHEMA = """
    CREATE TABLE xks_stores (
        uri_prefix TEXT PRIMARY KEY,
        access_key_id TEXT NOT NULL UNIQUE,
        wrapped_secret BLOB NOT NULL,
        enabled INTEGER NOT NULL,
        created REAL NOT NULL,
        previous_access_key_id TEXT,
        previous_wrapped_secret BLOB
    );
    CREATE TABLE xks_exposures (
        uri_prefix TEXT NOT NULL REFERENCES xks_stores (uri_prefix) ON DELETE CASCADE,
        key_id TEXT NOT NULL,
        usage TEXT NOT NULL,
        created REAL NOT NULL,
        allowed_principals TEXT NOT NULL DEFAULT '[]',
        allowed_operations TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (uri_prefix, key_id)
    );
"""
_STORE_COLUMNS = rows.STORE_COLUMNS
_EXPOSURE_COLUMNS = rows.EXPOSURE_COLUMNS
_UPDATE_STORE = rows.UPDATE_STORE.replace("%s", "?")


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _ts(value: datetime) -> float:
    return value.timestamp()


def _store(row: Any) -> XksKeyStore:
    return rows.store_of(row, _dt)


def _exposure(row: Any) -> XksExposure:
    return XksExposure(
        uri_prefix=row[0],
        key_id=KeyId(row[1]),
        usage=USAGES[row[2]],
        created=datetime.fromtimestamp(row[3], UTC),
        allowed_principals=tuple(json.loads(row[4])),
        allowed_operations=tuple(json.loads(row[5])),
    )


class SqliteXks:
    """Reads and writes of xks_stores and xks_exposures, over the store's one connection."""

    _c: sqlite3.Connection

    def get_xks_store(self, uri_prefix: str) -> XksKeyStore | None:
        row = self._c.execute(f"SELECT {_STORE_COLUMNS} FROM xks_stores WHERE uri_prefix = ?", (uri_prefix,)).fetchone()
        return None if row is None else _store(row)

    def list_xks_stores(self) -> tuple[XksKeyStore, ...]:
        return tuple(map(_store, self._c.execute(f"SELECT {_STORE_COLUMNS} FROM xks_stores ORDER BY uri_prefix")))

    def get_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> XksExposure | None:
        row = self._c.execute(
            f"SELECT {_EXPOSURE_COLUMNS} FROM xks_exposures WHERE uri_prefix = ? AND key_id = ?", (uri_prefix, key_id)
        ).fetchone()
        return None if row is None else _exposure(row)

    def list_xks_exposures(self, uri_prefix: str) -> tuple[XksExposure, ...]:
        rows = self._c.execute(
            f"SELECT {_EXPOSURE_COLUMNS} FROM xks_exposures WHERE uri_prefix = ? ORDER BY key_id", (uri_prefix,)
        )
        return tuple(map(_exposure, rows))

    # -- writes (only called inside a transaction) ---------------------------------------------------------
    def insert_xks_store(self, store: XksKeyStore) -> None:
        try:
            self._c.execute(
                f"INSERT INTO xks_stores ({_STORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows.store_values(store, _ts)
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(store.uri_prefix) from exc

    def update_xks_store(self, store: XksKeyStore) -> None:
        try:
            self._c.execute(_UPDATE_STORE, rows.update_values(store, _ts))
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(store.access_key_id) from exc

    def delete_xks_store(self, uri_prefix: str) -> None:
        self._c.execute("DELETE FROM xks_exposures WHERE uri_prefix = ?", (uri_prefix,))
        self._c.execute("DELETE FROM xks_stores WHERE uri_prefix = ?", (uri_prefix,))

    def put_xks_exposure(self, exposure: XksExposure) -> None:
        try:
            self._c.execute(
                f"INSERT OR REPLACE INTO xks_exposures ({_EXPOSURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    exposure.uri_prefix,
                    exposure.key_id,
                    usage_text(exposure.usage),
                    exposure.created.timestamp(),
                    json.dumps(list(exposure.allowed_principals)),
                    json.dumps(list(exposure.allowed_operations)),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"no XKS key store {exposure.uri_prefix}") from exc

    def delete_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> None:
        self._c.execute("DELETE FROM xks_exposures WHERE uri_prefix = ? AND key_id = ?", (uri_prefix, key_id))
