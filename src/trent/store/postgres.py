"""PostgreSQL store: one database shared by any number of stateless Trent nodes.

Consistency. Every read is a fresh statement on the primary, and nothing mutable is kept between calls: in
READ COMMITTED each statement takes a new snapshot, so a read that starts after a commit returned (on any
node) sees it. That is what makes "DisableKey returned, so no node serves the key" hold across nodes. The
SQLite store's per-process memo (decision 0006) has no counterpart here on purpose: its epoch lives in a
file that only processes on one machine share. LISTEN/NOTIFY is not used for correctness either: a
notification is delivered after the commit returned, with no bound on how long after (and not at all while
a listener reconnects), so a cache it invalidates would serve a disabled key for that long.

Connections. One per store, not shared across threads, like the SQLite store's. Each is opened with
autocommit=True and every transaction is an explicit `with conn.transaction()` block: without autocommit,
psycopg opens an implicit transaction on the first statement (even a read), after which `transaction()`
only makes a savepoint and nothing commits. prepare_threshold=0 prepares each statement at its first use on
the connection (the statements are constant strings: about sixty, within psycopg's cache of 100). The session sets
idle_in_transaction_session_timeout, so a node frozen inside a transaction (a stalled VM) loses its locks
after a bound instead of holding every writer up for ever; lock_timeout plays SQLite's busy_timeout. A
connection found broken is replaced at the next call outside a transaction; a read outside a transaction
that finds it dead is sent once more on the new one (nothing is ever resent inside a transaction).

Writers. A transaction first takes one transaction-level advisory lock, the same for every writer, held to
its commit: writers are serialized as SQLite's BEGIN IMMEDIATE serializes them, so the read-modify-write
checks the operations make inside a transaction stay true until the commit (an account holds no key, user
or access key when it is deleted; the account exists when a user is added to it). Row locks would not cover
those (they are checks of absence, which no row lock protects), and SERIALIZABLE would make every caller
retry on serialization failures. Writes are the control plane (create, disable, tag ...), so
one writer at a time costs little; the hot path only reads. Updates of a key are also compare-and-set on
its revision, which the lock makes exact. Blobs (update_blob) lock per blob name instead, so the audit
writer's checkpoints do not queue behind key writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime

from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import AccessKey, Alias, Key, User
from trent.store.base import KeyUse, Transaction, Unit
from trent.store.postgres_ops import PostgresOps
from trent.store.postgres_schema import BLOB_LOCK_CLASS, migrate
from trent.store.prefetch import ReadNeeds, Snapshot, absent


class _PostgresUnit:
    """A unit's state: its open transaction (from its first step on) and the change count when it began."""

    __slots__ = ("_store", "stack", "began", "_changes")

    def __init__(self, store: PostgresStore, stack: ExitStack) -> None:
        self._store = store
        self.stack = stack
        self.began = False
        self._changes = 0

    def begin(self) -> None:
        self.stack.enter_context(self._store._c.transaction())
        self._store._lock_writers()
        self.began = True
        self._changes = self._store._changes

    def wrote(self) -> bool:
        return self.began and self._store._changes != self._changes

    def journal(self, event_id: str, row: bytes) -> None:
        if not self.wrote():
            raise RuntimeError("a unit that changed nothing has nothing to journal")
        self._store._write("INSERT INTO audit_outbox (event_id, row) VALUES (%s, %s)", (event_id, row))


