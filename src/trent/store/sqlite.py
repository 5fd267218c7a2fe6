"""SQLite store: the embedded default. WAL mode, so readers in every worker process see each commit at once.

Durability: synchronous=FULL, so a commit that returned survives kill -9 and power loss (the WAL is fsynced
at each commit). Writers take the database lock at BEGIN IMMEDIATE, so read-modify-write transactions are
serialized across processes. One connection per process; not shared across threads.

Reads outside a transaction are answered from a per-process memo while the store's epoch is unchanged
(decision 0006): every committed transaction, in any process, replaces the epoch (16 random bytes in a
shared memory-mapped file beside the database) before it returns, and a read checks the epoch before it
trusts the memo, so a read that starts after a write returned sees that write, in every process.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from trent.kms.ids import AccountId, AliasName, KeyId, Region, public_key_id, related_id_range
from trent.kms.keys import (
    AccessKey,
    Account,
    Alias,
    Grant,
    Key,
    MaterialVersion,
    Tag,
    User,
)
from trent.kms.keystores import CustomKeyStore
from trent.kms.specs import ExpirationModel, KeySpec, KeyState, KeyUsage, Origin
from trent.store import constraints, sqlite_xks
from trent.store.base import (
    AliasRef,
    ConflictError,
    DuplicateError,
    KeyUse,
    Page,
    SchemaTooNewError,
    Transaction,
    Unit,
    WrappedRow,
)
from trent.store.sqlite_keystores import SCHEMA_V8, SqliteKeyStores
from trent.store.sqlite_materials import SqliteMaterials

_T = TypeVar("_T")
_K = TypeVar("_K")

_SCHEMA: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE keys (
        key_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        spec TEXT NOT NULL,
        usage TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        creation_date REAL NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        deletion_date REAL,
        pending_window_days INTEGER,
        current_version INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        policy_revision INTEGER NOT NULL,
        multi_region INTEGER NOT NULL DEFAULT 0,
        valid_to REAL,
        expiration_model TEXT,
        rotation_period_days INTEGER,
        next_rotation_date REAL,
        on_demand_rotation_start REAL
    );
    CREATE INDEX keys_by_scope ON keys (account, region, key_id);
    CREATE INDEX keys_by_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
    CREATE TABLE key_material (
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        wrapped BLOB NOT NULL,
        created REAL NOT NULL,
        rotation_type TEXT,
        PRIMARY KEY (key_id, version)
    );
    CREATE TABLE key_policies (
        key_id TEXT PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        policy TEXT NOT NULL
    );
    CREATE TABLE tags (
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
    );
    CREATE TABLE aliases (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        creation_date REAL NOT NULL,
        last_updated_date REAL NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE INDEX aliases_by_key ON aliases (key_id);
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        principal_arn TEXT NOT NULL,
        wrapped_secret BLOB NOT NULL,
        created REAL NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    """,
    # version 2: principals and grants
    """
    CREATE TABLE accounts (
        account TEXT PRIMARY KEY,
        created REAL NOT NULL
    );
    INSERT INTO accounts (account, created) SELECT DISTINCT account, min(created) FROM access_keys GROUP BY account;
    CREATE TABLE users (
        arn TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        created REAL NOT NULL,
        policy TEXT,
        policy_revision INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account, name)
    );
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        grantee TEXT NOT NULL,
        operations TEXT NOT NULL,
        issuing_account TEXT NOT NULL,
        created REAL NOT NULL,
        name TEXT,
        retiring TEXT,
        constraints TEXT
    );
    CREATE INDEX grants_by_key ON grants (key_id, grant_id);
    CREATE INDEX grants_by_retiring ON grants (retiring, grant_id);
    """,
    # version 3: the audit outbox, each change's audit record committed with it (decision 0009). The row is
    # opaque here: the audit writer's encoding of the record, which it appends to the chain, then deletes.
    """
    CREATE TABLE audit_outbox (
        event_id TEXT PRIMARY KEY,
        row BLOB NOT NULL
    );
    """,
    # version 4: opaque records other components authenticate themselves (the audit chain's identity and
    # checkpoint, docs/decisions/0008-audit-retention.md); kept here because deleting this database loses
    # every key anyway, so it is the one place whose loss is not silent.
    """
    CREATE TABLE blobs (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    """,
    # version 5: each key's latest successful use (GetKeyLastUsage), recorded by the audit writers (before
    # issue 12 audit.db kept it), and since when: this version's arrival. Uses audit.db recorded before it
    # are not carried over, so TrackingStartDate says from when the answers are complete.
    """
    CREATE TABLE key_use (
        key_arn TEXT PRIMARY KEY,
        used REAL NOT NULL,
        operation TEXT NOT NULL,
        event_id TEXT NOT NULL,
        request_id TEXT NOT NULL
    );
    CREATE TABLE key_use_tracking (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        since REAL NOT NULL
    );
    INSERT INTO key_use_tracking (id, since) VALUES (1, (julianday('now') - 2440587.5) * 86400.0);
    """,
    # version 6: imported key material (issue 13, docs/decisions/0012-import-key-material.md). A version's
    # bytes may be gone (deleted or expired imported material keeps its record), so key_material is rebuilt
    # with `wrapped` nullable, plus each version's description and expiry; the KeyMaterialId of each imported
    # version rides on the key (material_ids, comma-separated); import_parameters holds each EXTERNAL key's
    # latest GetParametersForImport set: a digest of its token, and its wrapping private key, wrapped.
    """
    CREATE TABLE key_material_v6 (
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        wrapped BLOB,
        created REAL NOT NULL,
        rotation_type TEXT,
        description TEXT,
        expiration_model TEXT,
        valid_to REAL,
        PRIMARY KEY (key_id, version)
    );
    INSERT INTO key_material_v6 (key_id, version, wrapped, created, rotation_type)
        SELECT key_id, version, wrapped, created, rotation_type FROM key_material;
    DROP TABLE key_material;
    ALTER TABLE key_material_v6 RENAME TO key_material;
    CREATE INDEX key_material_by_expiry ON key_material (valid_to) WHERE valid_to IS NOT NULL;
    ALTER TABLE keys ADD COLUMN material_ids TEXT NOT NULL DEFAULT '';
    CREATE TABLE import_parameters (
        key_id TEXT PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        token_digest BLOB NOT NULL,
        wrapping_algorithm TEXT NOT NULL,
        wrapping_key_spec TEXT NOT NULL,
        wrapped_private_key BLOB NOT NULL,
        created REAL NOT NULL,
        valid_to REAL NOT NULL
    );
    """,
    # version 7: multi-Region keys (docs/multi-region.md). Related keys share a key id, so the store knows each
    # by `<key id>/<region>` (kms/ids.py regional_key_id); each names the region of their primary key.
    """
    ALTER TABLE keys ADD COLUMN primary_region TEXT;
    """,
    # version 8: custom key stores, their HSM clusters, and each key's store (store/sqlite_keystores.py)
    SCHEMA_V8,
    # version 9: the XKS proxy's logical key stores and exposures (docs/xks.md, trent/store/sqlite_xks.py)
    sqlite_xks.SCHEMA,
    # version 10: each key's external key (XksKeyId) for keys in an external key store (decision 0016)
    """
    ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
    """,
)
_KEY_USE = (
    "INSERT INTO key_use (key_arn, used, operation, event_id, request_id) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key_arn) DO UPDATE SET used = excluded.used, operation = excluded.operation, "
    "event_id = excluded.event_id, request_id = excluded.request_id WHERE excluded.used >= key_use.used"
)

