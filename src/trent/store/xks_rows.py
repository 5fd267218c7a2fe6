"""XKS proxy key stores as rows, for the SQL adapters (sqlite_xks.py, postgres_xks.py): one column list, read
and written in that order; each adapter says how it stores a datetime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from trent.kms.xks import XksKeyStore

STORE_COLUMNS = (
    "uri_prefix, access_key_id, wrapped_secret, enabled, created, previous_access_key_id, previous_wrapped_secret"
)
EXPOSURE_COLUMNS = "uri_prefix, key_id, usage, created, allowed_principals, allowed_operations"
# Every column but the key, then WHERE the key (update_values' order); %s placeholders (SQLite's: replace by ?).
UPDATE_STORE = (
    "UPDATE xks_stores SET access_key_id = %s, wrapped_secret = %s, enabled = %s, created = %s, "
    "previous_access_key_id = %s, previous_wrapped_secret = %s WHERE uri_prefix = %s"
)


def store_of(row: Any, dt: Callable[[Any], datetime]) -> XksKeyStore:
    return XksKeyStore(
        uri_prefix=row[0],
        access_key_id=row[1],
        wrapped_secret=bytes(row[2]),
        enabled=bool(row[3]),
        created=dt(row[4]),
        previous_access_key_id=row[5],
        previous_wrapped_secret=None if row[6] is None else bytes(row[6]),
    )


def store_values(store: XksKeyStore, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The row, in STORE_COLUMNS' order (`enabled` a bool: SQLite stores it as 1 or 0)."""
    return (
        store.uri_prefix,
        store.access_key_id,
        store.wrapped_secret,
        store.enabled,
        ts(store.created),
        store.previous_access_key_id,
        store.previous_wrapped_secret,
    )


def update_values(store: XksKeyStore, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """UPDATE_STORE's arguments: the columns but the key, then the key."""
    values = store_values(store, ts)
    return (*values[1:], values[0])
