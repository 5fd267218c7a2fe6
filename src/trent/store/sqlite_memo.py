"""The SQLite store's epoch and the per-process memo of reads it validates (decision 0006).

Every committed transaction, in any process, replaces the epoch (16 random bytes in a shared memory-mapped
file beside the database) before it returns; a read outside a transaction checks the epoch before it trusts
the memo, so a read that starts after a write returned sees that write, in every process.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import AccessKey, Alias, Grant, Key, User
from trent.kms.keystores import CustomKeyStore
from trent.store.base import AliasRef
from trent.store.sqlite_ops import SqliteOps

_T = TypeVar("_T")
_K = TypeVar("_K")

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


class SqliteMemo(SqliteOps):
    """SqliteOps whose lone reads of keys, aliases, access keys, users, policies, grants and custom key stores
    are remembered per process while the epoch is unchanged; SqliteStore sets `_in_transaction`, inside which
    the database itself answers, and advances the epoch after each commit."""

    def __init__(self, conn: sqlite3.Connection, database: Path | str) -> None:
        super().__init__(conn)
        self._epoch = Epoch(database)
        self._seen = b""
        self._memo: dict[tuple[str, Any], Any] = {}
        self._in_transaction = False

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
        return self._remembered("key", key_id, lambda: super(SqliteMemo, self).get_key(key_id))

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        return self._remembered(
            "access_key", access_key_id, lambda: super(SqliteMemo, self).get_access_key(access_key_id)
        )

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        return self._remembered(
            "alias", (account, region, name), lambda: super(SqliteMemo, self).get_alias(account, region, name)
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
        return self._remembered("user", arn, lambda: super(SqliteMemo, self).get_user(arn))

    def get_policy(self, key_id: KeyId) -> str | None:
        return self._remembered("policy", key_id, lambda: super(SqliteMemo, self).get_policy(key_id))

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]:
        return self._remembered("grants", key_id, lambda: super(SqliteMemo, self).list_grants(key_id))