_KEY_COLUMNS = (
    "key_id, account, region, spec, usage, origin, state, creation_date, description, deletion_date, "
    "pending_window_days, current_version, revision, policy_revision, multi_region, valid_to, expiration_model, "
    "rotation_period_days, next_rotation_date, on_demand_rotation_start, material_ids, primary_region, "
    "custom_key_store_id, xks_key_id"
)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _key(row: Any) -> Key:
    return Key(
        key_id=public_key_id(row[0]),
        account=AccountId(row[1]),
        region=Region(row[2]),
        spec=KeySpec(row[3]),
        usage=KeyUsage(row[4]),
        origin=Origin(row[5]),
        state=KeyState(row[6]),
        creation_date=datetime.fromtimestamp(row[7], UTC),
        description=row[8],
        deletion_date=_dt(row[9]),
        pending_window_days=row[10],
        current_version=row[11],
        revision=row[12],
        policy_revision=row[13],
        multi_region=bool(row[14]),
        valid_to=_dt(row[15]),
        expiration_model=None if row[16] is None else ExpirationModel(row[16]),
        rotation_period_days=row[17],
        next_rotation_date=_dt(row[18]),
        on_demand_rotation_start=_dt(row[19]),
        material_ids=tuple(row[20].split(",")) if row[20] else (),
        primary_region=None if row[21] is None else Region(row[21]),
        custom_key_store_id=row[22],
        xks_key_id=row[23],
    )


