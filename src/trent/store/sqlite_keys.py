"""The SQLite store's keys, their policies and tags (the schema is in trent/store/sqlite_schema.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from trent.kms.ids import AccountId, KeyId, Region, related_id_range
from trent.kms.keys import Key, MaterialVersion, Tag
from trent.kms.specs import KeyState
from trent.store import sqlite_rows as records
from trent.store.base import ConflictError, Page, WrappedRow
from trent.store.sqlite_materials import SqliteMaterials


class SqliteKeys(SqliteMaterials):
    """Reads and writes of keys, key_policies and tags, over the store's one connection; a key's first
    material version is written with it (SqliteMaterials). Parsed records are kept in `_keys` by revision."""

    _c: sqlite3.Connection
    _keys: dict[str, Key]

    # -- reads -------------------------------------------------------------------------------------------
    def get_key(self, key_id: KeyId) -> Key | None:
        # The revision is read fresh every time; the parsed record of a revision never changes, so it is kept.
        found = self._c.execute("SELECT revision FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if found is None:
            return None
        cached = self._keys.get(key_id)
        if cached is not None and cached.revision == found[0]:
            return cached
        row = self._c.execute(f"SELECT {records.KEY_COLUMNS} FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            return None
        key = records.key(row)
        if len(self._keys) >= records.CACHE_SIZE:
            self._keys.clear()
        self._keys[key_id] = key
        return key

    def get_keys(self, key_ids: Sequence[KeyId]) -> Mapping[KeyId, Key]:
        found: dict[KeyId, Key] = {}
        unique = list(dict.fromkeys(key_ids))
        for start in range(0, len(unique), records.CHUNK):
            chunk = unique[start : start + records.CHUNK]
            rows = self._c.execute(
                f"SELECT {records.KEY_COLUMNS} FROM keys WHERE key_id IN ({', '.join('?' * len(chunk))})", chunk
            )
            for row in rows:
                # A revision's parsed record never changes: reuse it, as get_key does.
                cached = self._keys.get(row[0])
                key = cached if cached is not None and cached.revision == row[12] else records.key(row)
                if cached is not key:
                    if len(self._keys) >= records.CACHE_SIZE:
                        self._keys.clear()
                    self._keys[key.store_id] = key
                found[key.store_id] = key
        return found

    def list_keys(self, account: AccountId, region: Region, after: str | None, limit: int) -> Page[Key]:
        rows = self._c.execute(
            f"SELECT {records.KEY_COLUMNS} FROM keys "
            "WHERE account = ? AND region = ? AND key_id > ? ORDER BY key_id LIMIT ?",
            (account, region, after or "", limit + 1),
        ).fetchall()
        keys = tuple(records.key(r) for r in rows[:limit])
        return Page(keys, keys[-1].store_id if len(rows) > limit else None)

    def related_keys(self, key_id: KeyId) -> tuple[Key, ...]:
        rows = self._c.execute(
            f"SELECT {records.KEY_COLUMNS} FROM keys WHERE key_id >= ? AND key_id < ? ORDER BY key_id",
            related_id_range(key_id),
        )
        return tuple(records.key(r) for r in rows)

    def list_wrapped_materials(self, after: tuple[KeyId, int] | None, limit: int) -> tuple[WrappedRow, ...]:
        key_id, version = after or ("", -1)
        rows = self._c.execute(
            "SELECT key_id, version, wrapped FROM key_material WHERE (key_id, version) > (?, ?) "
            "AND wrapped IS NOT NULL ORDER BY key_id, version LIMIT ?",
            (key_id, version, limit),
        )
        return tuple((KeyId(k), v, bytes(w)) for k, v, w in rows)

    def keys_due_for_rotation(self, now: datetime) -> tuple[Key, ...]:
        rows = self._c.execute(
            f"SELECT {records.KEY_COLUMNS} FROM keys WHERE next_rotation_date IS NOT NULL AND next_rotation_date <= ?",
            (now.timestamp(),),
        )
        return tuple(records.key(r) for r in rows)

    def keys_due_for_deletion(self, now: datetime) -> tuple[Key, ...]:
        rows = self._c.execute(
            f"SELECT {records.KEY_COLUMNS} FROM keys WHERE state = ? AND deletion_date <= ?",
            (KeyState.PENDING_DELETION.value, now.timestamp()),
        )
        return tuple(records.key(r) for r in rows)

    def count_keys(self, account: AccountId) -> int:
        (count,) = self._c.execute("SELECT count(*) FROM keys WHERE account = ?", (account,)).fetchone()
        return int(count)

    def get_policy(self, key_id: KeyId) -> str | None:
        row = self._c.execute("SELECT policy FROM key_policies WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else str(row[0])

    def get_tags(self, key_id: KeyId) -> tuple[Tag, ...]:
        rows = self._c.execute("SELECT tag_key, tag_value FROM tags WHERE key_id = ? ORDER BY tag_key", (key_id,))
        return tuple(Tag(k, v) for k, v in rows)

    # -- writes (only called inside a transaction) -----------------------------------------------------------
    def insert_key(self, key: Key, wrapped_material: bytes | None, policy: str, tags: Sequence[Tag]) -> None:
        placeholders = ", ".join("?" * len(records.KEY_COLUMNS.split(",")))
        self._c.execute(f"INSERT INTO keys ({records.KEY_COLUMNS}) VALUES ({placeholders})", records.key_values(key))
        if wrapped_material is not None:
            first = MaterialVersion(key.store_id, key.current_version, key.creation_date, None)
            self.add_material(first, wrapped_material)
        self._c.execute("INSERT INTO key_policies (key_id, policy) VALUES (?, ?)", (key.store_id, policy))
        self.put_tags(key.store_id, tags)

    def update_key(self, key: Key, expected_revision: int) -> None:
        columns = [c.strip() for c in records.KEY_COLUMNS.split(",")][1:]
        assignments = ", ".join(f"{c} = ?" for c in columns)
        cur = self._c.execute(
            f"UPDATE keys SET {assignments} WHERE key_id = ? AND revision = ?",
            (*records.key_values(key)[1:], key.store_id, expected_revision),
        )
        if cur.rowcount != 1:
            raise ConflictError(key.store_id)

    def delete_key(self, key_id: KeyId) -> None:
        self._c.execute("DELETE FROM keys WHERE key_id = ?", (key_id,))

    def rewrap_material(self, key_id: KeyId, version: int, old: bytes, new: bytes) -> bool:
        cur = self._c.execute(
            "UPDATE key_material SET wrapped = ? WHERE key_id = ? AND version = ? AND wrapped = ?",
            (new, key_id, version, old),
        )
        return cur.rowcount == 1

    def put_policy(self, key_id: KeyId, policy: str) -> None:
        self._c.execute("UPDATE key_policies SET policy = ? WHERE key_id = ?", (policy, key_id))

    def put_tags(self, key_id: KeyId, tags: Sequence[Tag]) -> None:
        self._c.executemany(
            "INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?, ?, ?) "
            "ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            [(key_id, t.tag_key, t.tag_value) for t in tags],
        )

    def delete_tags(self, key_id: KeyId, tag_keys: Sequence[str]) -> None:
        self._c.executemany("DELETE FROM tags WHERE key_id = ? AND tag_key = ?", [(key_id, k) for k in tag_keys])
