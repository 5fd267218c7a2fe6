"""The SQLite store's grants (the schema is in trent/store/sqlite_schema.py)."""

from __future__ import annotations

import sqlite3

from trent.kms.ids import KeyId
from trent.kms.keys import Grant
from trent.store import constraints
from trent.store import sqlite_rows as records
from trent.store.base import Page


class SqliteGrants:
    """Reads and writes of grants, over the store's one connection."""

    _c: sqlite3.Connection

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._c.execute(f"SELECT {records.GRANT_COLUMNS} FROM grants WHERE grant_id = ?", (grant_id,)).fetchone()
        return None if row is None else records.grant(row)

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]:
        rows = self._c.execute(
            f"SELECT {records.GRANT_COLUMNS} FROM grants WHERE key_id = ? ORDER BY grant_id", (key_id,)
        )
        return tuple(records.grant(r) for r in rows)

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> Page[Grant]:
        rows = self._c.execute(
            f"SELECT {records.GRANT_COLUMNS} FROM grants WHERE retiring = ? AND grant_id > ? ORDER BY grant_id LIMIT ?",
            (retiring_principal, after or "", limit + 1),
        ).fetchall()
        grants = tuple(records.grant(r) for r in rows[:limit])
        return Page(grants, grants[-1].grant_id if len(rows) > limit else None)

    def insert_grant(self, grant: Grant) -> None:
        self._c.execute(
            f"INSERT INTO grants ({records.GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                grant.grant_id,
                grant.key_id,
                grant.grantee_principal,
                ",".join(grant.operations),
                grant.issuing_account,
                grant.created.timestamp(),
                grant.name,
                grant.retiring_principal,
                constraints.encode(grant.constraints),
            ),
        )

    def delete_grant(self, grant_id: str) -> None:
        self._c.execute("DELETE FROM grants WHERE grant_id = ?", (grant_id,))