def _key_values(key: Key) -> tuple[Any, ...]:
    return (
        key.store_id,
        key.account,
        key.region,
        key.spec.value,
        key.usage.value,
        key.origin.value,
        key.state.value,
        key.creation_date.timestamp(),
        key.description,
        _ts(key.deletion_date),
        key.pending_window_days,
        key.current_version,
        key.revision,
        key.policy_revision,
        int(key.multi_region),
        _ts(key.valid_to),
        None if key.expiration_model is None else key.expiration_model.value,
        key.rotation_period_days,
        _ts(key.next_rotation_date),
        _ts(key.on_demand_rotation_start),
        ",".join(key.material_ids),
        key.primary_region,
        key.custom_key_store_id,
        key.xks_key_id,
    )


def _alias(row: Any) -> Alias:
    return Alias(
        account=AccountId(row[0]),
        region=Region(row[1]),
        name=AliasName(row[2]),
        target_key_id=KeyId(row[3]),
        creation_date=datetime.fromtimestamp(row[4], UTC),
        last_updated_date=datetime.fromtimestamp(row[5], UTC),
    )


def _access_key(row: Any) -> AccessKey:
    return AccessKey(
        access_key_id=row[0],
        account=AccountId(row[1]),
        principal_arn=row[2],
        wrapped_secret=bytes(row[3]),
        created=datetime.fromtimestamp(row[4], UTC),
        active=bool(row[5]),
    )


def _grant(row: Any) -> Grant:
    return Grant(
        grant_id=row[0],
        key_id=KeyId(row[1]),
        grantee_principal=row[2],
        operations=tuple(row[3].split(",")),
        issuing_account=AccountId(row[4]),
        created=datetime.fromtimestamp(row[5], UTC),
        name=row[6],
        retiring_principal=row[7],
        constraints=constraints.decode(row[8]),
    )


_CACHE_SIZE = 20_000
# Ids per statement of a many-record read: below SQLite's 999-variable limit of old builds, even for 3 per alias.
_CHUNK = 300
_ALIAS_SELECTED = "a.account, a.region, a.name, a.key_id, a.creation_date, a.last_updated_date"

_GRANT_COLUMNS = "grant_id, key_id, grantee, operations, issuing_account, created, name, retiring, constraints"
_USER_COLUMNS = "arn, account, name, created, policy, policy_revision"


def _user(row: Any) -> User:
    return User(row[0], AccountId(row[1]), row[2], datetime.fromtimestamp(row[3], UTC), row[4], row[5])


