"""The PostgreSQL store's statements: every read and write, over one connection (trent/store/postgres.py says
how connections, transactions and locks work)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors

from trent import metrics
from trent.kms.ids import AccountId, AliasName, KeyId, Region, related_id_range
from trent.kms.keys import AccessKey, Account, Alias, Grant, Key, MaterialVersion, Tag, User
from trent.kms.specs import KeyState
from trent.pgsession import connect
from trent.store import postgres_rows as rows
from trent.store.base import AliasRef, ConflictError, DuplicateError, Page, WrappedRow
from trent.store.postgres_keystores import PostgresKeyStores
from trent.store.postgres_materials import PostgresMaterials
from trent.store.postgres_prefetch import PostgresPrefetch
from trent.store.postgres_schema import WRITER_LOCK
from trent.store.postgres_xks import PostgresXks

_KEYS = f"SELECT {rows.KEY_COLUMNS} FROM keys"
_ALIASES = f"SELECT {rows.ALIAS_COLUMNS} FROM aliases"
_ACCESS_KEYS = f"SELECT {rows.ACCESS_KEY_COLUMNS} FROM access_keys"
_GRANTS = f"SELECT {rows.GRANT_COLUMNS} FROM grants"
_USERS = f"SELECT {rows.USER_COLUMNS} FROM users"
_INSERT_KEY = rows.insert("keys", rows.KEY_COLUMNS)
_INSERT_ALIAS = rows.insert("aliases", rows.ALIAS_COLUMNS)
_INSERT_ACCESS_KEY = rows.insert("access_keys", rows.ACCESS_KEY_COLUMNS)
_INSERT_USER = rows.insert("users", rows.USER_COLUMNS)
_INSERT_GRANT = rows.insert("grants", rows.GRANT_COLUMNS)
_UPDATE_KEY = (
    "UPDATE keys SET "
    + ", ".join(f"{c.strip()} = %s" for c in rows.KEY_COLUMNS.split(",")[1:])
    + " WHERE key_id = %s AND revision = %s"
)


class PostgresOps(PostgresKeyStores, PostgresMaterials, PostgresPrefetch, PostgresXks):
    """Every read and write; PostgresStore adds transactions, units and blobs."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._c = connect(url)
        metrics.STORE_CONNECTIONS.inc()
        self._in_transaction = False
        self._changes = 0  # rows written by this store's statements; a unit compares it to know it wrote
        self.round_trips = 0  # round trips of statements (transaction control aside): for metrics and tests
        self._ac: psycopg.AsyncConnection[Any] | None = None  # the batcher's reads, made in the event loop
        self._ac_loop: asyncio.AbstractEventLoop | None = None

    # -- statements ----------------------------------------------------------------------------------------
    def _conn(self) -> psycopg.Connection[Any]:
        # A broken connection (server restart, network cut) is replaced, but only between transactions: one
        # in flight died with it, and its block has raised.
        if self._c.broken and not self._in_transaction:
            self._c = connect(self._url)
            metrics.STORE_CONNECTIONS.inc()  # a replacement: the database restarted, failed over or cut it
        return self._c

    def _read(self, sql: str, args: Sequence[Any]) -> psycopg.Cursor[Any]:
        conn = self._conn()
        try:
            return conn.execute(sql, args)
        except psycopg.OperationalError:
            if self._in_transaction or not conn.broken:
                raise
            # The connection had died since its last use (the server restarted, failed over, or cut it): a
            # connection is only found dead by using it. A read outside a transaction changes nothing, so it
            # is sent once more on a new connection rather than failing the request for a death long past.
            return self._conn().execute(sql, args)

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        self.round_trips += 1
        return self._read(sql, args).fetchone()

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        self.round_trips += 1
        return self._read(sql, args).fetchall()

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        self.round_trips += 1
        count = self._c.execute(sql, args).rowcount
        self._changes += max(count, 0)
        return count

    def _insert(self, sql: str, args: Sequence[Any], name: str) -> None:
        """An insert whose collision is DuplicateError, leaving the transaction usable (as in SQLite): the
        savepoint undoes the failed statement, where PostgreSQL would otherwise abort the whole transaction."""
        try:
            with self._c.transaction():
                self._write(sql, args)
        except errors.IntegrityError as exc:
            raise DuplicateError(name) from exc

    def _lock_writers(self) -> None:
        self._c.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))

    # -- reads ---------------------------------------------------------------------------------------------
    def get_key(self, key_id: KeyId) -> Key | None:
        row = self._one(_KEYS + " WHERE key_id = %s", (key_id,))
        return None if row is None else rows.key(row)

    def get_keys(self, key_ids: Sequence[KeyId]) -> Mapping[KeyId, Key]:
        """One statement for the whole batch: a fresh snapshot that starts after every request in it arrived."""
        if not key_ids:
            return {}
        found = self._all(_KEYS + " WHERE key_id = ANY(%s)", (list(dict.fromkeys(key_ids)),))
        return {key.store_id: key for key in map(rows.key, found)}

    def list_keys(self, account: AccountId, region: Region, after: str | None, limit: int) -> Page[Key]:
        found = self._all(
            _KEYS + " WHERE account = %s AND region = %s AND key_id > %s ORDER BY key_id LIMIT %s",
            (account, region, after or "", limit + 1),
        )
        keys = tuple(rows.key(r) for r in found[:limit])
        return Page(keys, keys[-1].store_id if len(found) > limit else None)

    def related_keys(self, key_id: KeyId) -> tuple[Key, ...]:
        found = self._all(_KEYS + " WHERE key_id >= %s AND key_id < %s ORDER BY key_id", related_id_range(key_id))
        return tuple(rows.key(r) for r in found)

    def list_wrapped_materials(self, after: tuple[KeyId, int] | None, limit: int) -> tuple[WrappedRow, ...]:
        key_id, version = after or ("", -1)
        found = self._all(
            "SELECT key_id, version, wrapped FROM key_material WHERE (key_id, version) > (%s, %s) "
            "AND wrapped IS NOT NULL ORDER BY key_id, version LIMIT %s",  # deleted imported material: nothing
            (key_id, version, limit),
        )
        return tuple((KeyId(k), v, bytes(w)) for k, v, w in found)

    def keys_due_for_rotation(self, now: datetime) -> tuple[Key, ...]:
        found = self._all(_KEYS + " WHERE next_rotation_date IS NOT NULL AND next_rotation_date <= %s", (now,))
        return tuple(rows.key(r) for r in found)

    def keys_due_for_deletion(self, now: datetime) -> tuple[Key, ...]:
        found = self._all(_KEYS + " WHERE state = %s AND deletion_date <= %s", (KeyState.PENDING_DELETION.value, now))
        return tuple(rows.key(r) for r in found)

    def get_policy(self, key_id: KeyId) -> str | None:
        row = self._one("SELECT policy FROM key_policies WHERE key_id = %s", (key_id,))
        return None if row is None else str(row[0])

    def get_tags(self, key_id: KeyId) -> tuple[Tag, ...]:
        found = self._all("SELECT tag_key, tag_value FROM tags WHERE key_id = %s ORDER BY tag_key", (key_id,))
        return tuple(Tag(k, v) for k, v in found)

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        row = self._one(_ALIASES + " WHERE account = %s AND region = %s AND name = %s", (account, region, name))
        return None if row is None else rows.alias(row)

    def get_aliases(self, refs: Sequence[AliasRef]) -> Mapping[AliasRef, Alias]:
        if not refs:
            return {}
        unique = list(dict.fromkeys(refs))
        found = self._all(
            f"SELECT {rows.ALIAS_COLUMNS} FROM aliases WHERE (account, region, name) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
            ([r[0] for r in unique], [r[1] for r in unique], [r[2] for r in unique]),
        )
        aliases = map(rows.alias, found)
        return {(alias.account, alias.region, alias.name): alias for alias in aliases}

    def list_aliases(
        self, account: AccountId, region: Region, key_id: KeyId | None, after: str | None, limit: int
    ) -> Page[Alias]:
        if key_id is None:
            found = self._all(
                _ALIASES + " WHERE account = %s AND region = %s AND name > %s ORDER BY name LIMIT %s",
                (account, region, after or "", limit + 1),
            )
        else:
            found = self._all(
                _ALIASES + " WHERE account = %s AND region = %s AND name > %s AND key_id = %s ORDER BY name LIMIT %s",
                (account, region, after or "", key_id, limit + 1),
            )
        aliases = tuple(rows.alias(r) for r in found[:limit])
        return Page(aliases, aliases[-1].name if len(found) > limit else None)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        row = self._one(_ACCESS_KEYS + " WHERE access_key_id = %s", (access_key_id,))
        return None if row is None else rows.access_key(row)

    def get_access_keys(self, access_key_ids: Sequence[str]) -> dict[str, AccessKey]:
        found = self._all(_ACCESS_KEYS + " WHERE access_key_id = ANY(%s)", (list(access_key_ids),))
        return {record.access_key_id: record for record in map(rows.access_key, found)}

    def list_access_keys(self, account: AccountId | None) -> tuple[AccessKey, ...]:
        if account is None:
            found = self._all(_ACCESS_KEYS + " ORDER BY access_key_id")
        else:
            found = self._all(_ACCESS_KEYS + " WHERE account = %s ORDER BY access_key_id", (account,))
        return tuple(rows.access_key(r) for r in found)

    def get_account(self, account: AccountId) -> Account | None:
        row = self._one("SELECT account, created FROM accounts WHERE account = %s", (account,))
        return None if row is None else rows.account(row)

    def list_accounts(self) -> tuple[Account, ...]:
        return tuple(rows.account(r) for r in self._all("SELECT account, created FROM accounts ORDER BY account"))

    def get_user(self, arn: str) -> User | None:
        row = self._one(_USERS + " WHERE arn = %s", (arn,))
        return None if row is None else rows.user(row)

    def get_users(self, arns: Sequence[str]) -> dict[str, User]:
        return {user.arn: user for user in map(rows.user, self._all(_USERS + " WHERE arn = ANY(%s)", (list(arns),)))}

    def list_users(self, account: AccountId | None) -> tuple[User, ...]:
        if account is None:
            found = self._all(_USERS + " ORDER BY arn")
        else:
            found = self._all(_USERS + " WHERE account = %s ORDER BY arn", (account,))
        return tuple(rows.user(r) for r in found)

    def count_keys(self, account: AccountId) -> int:
        return int(self._one("SELECT count(*) FROM keys WHERE account = %s", (account,))[0])

    def is_empty(self) -> bool:
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM users) "
            "OR EXISTS (SELECT 1 FROM access_keys) OR EXISTS (SELECT 1 FROM keys)"
        )
        return not row[0]

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._one(_GRANTS + " WHERE grant_id = %s", (grant_id,))
        return None if row is None else rows.grant(row)

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]:
        return tuple(rows.grant(r) for r in self._all(_GRANTS + " WHERE key_id = %s ORDER BY grant_id", (key_id,)))

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> Page[Grant]:
        found = self._all(
            _GRANTS + " WHERE retiring = %s AND grant_id > %s ORDER BY grant_id LIMIT %s",
            (retiring_principal, after or "", limit + 1),
        )
        grants = tuple(rows.grant(r) for r in found[:limit])
        return Page(grants, grants[-1].grant_id if len(found) > limit else None)

    # -- writes (only called inside a transaction) ---------------------------------------------------------
    def insert_key(self, key: Key, wrapped_material: bytes | None, policy: str, tags: Sequence[Tag]) -> None:
        self._write(
            _INSERT_KEY,
            rows.key_values(key),
        )
        if wrapped_material is not None:
            first = MaterialVersion(key.store_id, key.current_version, key.creation_date, None)
            self.add_material(first, wrapped_material)
        self._write("INSERT INTO key_policies (key_id, policy) VALUES (%s, %s)", (key.store_id, policy))
        self.put_tags(key.store_id, tags)

    def update_key(self, key: Key, expected_revision: int) -> None:
        if self._write(_UPDATE_KEY, (*rows.key_values(key)[1:], key.store_id, expected_revision)) != 1:
            raise ConflictError(key.store_id)

    def delete_key(self, key_id: KeyId) -> None:
        self._write("DELETE FROM keys WHERE key_id = %s", (key_id,))

    def rewrap_material(self, key_id: KeyId, version: int, old: bytes, new: bytes) -> bool:
        sql = "UPDATE key_material SET wrapped = %s WHERE key_id = %s AND version = %s AND wrapped = %s"
        return self._write(sql, (new, key_id, version, old)) == 1

    def rewrap_secret(self, access_key_id: str, old: bytes, new: bytes) -> bool:
        sql = "UPDATE access_keys SET wrapped_secret = %s WHERE access_key_id = %s AND wrapped_secret = %s"
        return self._write(sql, (new, access_key_id, old)) == 1

    def put_policy(self, key_id: KeyId, policy: str) -> None:
        self._write("UPDATE key_policies SET policy = %s WHERE key_id = %s", (policy, key_id))

    def put_tags(self, key_id: KeyId, tags: Sequence[Tag]) -> None:
        # One statement per tag (psycopg pipelines them), so a key given twice ends as its last value, as in
        # SQLite; a single multi-row upsert would refuse to touch the same row twice.
        if tags:
            cur = self._c.cursor()
            cur.executemany(
                "INSERT INTO tags (key_id, tag_key, tag_value) VALUES (%s, %s, %s) "
                "ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                [(key_id, t.tag_key, t.tag_value) for t in tags],
            )
            self._changes += max(cur.rowcount, 0)

    def delete_tags(self, key_id: KeyId, tag_keys: Sequence[str]) -> None:
        self._write("DELETE FROM tags WHERE key_id = %s AND tag_key = ANY(%s)", (key_id, list(tag_keys)))

    def insert_alias(self, alias: Alias) -> None:
        self._insert(
            _INSERT_ALIAS,
            rows.alias_values(alias),
            alias.name,
        )

    def update_alias(self, alias: Alias) -> None:
        self._write(
            "UPDATE aliases SET key_id = %s, last_updated_date = %s WHERE account = %s AND region = %s AND name = %s",
            (alias.target_key_id, alias.last_updated_date, alias.account, alias.region, alias.name),
        )

    def delete_alias(self, account: AccountId, region: Region, name: AliasName) -> None:
        self._write("DELETE FROM aliases WHERE account = %s AND region = %s AND name = %s", (account, region, name))

    def put_access_key(self, access_key: AccessKey) -> None:
        self._insert(
            _INSERT_ACCESS_KEY,
            rows.access_key_values(access_key),
            access_key.access_key_id,
        )

    def set_access_key_active(self, access_key_id: str, active: bool) -> None:
        self._write("UPDATE access_keys SET active = %s WHERE access_key_id = %s", (active, access_key_id))

    def delete_access_key(self, access_key_id: str) -> None:
        self._write("DELETE FROM access_keys WHERE access_key_id = %s", (access_key_id,))

    def delete_user(self, arn: str) -> None:
        self._write("DELETE FROM users WHERE arn = %s", (arn,))

    def delete_account(self, account: AccountId) -> None:
        self._write("DELETE FROM accounts WHERE account = %s", (account,))

    def wipe(self) -> None:
        # A key's other rows go with it (CASCADE), a store's exposures with it; the registered HSM clusters
        # stay, as the blobs do.
        for table in ("keys", "access_keys", "users", "accounts", "custom_key_stores", "xks_stores"):
            self._write(f"DELETE FROM {table}", ())

    def put_account(self, account: Account) -> None:
        self._write(
            "INSERT INTO accounts (account, created) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (account.account, account.created),
        )

    def insert_user(self, user: User) -> None:
        self._insert(
            _INSERT_USER,
            rows.user_values(user),
            user.arn,
        )

    def put_user_policy(self, arn: str, policy: str | None) -> None:
        self._write("UPDATE users SET policy = %s, policy_revision = policy_revision + 1 WHERE arn = %s", (policy, arn))

    def insert_grant(self, grant: Grant) -> None:
        self._write(
            _INSERT_GRANT,
            rows.grant_values(grant),
        )

    def delete_grant(self, grant_id: str) -> None:
        self._write("DELETE FROM grants WHERE grant_id = %s", (grant_id,))

    def delete_outbox(self, event_ids: Sequence[str]) -> None:
        self._write("DELETE FROM audit_outbox WHERE event_id = ANY(%s)", (list(event_ids),))
