"""The SQLite store's aliases (the schema is in trent/store/sqlite_schema.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import Alias
from trent.store import sqlite_rows as records
from trent.store.base import AliasRef, DuplicateError, Page


class SqliteAliases:
    """Reads and writes of aliases, over the store's one connection."""

    _c: sqlite3.Connection

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        row = self._c.execute(
            "SELECT account, region, name, key_id, creation_date, last_updated_date FROM aliases "
            "WHERE account = ? AND region = ? AND name = ?",
            (account, region, name),
        ).fetchone()
        return None if row is None else records.alias(row)

    def get_aliases(self, refs: Sequence[AliasRef]) -> Mapping[AliasRef, Alias]:
        found: dict[AliasRef, Alias] = {}
        unique = list(dict.fromkeys(refs))
        for start in range(0, len(unique), records.CHUNK):
            chunk = unique[start : start + records.CHUNK]
            # A join from the wanted rows, not `(account, region, name) IN (VALUES ...)`: SQLite plans that
            # as a scan of every alias, and this as one primary-key search per wanted row.
            rows = self._c.execute(
                f"WITH wanted (account, region, name) AS (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) "
                f"SELECT {records.ALIAS_SELECTED} FROM wanted CROSS JOIN aliases AS a "
                "ON a.account = wanted.account AND a.region = wanted.region AND a.name = wanted.name",
                [part for ref in chunk for part in ref],
            )
            for row in rows:
                alias = records.alias(row)
                found[(alias.account, alias.region, alias.name)] = alias
        return found

    def list_aliases(
        self, account: AccountId, region: Region, key_id: KeyId | None, after: str | None, limit: int
    ) -> Page[Alias]:
        sql = (
            "SELECT account, region, name, key_id, creation_date, last_updated_date FROM aliases "
            "WHERE account = ? AND region = ? AND name > ?"
        )
        args: tuple[Any, ...] = (account, region, after or "")
        if key_id is not None:
            sql += " AND key_id = ?"
            args += (key_id,)
        rows = self._c.execute(sql + " ORDER BY name LIMIT ?", (*args, limit + 1)).fetchall()
        aliases = tuple(records.alias(r) for r in rows[:limit])
        return Page(aliases, aliases[-1].name if len(rows) > limit else None)

    def insert_alias(self, alias: Alias) -> None:
        try:
            self._c.execute(
                "INSERT INTO aliases (account, region, name, key_id, creation_date, last_updated_date) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    alias.account,
                    alias.region,
                    alias.name,
                    alias.target_key_id,
                    alias.creation_date.timestamp(),
                    alias.last_updated_date.timestamp(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(alias.name) from exc

    def update_alias(self, alias: Alias) -> None:
        self._c.execute(
            "UPDATE aliases SET key_id = ?, last_updated_date = ? WHERE account = ? AND region = ? AND name = ?",
            (
                alias.target_key_id,
                alias.last_updated_date.timestamp(),
                alias.account,
                alias.region,
                alias.name,
            ),
        )

    def delete_alias(self, account: AccountId, region: Region, name: AliasName) -> None:
        self._c.execute("DELETE FROM aliases WHERE account = ? AND region = ? AND name = ?", (account, region, name))