class _SqliteOps(SqliteKeyStores, SqliteMaterials, sqlite_xks.SqliteXks):
    """Every read and write, over one connection; SqliteStore and the transaction share it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
        self._keys: dict[str, Key] = {}
        self._access_keys: dict[str, AccessKey] = {}

    def forget_cached(self) -> None:
        """Drop the parsed records (after a dev server's reset, ops/reset.py forget_cached)."""
        self._keys.clear()
        self._access_keys.clear()

    # -- reads -------------------------------------------------------------------------------------------
    def get_key(self, key_id: KeyId) -> Key | None:
        # The revision is read fresh every time; the parsed record of a revision never changes, so it is kept.
        found = self._c.execute("SELECT revision FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if found is None:
            return None
        cached = self._keys.get(key_id)
        if cached is not None and cached.revision == found[0]:
            return cached
        row = self._c.execute(f"SELECT {_KEY_COLUMNS} FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            return None
        key = _key(row)
        if len(self._keys) >= _CACHE_SIZE:
            self._keys.clear()
        self._keys[key_id] = key
        return key

    def get_keys(self, key_ids: Sequence[KeyId]) -> Mapping[KeyId, Key]:
        found: dict[KeyId, Key] = {}
        unique = list(dict.fromkeys(key_ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            rows = self._c.execute(
                f"SELECT {_KEY_COLUMNS} FROM keys WHERE key_id IN ({', '.join('?' * len(chunk))})", chunk
            )
            for row in rows:
                # A revision's parsed record never changes: reuse it, as get_key does.
                cached = self._keys.get(row[0])
                key = cached if cached is not None and cached.revision == row[12] else _key(row)
                if cached is not key:
                    if len(self._keys) >= _CACHE_SIZE:
                        self._keys.clear()
                    self._keys[key.store_id] = key
                found[key.store_id] = key
        return found

    def list_keys(self, account: AccountId, region: Region, after: str | None, limit: int) -> Page[Key]:
        rows = self._c.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE account = ? AND region = ? AND key_id > ? ORDER BY key_id LIMIT ?",
            (account, region, after or "", limit + 1),
        ).fetchall()
        keys = tuple(_key(r) for r in rows[:limit])
        return Page(keys, keys[-1].store_id if len(rows) > limit else None)

    def related_keys(self, key_id: KeyId) -> tuple[Key, ...]:
        rows = self._c.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE key_id >= ? AND key_id < ? ORDER BY key_id",
            related_id_range(key_id),
        )
        return tuple(_key(r) for r in rows)

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
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE next_rotation_date IS NOT NULL AND next_rotation_date <= ?",
            (now.timestamp(),),
        )
        return tuple(_key(r) for r in rows)

    def get_policy(self, key_id: KeyId) -> str | None:
        row = self._c.execute("SELECT policy FROM key_policies WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else str(row[0])

    def get_tags(self, key_id: KeyId) -> tuple[Tag, ...]:
        rows = self._c.execute("SELECT tag_key, tag_value FROM tags WHERE key_id = ? ORDER BY tag_key", (key_id,))
        return tuple(Tag(k, v) for k, v in rows)

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        row = self._c.execute(
            "SELECT account, region, name, key_id, creation_date, last_updated_date FROM aliases "
            "WHERE account = ? AND region = ? AND name = ?",
            (account, region, name),
        ).fetchone()
        return None if row is None else _alias(row)

    def get_aliases(self, refs: Sequence[AliasRef]) -> Mapping[AliasRef, Alias]:
        found: dict[AliasRef, Alias] = {}
        unique = list(dict.fromkeys(refs))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            # A join from the wanted rows, not `(account, region, name) IN (VALUES ...)`: SQLite plans that
            # as a scan of every alias, and this as one primary-key search per wanted row.
            rows = self._c.execute(
                f"WITH wanted (account, region, name) AS (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) "
                f"SELECT {_ALIAS_SELECTED} FROM wanted CROSS JOIN aliases AS a "
                "ON a.account = wanted.account AND a.region = wanted.region AND a.name = wanted.name",
                [part for ref in chunk for part in ref],
            )
            for row in rows:
                alias = _alias(row)
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
        aliases = tuple(_alias(r) for r in rows[:limit])
        return Page(aliases, aliases[-1].name if len(rows) > limit else None)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        found = self._c.execute(
            "SELECT active, wrapped_secret FROM access_keys WHERE access_key_id = ?", (access_key_id,)
        ).fetchone()
        if found is None:
            return None
        cached = self._access_keys.get(access_key_id)
        if cached is not None and cached.active == bool(found[0]) and cached.wrapped_secret == found[1]:
            return cached
        row = self._c.execute(
            "SELECT access_key_id, account, principal_arn, wrapped_secret, created, active FROM access_keys "
            "WHERE access_key_id = ?",
            (access_key_id,),
        ).fetchone()
        if row is None:
            return None
        record = _access_key(row)
        if len(self._access_keys) >= _CACHE_SIZE:
            self._access_keys.clear()
        self._access_keys[access_key_id] = record
        return record

    def list_access_keys(self, account: AccountId | None) -> tuple[AccessKey, ...]:
        sql = "SELECT access_key_id, account, principal_arn, wrapped_secret, created, active FROM access_keys"
        rows = (
            self._c.execute(sql + " ORDER BY access_key_id")
            if account is None
            else self._c.execute(sql + " WHERE account = ? ORDER BY access_key_id", (account,))
        )
        return tuple(_access_key(r) for r in rows)

    def get_account(self, account: AccountId) -> Account | None:
        row = self._c.execute("SELECT account, created FROM accounts WHERE account = ?", (account,)).fetchone()
        return None if row is None else Account(AccountId(row[0]), datetime.fromtimestamp(row[1], UTC))

    def list_accounts(self) -> tuple[Account, ...]:
        rows = self._c.execute("SELECT account, created FROM accounts ORDER BY account")
        return tuple(Account(AccountId(a), datetime.fromtimestamp(c, UTC)) for a, c in rows)

    def get_user(self, arn: str) -> User | None:
        row = self._c.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else _user(row)

    def list_users(self, account: AccountId | None) -> tuple[User, ...]:
        sql = f"SELECT {_USER_COLUMNS} FROM users"
        rows = (
            self._c.execute(sql + " ORDER BY arn")
            if account is None
            else self._c.execute(sql + " WHERE account = ? ORDER BY arn", (account,))
        )
        return tuple(_user(r) for r in rows)

    def count_keys(self, account: AccountId) -> int:
        (count,) = self._c.execute("SELECT count(*) FROM keys WHERE account = ?", (account,)).fetchone()
        return int(count)

    def is_empty(self) -> bool:
        row = self._c.execute(
            "SELECT EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM users) "
            "OR EXISTS (SELECT 1 FROM access_keys) OR EXISTS (SELECT 1 FROM keys)"
        ).fetchone()
        return not row[0]

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._c.execute(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE grant_id = ?", (grant_id,)).fetchone()
        return None if row is None else _grant(row)

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]:
        rows = self._c.execute(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE key_id = ? ORDER BY grant_id", (key_id,))
        return tuple(_grant(r) for r in rows)

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> Page[Grant]:
        rows = self._c.execute(
            f"SELECT {_GRANT_COLUMNS} FROM grants WHERE retiring = ? AND grant_id > ? ORDER BY grant_id LIMIT ?",
            (retiring_principal, after or "", limit + 1),
        ).fetchall()
        grants = tuple(_grant(r) for r in rows[:limit])
        return Page(grants, grants[-1].grant_id if len(rows) > limit else None)

    def keys_due_for_deletion(self, now: datetime) -> tuple[Key, ...]:
        rows = self._c.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE state = ? AND deletion_date <= ?",
            (KeyState.PENDING_DELETION.value, now.timestamp()),
        )
        return tuple(_key(r) for r in rows)

    # -- writes (only called inside a transaction) -----------------------------------------------------------
    def insert_key(self, key: Key, wrapped_material: bytes | None, policy: str, tags: Sequence[Tag]) -> None:
        placeholders = ", ".join("?" * len(_KEY_COLUMNS.split(",")))
        self._c.execute(f"INSERT INTO keys ({_KEY_COLUMNS}) VALUES ({placeholders})", _key_values(key))
        if wrapped_material is not None:
            first = MaterialVersion(key.store_id, key.current_version, key.creation_date, None)
            self.add_material(first, wrapped_material)
        self._c.execute("INSERT INTO key_policies (key_id, policy) VALUES (?, ?)", (key.store_id, policy))
        self.put_tags(key.store_id, tags)

    def update_key(self, key: Key, expected_revision: int) -> None:
        columns = [c.strip() for c in _KEY_COLUMNS.split(",")][1:]
        assignments = ", ".join(f"{c} = ?" for c in columns)
        cur = self._c.execute(
            f"UPDATE keys SET {assignments} WHERE key_id = ? AND revision = ?",
            (*_key_values(key)[1:], key.store_id, expected_revision),
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

    def put_account(self, account: Account) -> None:
        self._c.execute(
            "INSERT OR IGNORE INTO accounts (account, created) VALUES (?, ?)",
            (account.account, account.created.timestamp()),
        )

    def insert_user(self, user: User) -> None:
        try:
            self._c.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (user.arn, user.account, user.name, user.created.timestamp(), user.policy, user.policy_revision),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(user.arn) from exc

    def put_user_policy(self, arn: str, policy: str | None) -> None:
        self._c.execute(
            "UPDATE users SET policy = ?, policy_revision = policy_revision + 1 WHERE arn = ?", (policy, arn)
        )

    def insert_grant(self, grant: Grant) -> None:
        self._c.execute(
            f"INSERT INTO grants ({_GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def delete_outbox(self, event_ids: Sequence[str]) -> None:
        self._c.executemany("DELETE FROM audit_outbox WHERE event_id = ?", [(e,) for e in event_ids])

    def put_access_key(self, access_key: AccessKey) -> None:
        try:
            self._c.execute(
                "INSERT INTO access_keys (access_key_id, account, principal_arn, wrapped_secret, created, active) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    access_key.access_key_id,
                    access_key.account,
                    access_key.principal_arn,
                    access_key.wrapped_secret,
                    access_key.created.timestamp(),
                    int(access_key.active),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(access_key.access_key_id) from exc

    def set_access_key_active(self, access_key_id: str, active: bool) -> None:
        self._c.execute("UPDATE access_keys SET active = ? WHERE access_key_id = ?", (int(active), access_key_id))

    def rewrap_secret(self, access_key_id: str, old: bytes, new: bytes) -> bool:
        cur = self._c.execute(
            "UPDATE access_keys SET wrapped_secret = ? WHERE access_key_id = ? AND wrapped_secret = ?",
            (new, access_key_id, old),
        )
        return cur.rowcount == 1

    def delete_access_key(self, access_key_id: str) -> None:
        self._c.execute("DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,))

    def delete_user(self, arn: str) -> None:
        self._c.execute("DELETE FROM users WHERE arn = ?", (arn,))

    def delete_account(self, account: AccountId) -> None:
        self._c.execute("DELETE FROM accounts WHERE account = ?", (account,))

    def wipe(self) -> None:
        for table in _WIPED:  # a key's rows in other tables go with it (ON DELETE CASCADE)
            self._c.execute(f"DELETE FROM {table}")


_WIPED = ("keys", "access_keys", "users", "accounts", "custom_key_stores", "xks_exposures", "xks_stores")
_EPOCH_BYTES = 16
_MEMO_SIZE = 4096


class Epoch:
    """A token that every committed write replaces, shared by every process that opens the database.

    Readers only compare it for equality, so it need not be ordered: a fresh random value per commit can
    never repeat one a reader remembers, whichever of two racing writers stores last.
    """

    def __init__(self, database: Path | str) -> None:
        self._map: mmap.mmap | bytearray
        if str(database) == ":memory:":
            self._map = bytearray(_EPOCH_BYTES)
            return
        path = Path(f"{database}-epoch")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _EPOCH_BYTES:
                os.ftruncate(fd, _EPOCH_BYTES)
            self._map = mmap.mmap(fd, _EPOCH_BYTES)
        finally:
            os.close(fd)

    def read(self) -> bytes:
        return bytes(self._map[:_EPOCH_BYTES])

    def advance(self) -> None:
        self._map[:_EPOCH_BYTES] = os.urandom(_EPOCH_BYTES)

    def close(self) -> None:
        if isinstance(self._map, mmap.mmap):
            self._map.close()


class _SqliteUnit:
    """A unit's state: whether its transaction has begun, and the connection's change count at that moment."""

    __slots__ = ("_c", "began", "_changes")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
        self.began = False
        self._changes = 0

    def begin(self) -> None:
        # IMMEDIATE: take the write lock now, as a lone transaction does, so read-modify-write stays serialized.
        self._c.execute("BEGIN IMMEDIATE")
        self.began = True
        self._changes = self._c.total_changes

    def mark(self) -> tuple[int, int]:
        return self._c.total_changes, self._changes

    def undo_to(self, mark: tuple[int, int]) -> None:
        """A failed block was rolled back to `mark`: total_changes still counts its changes, so stop counting
        them (whatever blocks inside it already did), and wrote() answers as it did at the mark."""
        total, changes = mark
        self._changes = changes + self._c.total_changes - total

    def wrote(self) -> bool:
        return self.began and self._c.total_changes != self._changes

    def journal(self, event_id: str, row: bytes) -> None:
        if not self.wrote():
            raise RuntimeError("a unit that changed nothing has nothing to journal")
        self._c.execute("INSERT INTO audit_outbox (event_id, row) VALUES (?, ?)", (event_id, row))


class SqliteStore(_SqliteOps):
    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        """`durable=False` (a dev server's throwaway data directory): synchronous=OFF, no fsync at all."""
        # isolation_level=None: autocommit; each read is its own snapshot; transactions are explicit.
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        self._synchronous = "FULL" if durable else "OFF"
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")  # first: switching to WAL syncs too
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        super().__init__(conn)
        self._epoch = Epoch(path)
        self._seen = b""
        self._memo: dict[tuple[str, Any], Any] = {}
        self._in_transaction = False
        self._unit: _SqliteUnit | None = None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _remembered(self, kind: str, args: Any, load: Callable[[], _T]) -> _T:
        """`load()`'s answer, from the memo while no write has committed since it was read.

        The epoch is read before the database, so a memo entry is never older than the epoch it is filed
        under. Inside a transaction the database itself answers (it holds the write lock).
        """
        if self._in_transaction:
            return load()
        epoch = self._epoch.read()
        if epoch != self._seen or len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
            self._seen = epoch
        entry = (kind, args)
        try:
            value: _T = self._memo[entry]
        except KeyError:
            value = self._memo[entry] = load()
        return value

    def get_key(self, key_id: KeyId) -> Key | None:
        return self._remembered("key", key_id, lambda: super(SqliteStore, self).get_key(key_id))

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        return self._remembered(
            "access_key", access_key_id, lambda: super(SqliteStore, self).get_access_key(access_key_id)
        )

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        return self._remembered(
            "alias", (account, region, name), lambda: super(SqliteStore, self).get_alias(account, region, name)
        )

    def get_keys(self, key_ids: Sequence[KeyId]) -> Mapping[KeyId, Key]:
        # The memo's entries are get_key's, so a batch and a lone read share them; only the ones it lacks are read.
        load = super().get_keys
        return self._remembered_many("key", key_ids, load)

    def get_aliases(self, refs: Sequence[AliasRef]) -> Mapping[AliasRef, Alias]:
        load = super().get_aliases
        return self._remembered_many("alias", refs, load)

    def _remembered_many(
        self, kind: str, ids: Sequence[_K], load: Callable[[Sequence[_K]], Mapping[_K, _T]]
    ) -> Mapping[_K, _T]:
        """As _remembered, for many records: the memo answers what it holds, one read the rest (absences too)."""
        if self._in_transaction:
            return load(ids)
        epoch = self._epoch.read()
        if epoch != self._seen or len(self._memo) + len(ids) > _MEMO_SIZE:
            self._memo.clear()
            self._seen = epoch
        missing = [i for i in ids if (kind, i) not in self._memo]
        if missing:
            loaded = load(missing)
            for i in missing:
                self._memo[(kind, i)] = loaded.get(i)
        found: dict[_K, _T] = {}
        for i in ids:
            value = self._memo[(kind, i)]
            if value is not None:
                found[i] = value
        return found

    def get_custom_key_store(self, custom_key_store_id: str) -> CustomKeyStore | None:
        load = super().get_custom_key_store
        return self._remembered("key_store", custom_key_store_id, lambda: load(custom_key_store_id))

    def get_user(self, arn: str) -> User | None:
        return self._remembered("user", arn, lambda: super(SqliteStore, self).get_user(arn))

    def get_policy(self, key_id: KeyId) -> str | None:
        return self._remembered("policy", key_id, lambda: super(SqliteStore, self).get_policy(key_id))

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]:
        return self._remembered("grants", key_id, lambda: super(SqliteStore, self).list_grants(key_id))

    def _migrate(self) -> None:
        with self.transaction():
            (version,) = self._c.execute("PRAGMA user_version").fetchone()
            if version > len(_SCHEMA):
                raise SchemaTooNewError("SQLite store database", version, len(_SCHEMA))
            for number, script in enumerate(_SCHEMA[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self._c.execute(statement)
                self._c.execute(f"PRAGMA user_version = {number}")

    def transaction(self) -> AbstractContextManager[Transaction]:
        return self._alone() if self._unit is None else self._step(self._unit)

    @contextmanager
    def _alone(self) -> Iterator[Transaction]:
        self._c.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        finally:
            self._in_transaction = False
        self._c.execute("COMMIT")
        # After the commit, before the caller can answer: no process may trust a memo from before it.
        self._epoch.advance()

    def get_blob(self, name: str) -> bytes | None:
        row = self._c.execute("SELECT value FROM blobs WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def update_blob(self, name: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None:
        """Replace the blob with `change(old)` (unless it returns None) atomically; return what is stored.

        No epoch advance: no memo holds blobs, so writing one (the audit writer's periodic checkpoint)
        leaves every worker's memo valid.
        """
        self._c.execute("BEGIN IMMEDIATE")
        try:
            row = self._c.execute("SELECT value FROM blobs WHERE name = ?", (name,)).fetchone()
            old = None if row is None else bytes(row[0])
            new = change(old)
            if new is not None and new != old:
                self._c.execute(
                    "INSERT INTO blobs (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, new),
                )
        except BaseException:
            self._c.execute("ROLLBACK")
            raise
        self._c.execute("COMMIT")
        return old if new is None else new

    @contextmanager
    def _step(self, unit: _SqliteUnit) -> Iterator[Transaction]:
        """A transaction inside a unit: begins the unit's transaction if it is the first; a savepoint keeps
        it atomic on its own (an op may catch the error of one block and go on)."""
        if not unit.began:
            unit.begin()
            self._in_transaction = True  # until the unit ends: its writes are not committed yet
        self._c.execute("SAVEPOINT step")
        mark = unit.mark()
        try:
            yield self
        except BaseException:
            if self._c.in_transaction:
                self._c.execute("ROLLBACK TO step")
                self._c.execute("RELEASE step")
            unit.undo_to(mark)
            # Records parsed inside the block may carry a revision that now never was, as in _rollback.
            self._keys.clear()
            self._access_keys.clear()
            raise
        self._c.execute("RELEASE step")

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        if self._unit is not None:
            raise RuntimeError("units do not nest")
        unit = self._unit = _SqliteUnit(self._c)
        try:
            yield unit
            if unit.began:
                self._c.execute("COMMIT")
        except BaseException:
            if unit.began:
                self._rollback()
            raise
        finally:
            self._unit = None
            self._in_transaction = False
        if unit.wrote():
            self._epoch.advance()

    def _rollback(self) -> None:
        # A failed COMMIT (disk full) may have ended the transaction already.
        if self._c.in_transaction:
            self._c.execute("ROLLBACK")
        # Records parsed inside the transaction may carry a revision that now never was: drop them.
        self._keys.clear()
        self._access_keys.clear()

    def outbox(self, limit: int) -> tuple[tuple[str, bytes], ...]:
        rows = self._c.execute("SELECT event_id, row FROM audit_outbox ORDER BY rowid LIMIT ?", (limit,))
        return tuple((event_id, bytes(row)) for event_id, row in rows)

    def record_key_uses(self, uses: Sequence[KeyUse]) -> None:
        """No epoch advance: no memo holds key uses. The commit is made with synchronous=NORMAL: in WAL mode
        that is still atomic and survives a crash of the process, but not a power loss before the next commit
        with synchronous=FULL (any other write): the audit writer, which calls this after each batch, is
        spared an fsync per batch for data that is advisory."""
        if self._c.in_transaction or self._unit is not None:
            raise RuntimeError("key uses are recorded outside any transaction")
        if not uses:
            return
        rows = [(u.key_arn, _ts(u.when), u.operation, u.event_id, u.request_id) for u in uses]
        self._c.execute(f"PRAGMA synchronous = {'NORMAL' if self._synchronous == 'FULL' else 'OFF'}")
        try:
            self._c.execute("BEGIN IMMEDIATE")
            try:
                self._c.executemany(_KEY_USE, rows)
            except BaseException:
                self._c.execute("ROLLBACK")
                raise
            self._c.execute("COMMIT")
        finally:
            self._c.execute(f"PRAGMA synchronous = {self._synchronous}")

    def key_last_use(self, key_arn: str) -> KeyUse | None:
        row = self._c.execute(
            "SELECT used, operation, event_id, request_id FROM key_use WHERE key_arn = ?", (key_arn,)
        ).fetchone()
        return None if row is None else KeyUse(key_arn, datetime.fromtimestamp(row[0], UTC), row[1], row[2], row[3])

    def key_use_tracking_start(self) -> datetime | None:
        row = self._c.execute("SELECT since FROM key_use_tracking WHERE id = 1").fetchone()
        return None if row is None else datetime.fromtimestamp(row[0], UTC)

    def close(self) -> None:
        self._c.close()
        self._epoch.close()


def read_blobs(path: Path | str) -> dict[str, bytes]:
    """Every blob of the store database at `path`, read without writing (also a copy in a read-only directory,
    which SQLite opens only as immutable when it has no -wal file); {} for a database older than version 4.
    SchemaTooNewError for one a newer Trent migrated: its blobs may mean something else."""
    mode = "ro" if Path(f"{path}-wal").exists() else "ro&immutable=1"
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode={mode}", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > len(_SCHEMA):
            raise SchemaTooNewError("SQLite store database", version, len(_SCHEMA))
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'blobs'").fetchone() is None:
            return {}
        rows = conn.execute("SELECT name, value FROM blobs")
        return {str(name): value if isinstance(value, bytes) else b"" for name, value in rows}
    finally:
        conn.close()


def schema_version(path: Path | str) -> int:
    """The version the store database at `path` was migrated to (0: never), read without writing."""
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        return int(version)
    finally:
        conn.close()
