"""SQLite store: the embedded default. WAL mode, so readers in every worker process see each commit at once.

Durability: synchronous=FULL, so a commit that returned survives kill -9 and power loss (the WAL is fsynced
at each commit). Writers take the database lock at BEGIN IMMEDIATE, so read-modify-write transactions are
serialized across processes. One connection per process; not shared across threads.

Reads outside a transaction are answered from a per-process memo while the store's epoch is unchanged
(decision 0006, trent/store/sqlite_memo.py). The statements are in trent/store/sqlite_ops.py and its mixins,
the schema and its migrations in trent/store/sqlite_schema.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from trent.store import sqlite_rows as records
from trent.store.base import KeyUse, SchemaTooNewError, Transaction, Unit
from trent.store.sqlite_memo import SqliteMemo
from trent.store.sqlite_schema import SCHEMA as _SCHEMA

_KEY_USE = (
    "INSERT INTO key_use (key_arn, used, operation, event_id, request_id) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key_arn) DO UPDATE SET used = excluded.used, operation = excluded.operation, "
    "event_id = excluded.event_id, request_id = excluded.request_id WHERE excluded.used >= key_use.used"
)


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


class SqliteStore(SqliteMemo):
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
        super().__init__(conn, path)
        self._unit: _SqliteUnit | None = None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

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
        rows = [(u.key_arn, records.ts(u.when), u.operation, u.event_id, u.request_id) for u in uses]
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
