"""The audit chain on SQLite (audit.db): the adapter of audit/port.py's Chain and Archive.

One global hash chain, appended with group commit and committed with synchronous=FULL (the WAL is fsynced)
before any request of a batch is released. What is linked, and how, is audit/rows.py's; this module stores
it. Why: docs/decisions/0003-audit.md; the chain's anchor outside this file: 0008; the outbox: 0009.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson

from trent.audit.anchor import BASE, CHECKPOINT, ORIGIN, AnchorError, Checkpointer, unseal
from trent.audit.chain import GENESIS
from trent.audit.local import LocalAuditLog
from trent.audit.port import AuditFormatError, AuditQuery, ChainFacts, View
from trent.audit.rows import Row, link_rows, matches
from trent.audit.uses import LastUses
from trent.audit.verify import CheckpointWatch, Problem, Tally, check_checkpoint, check_head, type_name, walk

# The chain is the events table: each record's canonical bytes and hash, with its time and key for searching.
# Nothing else is indexed on the write path. (Before issue 12 a key_use table here kept each key's latest use;
# the store keeps it now, and a database that has the table keeps it unused.)
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        event_time REAL NOT NULL,
        key_arn TEXT,
        body BLOB NOT NULL,
        hash BLOB NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER, hash BLOB, mac BLOB)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    # The event ids of journaled records already chained: a change's record reaches the writer twice (the
    # worker's submission and the outbox drain) and is chained once (decision 0009).
    "CREATE TABLE IF NOT EXISTS journaled (event_id TEXT PRIMARY KEY) WITHOUT ROWID",
)
_INSERT = "INSERT INTO events (seq, event_time, key_arn, body, hash) VALUES (?, ?, ?, ?, ?)"
_JOURNALED = "INSERT OR IGNORE INTO journaled (event_id) VALUES (?)"
_HEAD = (
    "INSERT INTO head (id, seq, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
    "SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac"
)
AUDIT_DB_VERSION = 1


def connect_reader(path: Path | str, *, durable: bool = True) -> sqlite3.Connection:
    """`durable=False` (a dev server's throwaway data directory): synchronous=OFF, no fsync at all."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")  # first: switching to WAL syncs too
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    return conn


def open_audit_db(path: Path | str, *, durable: bool = True) -> sqlite3.Connection:
    conn = connect_reader(path, durable=durable)
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version not in (0, AUDIT_DB_VERSION) or (
        version == 0 and conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    ):
        conn.close()
        raise AuditFormatError(f"{path}: audit database format {version} is not one this version can write")
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {AUDIT_DB_VERSION}")
    return conn


class ChainWriter:
    """Appends rows to the chain: one transaction and one fsync per call, whatever the number of rows.

    Writers of all processes take turns on a blocking file lock, released the moment a commit ends; without
    it they would meet on SQLite's lock, whose busy handler sleeps and retries (1 ms, 2 ms, ... 100 ms).
    """

    def __init__(
        self, path: Path | str, audit_key: bytes, checkpoint: Checkpointer | None = None, *, durable: bool = True
    ) -> None:
        self._key = audit_key
        self._checkpoint = checkpoint
        self._conn = open_audit_db(path, durable=durable)
        self._lock = threading.Lock()
        self._lock_fd = None if str(path) == ":memory:" else os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def __repr__(self) -> str:
        return "ChainWriter()"

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def append(self, rows: Sequence[Row]) -> int:
        """Chain the rows, except journaled ones already chained; the number of rows chained."""
        with self._lock, self._interprocess():
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
                seq, digest = (row[0], bytes(row[1])) if row else (0, GENESIS)
                linked = link_rows(seq, digest, rows, self._key, lambda i: bool(c.execute(_JOURNALED, (i,)).rowcount))
                if linked.records:
                    c.executemany(_INSERT, linked.records)
                    c.execute(_HEAD, (linked.seq, linked.digest, linked.mac))
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
        if self._checkpoint is not None:
            self._checkpoint.committed(linked.seq, linked.digest)
        return len(linked.records)

    def idle(self) -> None:
        """Called when no events came for a while: save a checkpoint that is due."""
        if self._checkpoint is not None:
            self._checkpoint.tick()

    @contextlib.contextmanager
    def _interprocess(self) -> Iterator[None]:
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.flush()
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)