class PostgresStore(PostgresOps):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._unit: _PostgresUnit | None = None
        self._snapshot: Snapshot | None = None  # a batch's reads (store/prefetch.py), until its end
        try:
            migrate(self._c)
        except BaseException:
            self._c.close()
            raise

    # -- a batch's reads (store/prefetch.py) ----------------------------------------------------------------
    async def read(self, needs: ReadNeeds) -> Snapshot:
        """One round trip for the whole batch: access keys, their users, keys, aliases with their keys."""
        snap = Snapshot()
        callers = sorted(needs.aliases)
        access_keys, users, keys, aliases = await self.read_many(
            sorted(needs.access_key_ids), sorted(needs.key_ids), sorted(needs.alias_refs), callers
        )
        snap.access_keys.update(access_keys)
        absent(snap.access_keys, needs.access_key_ids)
        snap.users.update(users)
        absent(snap.users, {r.principal_arn for r in access_keys.values() if ":user/" in r.principal_arn})
        snap.keys.update(keys)
        absent(snap.keys, needs.key_ids)
        snap.aliases.update({(a.account, a.region, a.name): a for a in aliases})
        asked = set(needs.alias_refs)
        for access_key_id, region, name in callers:
            record = access_keys.get(access_key_id)
            if record is not None:
                asked.add((record.account, Region(region), name))
        absent(snap.aliases, asked)
        return snap

    def install(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def end_batch(self) -> None:
        self._snapshot = None

    def _batch(self) -> Snapshot | None:
        return None if self._in_transaction else self._snapshot

    def get_key(self, key_id: KeyId) -> Key | None:
        snap = self._batch()
        if snap is not None and key_id in snap.keys:
            return snap.keys[key_id]
        return super().get_key(key_id)

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        snap = self._batch()
        if snap is not None and (account, region, name) in snap.aliases:
            return snap.aliases[(account, region, name)]
        return super().get_alias(account, region, name)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        snap = self._batch()
        if snap is not None and access_key_id in snap.access_keys:
            return snap.access_keys[access_key_id]
        return super().get_access_key(access_key_id)

    def get_user(self, arn: str) -> User | None:
        snap = self._batch()
        if snap is not None and arn in snap.users:
            return snap.users[arn]
        return super().get_user(arn)

    # -- transactions --------------------------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[Transaction]:
        # A write ends the batch's snapshot: the requests after it in the batch read what it wrote.
        self._snapshot = None
        return self._alone() if self._unit is None else self._step(self._unit)

    @contextmanager
    def _alone(self) -> Iterator[Transaction]:
        conn = self._conn()
        self._in_transaction = True
        try:
            # Leaving the block normally sends COMMIT, and returns only once PostgreSQL acknowledged it.
            with conn.transaction():
                self._lock_writers()
                yield self
        finally:
            self._in_transaction = False

    @contextmanager
    def _step(self, unit: _PostgresUnit) -> Iterator[Transaction]:
        """A transaction inside a unit: begins the unit's transaction if it is the first; a savepoint (a nested
        psycopg transaction) keeps it atomic on its own, so an op may catch one block's error and go on."""
        if not unit.began:
            self._conn()
            self._in_transaction = True  # until the unit ends: its writes are not committed yet
            unit.begin()
        changes = self._changes
        try:
            with self._c.transaction():
                yield self
        except BaseException:
            self._changes = changes  # what the savepoint undid was never written
            raise

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        if self._unit is not None:
            raise RuntimeError("units do not nest")
        try:
            # The stack holds the unit's transaction once its first step began it: leaving commits it, or
            # rolls it back when an exception passes through.
            with ExitStack() as stack:
                unit = self._unit = _PostgresUnit(self, stack)
                yield unit
        finally:
            self._unit = None
            self._in_transaction = False

    def outbox(self, limit: int) -> tuple[tuple[str, bytes], ...]:
        found = self._all("SELECT event_id, row FROM audit_outbox ORDER BY seq LIMIT %s", (limit,))
        return tuple((event_id, bytes(row)) for event_id, row in found)

    # -- blobs ---------------------------------------------------------------------------------------------
    def get_blob(self, name: str) -> bytes | None:
        row = self._one("SELECT value FROM blobs WHERE name = %s", (name,))
        return None if row is None else bytes(row[0])

    def update_blob(self, name: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None:
        """Replace the blob with `change(old)` (unless it returns None) atomically; return what is stored."""
        conn = self._conn()
        self._in_transaction = True
        try:
            with conn.transaction():
                # A lock on the name, not on the row: it also covers the blob's first insert.
                conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (BLOB_LOCK_CLASS, name))
                row = conn.execute("SELECT value FROM blobs WHERE name = %s", (name,)).fetchone()
                old = None if row is None else bytes(row[0])
                new = change(old)
                if new is not None and new != old:
                    conn.execute(
                        "INSERT INTO blobs (name, value) VALUES (%s, %s) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        (name, new),
                    )
        finally:
            self._in_transaction = False
        return old if new is None else new

    # -- key uses ------------------------------------------------------------------------------------------
    def record_key_uses(self, uses: Sequence[KeyUse]) -> None:
        """One autocommitted statement, no writer lock: each row keeps the later use whoever writes at once."""
        if self._in_transaction or self._unit is not None:
            raise RuntimeError("key uses are recorded outside any transaction")
        if not uses:
            return
        self._conn().execute(
            "INSERT INTO key_use (key_arn, used, operation, event_id, request_id) "
            "SELECT DISTINCT ON (a) a, u, o, e, r FROM unnest(%s::text[], %s::timestamptz[], %s::text[], "
            "%s::text[], %s::text[]) WITH ORDINALITY AS t(a, u, o, e, r, n) ORDER BY a, u DESC, n DESC "
            "ON CONFLICT (key_arn) DO UPDATE SET used = excluded.used, operation = excluded.operation, "
            "event_id = excluded.event_id, request_id = excluded.request_id WHERE excluded.used >= key_use.used",
            (
                [u.key_arn for u in uses],
                [u.when for u in uses],
                [u.operation for u in uses],
                [u.event_id for u in uses],
                [u.request_id for u in uses],
            ),
        )

    def key_last_use(self, key_arn: str) -> KeyUse | None:
        row = self._one("SELECT used, operation, event_id, request_id FROM key_use WHERE key_arn = %s", (key_arn,))
        return None if row is None else KeyUse(key_arn, row[0], row[1], row[2], row[3])

    def key_use_tracking_start(self) -> datetime | None:
        row = self._one("SELECT since FROM key_use_tracking WHERE id = 1")
        return None if row is None else row[0]

    def close(self) -> None:
        self._drop_async()
        self._c.close()
