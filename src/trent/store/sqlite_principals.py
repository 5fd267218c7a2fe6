"""The SQLite store's principals: accounts, users and access keys (the schema is in trent/store/sqlite_schema.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey, Account, User
from trent.store import sqlite_rows as records
from trent.store.base import DuplicateError


class SqlitePrincipals:
    """Reads and writes of accounts, users and access_keys, over the store's one connection. Parsed access
    keys are kept in `_access_keys` while their secret and state are unchanged."""

    _c: sqlite3.Connection
    _access_keys: dict[str, AccessKey]

    def get_account(self, account: AccountId) -> Account | None:
        row = self._c.execute("SELECT account, created FROM accounts WHERE account = ?", (account,)).fetchone()
        return None if row is None else Account(AccountId(row[0]), datetime.fromtimestamp(row[1], UTC))

    def list_accounts(self) -> tuple[Account, ...]:
        rows = self._c.execute("SELECT account, created FROM accounts ORDER BY account")
        return tuple(Account(AccountId(a), datetime.fromtimestamp(c, UTC)) for a, c in rows)

    def put_account(self, account: Account) -> None:
        self._c.execute(
            "INSERT OR IGNORE INTO accounts (account, created) VALUES (?, ?)",
            (account.account, account.created.timestamp()),
        )

    def delete_account(self, account: AccountId) -> None:
        self._c.execute("DELETE FROM accounts WHERE account = ?", (account,))

    def get_user(self, arn: str) -> User | None:
        row = self._c.execute(f"SELECT {records.USER_COLUMNS} FROM users WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else records.user(row)

    def list_users(self, account: AccountId | None) -> tuple[User, ...]:
        sql = f"SELECT {records.USER_COLUMNS} FROM users"
        rows = (
            self._c.execute(sql + " ORDER BY arn")
            if account is None
            else self._c.execute(sql + " WHERE account = ? ORDER BY arn", (account,))
        )
        return tuple(records.user(r) for r in rows)

    def insert_user(self, user: User) -> None:
        try:
            self._c.execute(
                f"INSERT INTO users ({records.USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (user.arn, user.account, user.name, user.created.timestamp(), user.policy, user.policy_revision),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(user.arn) from exc

    def put_user_policy(self, arn: str, policy: str | None) -> None:
        self._c.execute(
            "UPDATE users SET policy = ?, policy_revision = policy_revision + 1 WHERE arn = ?", (policy, arn)
        )

    def delete_user(self, arn: str) -> None:
        self._c.execute("DELETE FROM users WHERE arn = ?", (arn,))

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
        record = records.access_key(row)
        if len(self._access_keys) >= records.CACHE_SIZE:
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
        return tuple(records.access_key(r) for r in rows)

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