class SqliteAuditLog(LocalAuditLog):
    """The audit log written in this process, on audit.db."""

    def __init__(
        self,
        path: Path | str,
        audit_key: bytes,
        checkpoint: Checkpointer | None = None,
        uses: LastUses | None = None,
        *,
        durable: bool = True,
    ) -> None:
        self._path = path
        super().__init__(ChainWriter(path, audit_key, checkpoint, durable=durable), uses, (sqlite3.Error,))

    def __repr__(self) -> str:
        return f"SqliteAuditLog({str(self._path)!r})"


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """A connection that never writes: to a live database (its -wal is read too) or to a copy in a read-only
    directory without -wal/-shm files, which SQLite opens only as immutable (nothing else may write it)."""
    wal = Path(f"{path}-wal")
    mode = "ro" if wal.exists() else "ro&immutable=1"
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode={mode}", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def read_meta(conn: sqlite3.Connection, name: str) -> object:
    """A value of the meta table as stored (any SQLite type), or None."""
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def chain_facts(path: Path | str) -> ChainFacts:
    if not Path(path).exists():
        return ChainFacts(False)
    conn = open_readonly(path)
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('meta', 'head')").fetchone()[0] < 2:
            return ChainFacts(True)
        chain_id, legacy, base = read_meta(conn, "chain_id"), read_meta(conn, "audit_key"), read_meta(conn, "base")
        head = conn.execute("SELECT seq FROM head WHERE id = 1").fetchone()
        return ChainFacts(
            True,
            chain_id if isinstance(chain_id, bytes) else None,
            legacy if isinstance(legacy, bytes) else None,
            head[0] if head is not None and isinstance(head[0], int) else None,
            base if isinstance(base, bytes) else None if base is None else b"",
        )
    finally:
        conn.close()


def name_chain(path: Path | str, chain_id: bytes, *, durable: bool = True) -> bytes:
    """Record the database's chain id unless it has one (creating the database if need be); return the one it has."""
    conn = open_audit_db(path, durable=durable)
    try:
        conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('chain_id', ?)", (chain_id,))
        return bytes(conn.execute("SELECT value FROM meta WHERE name = 'chain_id'").fetchone()[0])
    finally:
        conn.close()


def rewrap_legacy_key(path: Path | str, old: bytes, new: bytes) -> bool:
    """Replace the wrapped audit key a database of before decision 0008 keeps in its meta table, if it still is
    `old` (a root-key rotation re-wraps it; the key itself, and so every MAC, is unchanged)."""
    conn = open_audit_db(path)
    try:
        with conn:
            cur = conn.execute("UPDATE meta SET value = ? WHERE name = 'audit_key' AND value = ?", (new, old))
        return cur.rowcount == 1
    finally:
        conn.close()


def query(conn: sqlite3.Connection, q: AuditQuery) -> Iterator[bytes]:
    """The stored CloudTrail records that match, oldest first, byte for byte as they were chained."""
    where: list[str] = ["1 = 1"]
    args: list[object] = []
    if q.key is not None:
        where.append("key_arn = ?" if q.key.startswith("arn:") else "key_arn LIKE ?")
        args.append(q.key if q.key.startswith("arn:") else f"%:key/{q.key}")
    if q.since is not None:
        where.append("event_time >= ?")
        args.append(q.since.timestamp())
    if q.until is not None:
        where.append("event_time <= ?")
        args.append(q.until.timestamp())
    sql = f"SELECT body FROM events WHERE {' AND '.join(where)} ORDER BY seq"  # noqa: S608 - fixed fragments
    found = 0
    for (body,) in conn.execute(sql, args):
        if matches(orjson.loads(body), q):
            yield bytes(body)
            found += 1
            if q.limit is not None and found >= q.limit:
                return


def verify_log(
    conn: sqlite3.Connection, audit_key: bytes, chain_id: bytes | None, checkpoint: bytes | None, tally: Tally
) -> Iterator[Problem]:
    """Every problem of the audit database on `conn`: its chain identity, base, records, head and checkpoint.

    `chain_id` and `checkpoint` come from outside the database (the store); None when the chain has none
    (a chain of an earlier version, not yet anchored).
    """
    try:
        yield from _verify_log(conn, audit_key, chain_id, checkpoint, tally)
    except sqlite3.Error as exc:  # a corrupt page, a file that is not a database, a table of another shape
        yield Problem(None, "database", f"the audit database cannot be read: {exc}")


