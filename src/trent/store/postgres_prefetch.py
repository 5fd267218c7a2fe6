"""The PostgreSQL store's reads of a batch of requests (trent/store/prefetch.py): one round trip, pipelined, on
the store's asynchronous connection, made in the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg

from trent import metrics
from trent.kms.ids import KeyId
from trent.kms.keys import AccessKey, Alias, Key, User
from trent.pgsession import connect_async
from trent.store import postgres_rows as rows
from trent.store.base import AliasRef

_KEYS = f"SELECT {rows.KEY_COLUMNS} FROM keys"
# An access key with its user, if its principal is one: a batch's callers in one statement.
_ACCESS_KEYS_WITH_USERS = (
    "SELECT "
    + ", ".join(f"k.{c.strip()}" for c in rows.ACCESS_KEY_COLUMNS.split(","))
    + ", "
    + ", ".join(f"u.{c.strip()}" for c in rows.USER_COLUMNS.split(","))
    + " FROM access_keys k LEFT JOIN users u ON u.arn = k.principal_arn WHERE k.access_key_id = ANY(%s)"
)
_ACCESS_KEY_WIDTH = len(rows.ACCESS_KEY_COLUMNS.split(","))
_WANTED = "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
_ALIAS_COLUMNS_OF_A = ", ".join(f"a.{c.strip()}" for c in rows.ALIAS_COLUMNS.split(","))
_ALIASES_WITH_TARGETS = (
    f"SELECT {_ALIAS_COLUMNS_OF_A}, "
    + ", ".join(f"t.{c.strip()}" for c in rows.KEY_COLUMNS.split(","))
    + f" FROM (SELECT {_ALIAS_COLUMNS_OF_A} FROM aliases a WHERE (a.account, a.region, a.name) IN ({_WANTED})"
    f" UNION SELECT {_ALIAS_COLUMNS_OF_A} FROM aliases a JOIN access_keys k ON k.account = a.account"
    f" WHERE (k.access_key_id, a.region, a.name) IN ({_WANTED})) a LEFT JOIN keys t ON t.key_id = a.key_id"
)


class PostgresPrefetch:
    """The batcher's reads; PostgresOps makes the asynchronous connection's slots (`_ac`, `_ac_loop`)."""

    _url: str
    _ac: psycopg.AsyncConnection[Any] | None
    _ac_loop: asyncio.AbstractEventLoop | None
    round_trips: int

    def _drop_async(self) -> None:
        """Close the asynchronous connection without an event loop (libpq's finish: the socket goes)."""
        if self._ac is not None:
            self._ac.pgconn.finish()
            self._ac = None

    async def read_many(
        self,
        access_key_ids: Sequence[str],
        key_ids: Sequence[KeyId],
        alias_refs: Sequence[AliasRef],
        aliases_of_callers: Sequence[tuple[str, str, str]],
    ) -> tuple[dict[str, AccessKey], dict[str, User], dict[KeyId, Key], list[Alias]]:
        """What a batch reads, in one round trip on this store's asynchronous connection (the event loop goes
        on meanwhile): the access keys, their users, the keys, and the aliases named by ARN (`alias_refs`) or
        by name in the caller's account (`aliases_of_callers`: access key id, region, name), each with its
        target key. Up to three statements in pipeline mode, each its own snapshot."""
        ids = list(access_key_ids)
        by_ref = ([r[0] for r in alias_refs], [r[1] for r in alias_refs], [r[2] for r in alias_refs])
        by_caller = tuple([r[i] for r in aliases_of_callers] for i in range(3))
        # A statement with nothing to look up is not sent: most batches name no alias, and PostgreSQL's CPU
        # per batch is mostly per statement, not per row (benchmarks/results/cluster.md).
        queries: list[tuple[str, Sequence[Any]] | None] = [
            (_ACCESS_KEYS_WITH_USERS, (ids,)) if ids else None,
            (_KEYS + " WHERE key_id = ANY(%s)", (list(key_ids),)) if key_ids else None,
            (_ALIASES_WITH_TARGETS, (*by_ref, *by_caller)) if alias_refs or aliases_of_callers else None,
        ]
        if not any(queries):
            return {}, {}, {}, []
        loop = asyncio.get_running_loop()
        if self._ac is None or self._ac.broken or self._ac_loop is not loop:
            self._drop_async()  # broken, or made in another event loop (a test's previous asyncio.run)
            self._ac = await connect_async(self._url)
            self._ac_loop = loop
            metrics.STORE_CONNECTIONS.inc()
        self.round_trips += 1
        conn = self._ac
        async with conn.pipeline():
            # Binary results: no hex or timestamp text to parse, on either side.
            cursors = [None if q is None else await conn.execute(*q, binary=True) for q in queries]
        found: list[list[Any]] = [[] if cursor is None else await cursor.fetchall() for cursor in cursors]
        access_keys: dict[str, AccessKey] = {}
        users: dict[str, User] = {}
        for row in found[0]:
            record = rows.access_key(row[:_ACCESS_KEY_WIDTH])
            access_keys[record.access_key_id] = record
            if row[_ACCESS_KEY_WIDTH] is not None:
                user = rows.user(row[_ACCESS_KEY_WIDTH:])
                users[user.arn] = user
        keys = {k.store_id: k for k in map(rows.key, found[1])}
        aliases = []
        width = len(rows.ALIAS_COLUMNS.split(","))
        for row in found[2]:
            aliases.append(rows.alias(row[:width]))
            if row[width] is not None:
                target = rows.key(row[width:])
                keys[target.store_id] = target
        return access_keys, users, keys, aliases
