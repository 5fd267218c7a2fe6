"""The SQLite store's statements: every read and write, over one connection, from one mixin per table family
(trent/store/sqlite.py says how transactions work; trent/store/sqlite_memo.py how reads are remembered)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from trent.kms.keys import AccessKey, Key
from trent.store.sqlite_aliases import SqliteAliases
from trent.store.sqlite_grants import SqliteGrants
from trent.store.sqlite_keys import SqliteKeys
from trent.store.sqlite_keystores import SqliteKeyStores
from trent.store.sqlite_principals import SqlitePrincipals
from trent.store.sqlite_xks import SqliteXks

_WIPED = ("keys", "access_keys", "users", "accounts", "custom_key_stores", "xks_exposures", "xks_stores")


class SqliteOps(SqliteKeyStores, SqliteKeys, SqliteAliases, SqliteGrants, SqlitePrincipals, SqliteXks):
    """Every read and write, over one connection; SqliteStore and the transaction share it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
        self._keys: dict[str, Key] = {}
        self._access_keys: dict[str, AccessKey] = {}

    def forget_cached(self) -> None:
        """Drop the parsed records (after a dev server's reset, ops/reset.py forget_cached)."""
        self._keys.clear()
        self._access_keys.clear()

    def is_empty(self) -> bool:
        row = self._c.execute(
            "SELECT EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM users) "
            "OR EXISTS (SELECT 1 FROM access_keys) OR EXISTS (SELECT 1 FROM keys)"
        ).fetchone()
        return not row[0]

    def delete_outbox(self, event_ids: Sequence[str]) -> None:
        self._c.executemany("DELETE FROM audit_outbox WHERE event_id = ?", [(e,) for e in event_ids])

    def wipe(self) -> None:
        for table in _WIPED:  # a key's rows in other tables go with it (ON DELETE CASCADE)
            self._c.execute(f"DELETE FROM {table}")