def _verify_log(
    conn: sqlite3.Connection, audit_key: bytes, chain_id: bytes | None, checkpoint: bytes | None, tally: Tally
) -> Iterator[Problem]:
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = {"events", "head", "meta"} - tables
    if missing:
        yield Problem(
            None,
            "database",
            f"the audit database has no {', '.join(sorted(missing))} table: it was emptied or replaced",
        )
        return
    stored_id = read_meta(conn, "chain_id")
    if chain_id is not None and stored_id != chain_id:
        found = stored_id.hex() if isinstance(stored_id, bytes) else f"no chain id ({type_name(stored_id)})"
        yield Problem(
            None, "replaced", f"the audit database is of chain {found}, not {chain_id.hex()}: it was replaced"
        )
        return
    start, point = ORIGIN, None
    if chain_id is not None:
        base = read_meta(conn, "base")
        if base is not None:
            try:
                start = unseal(BASE, audit_key, chain_id, base if isinstance(base, bytes) else b"")
            except AnchorError as exc:
                yield Problem(None, "base", f"{exc}; verifying from the genesis instead")
        if checkpoint is not None:
            try:
                point = unseal(CHECKPOINT, audit_key, chain_id, checkpoint)
            except AnchorError as exc:
                yield Problem(None, "checkpoint", str(exc))
    tally.last = tally.base = start
    watch = CheckpointWatch(conn.execute("SELECT seq, body, hash FROM events ORDER BY seq"), point, start)
    yield from walk(watch, start, tally)
    yield from check_head(
        conn.execute("SELECT seq, hash, mac FROM head WHERE id = 1").fetchone(), tally.last, start, audit_key
    )
    if point is not None:
        yield from check_checkpoint(point, tally.last, watch.matched)


class _View:
    """audit.db on one connection, inside the transaction its caller holds."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def base(self) -> object:
        return read_meta(self._c, "base")

    def hash_at(self, seq: int) -> object:
        row = self._c.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else row[0]

    def records_after(self, seq: int) -> Iterator[tuple[object, object, object, object]]:
        yield from self._c.execute("SELECT seq, event_time, body, hash FROM events WHERE seq > ? ORDER BY seq", (seq,))


class SqliteArchive:
    """The chain in the audit database at `path`, at rest. Reads never write (also a read-only copy)."""

    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        self._path = path
        self._durable = durable  # False: the one write (naming the chain) is not fsynced

    def __repr__(self) -> str:
        return f"SqliteArchive({str(self._path)!r})"

    def facts(self) -> ChainFacts:
        return chain_facts(self._path)

    def name(self, chain_id: bytes) -> bytes:
        return name_chain(self._path, chain_id, durable=self._durable)

    def verify(
        self, audit_key: bytes, chain_id: bytes | None, checkpoint: bytes | None, tally: Tally
    ) -> Iterator[Problem]:
        try:
            conn = open_readonly(self._path)
        except sqlite3.Error as exc:
            yield Problem(None, "database", f"the audit database cannot be read: {exc}")
            return
        try:
            yield from verify_log(conn, audit_key, chain_id, checkpoint, tally)
        finally:
            conn.close()

    def query(self, filters: AuditQuery) -> Iterator[bytes]:
        conn = open_readonly(self._path)
        try:
            yield from query(conn, filters)
        except sqlite3.Error as exc:
            raise ValueError(f"{self._path}: the audit database cannot be read ({exc})") from None
        finally:
            conn.close()

    def chains(self) -> list[bytes]:
        chain_id = self.facts().chain_id
        return [] if chain_id is None else [chain_id]

    @contextlib.contextmanager
    def snapshot(self, chain_id: bytes | None = None) -> Iterator[View]:
        """The only chain (`chain_id` is for backends with several)."""
        conn = connect_reader(self._path)  # not open_readonly's immutable mode: a server may be writing
        try:
            conn.execute("BEGIN")  # deferred: one read snapshot from the first read to the end of the block
            try:
                yield _View(conn)
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()

    def prune(self, through: int, base: bytes, allowed: Callable[[View], bool], chain_id: bytes | None = None) -> int:
        conn = connect_reader(self._path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not allowed(_View(conn)):
                    conn.execute("ROLLBACK")
                    return 0
                deleted = conn.execute("DELETE FROM events WHERE seq <= ?", (through,)).rowcount
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('base', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (base,),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return int(deleted)
        finally:
            conn.close()
