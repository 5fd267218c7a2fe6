"""The audit log on SQLite: one global hash chain, written with group commit, durable before any response.

Requests queue their events and wait; a batch is written in one transaction and committed with
synchronous=FULL (the WAL is fsynced) before any request of it is released. Many events share one fsync;
none is acknowledged before it is on disk; a failed write fails every request of its batch (fail closed).
The server's workers hand their events to one audit writer process (audit/writer.py); SqliteAuditLog writes
in-process, for tools, background jobs and tests. Why: docs/decisions/0003-audit.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import marshal
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from trent.audit.anchor import Checkpointer
from trent.audit.chain import GENESIS, head_mac, link
from trent.audit.events import AuditEvent

log = logging.getLogger("trent.audit")

# The chain is the events table: each record's canonical bytes and hash, with its time and key for searching.
# Nothing else is indexed on the write path; key_use keeps each key's latest successful use (GetKeyLastUsage).
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        event_time REAL NOT NULL,
        key_arn TEXT,
        body BLOB NOT NULL,
        hash BLOB NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS key_use (
        key_arn TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        event_time REAL NOT NULL,
        event_name TEXT NOT NULL,
        event_id TEXT NOT NULL,
        request_id TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER, hash BLOB, mac BLOB)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    # The event ids of journaled records already chained: a change's record reaches the writer twice (the
    # worker's submission and the outbox drain) and is chained once (decision 0009).
    "CREATE TABLE IF NOT EXISTS journaled (event_id TEXT PRIMARY KEY) WITHOUT ROWID",
)
_INSERT = "INSERT INTO events (seq, event_time, key_arn, body, hash) VALUES (?, ?, ?, ?, ?)"
_JOURNALED = "INSERT OR IGNORE INTO journaled (event_id) VALUES (?)"
_USE = (
    "INSERT INTO key_use (key_arn, seq, event_time, event_name, event_id, request_id) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key_arn) DO UPDATE SET seq = excluded.seq, event_time = excluded.event_time, "
    "event_name = excluded.event_name, event_id = excluded.event_id, request_id = excluded.request_id"
)


class AuditWriteError(Exception):
    """The audit record could not be made durable; the request must fail."""


@dataclass(frozen=True, slots=True)
class LastUse:
    timestamp: datetime
    operation: str
    event_id: str
    request_id: str


class AuditLog(Protocol):
    def submit(self, event: AuditEvent, *, journaled: bool = False) -> asyncio.Future[None]:
        """Queue the event; the future completes once it is durable, or fails with AuditWriteError.
        `journaled`: the event is also in the store's outbox, and must be chained once whoever brings it."""
        ...

    async def record(self, event: AuditEvent) -> None:
        """Return once the event is durable; AuditWriteError otherwise."""
        ...

    def record_now(self, events: Sequence[AuditEvent], *, journaled: bool = False) -> None:
        """Write synchronously (for background jobs, which have no event loop)."""
        ...

    def last_use(self, key_arn: str) -> LastUse | None:
        """The latest successful use of the key that GetKeyLastUsage reports (events marked key_use)."""
        ...

    def tracking_start(self) -> datetime | None: ...

    async def start(self) -> None:
        """Get ready to record, inside the event loop that will submit events."""
        ...

    async def writable(self) -> None:
        """Return if a record could be made durable now (readiness); AuditWriteError otherwise."""
        ...

    def close(self) -> None: ...


def connect_reader(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


AUDIT_DB_VERSION = 1


class AuditFormatError(Exception):
    """The audit database was written in a format this version does not know."""


def open_audit_db(path: Path | str) -> sqlite3.Connection:
    conn = connect_reader(path)
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


# One event as it travels to the writer: (time, key ARN, use, body, journal id). `use` is (event name, event
# id, request id) when the event is a successful use of the key that GetKeyLastUsage reports, else None. The
# journal id is the event id when the record is also in the store's outbox (the record of a change), else None.
Row = tuple[float, "str | None", "tuple[str, str, str] | None", bytes, "str | None"]


def row_of(event: AuditEvent, *, journaled: bool = False) -> Row:
    use = (event.event_name, event.event_id, event.request_id) if event.key_use else None
    journal_id = event.event_id if journaled else None
    return (event.event_time.timestamp(), event.key_arn, use, event.body(), journal_id)


def pack_row(row: Row) -> bytes:
    """A row as the store's outbox keeps it: opaque bytes to the store (marshal: plain values only)."""
    return marshal.dumps(row)


def unpack_row(data: bytes) -> Row:
    """The row pack_row() made; ValueError if `data` is not one."""
    try:
        # marshal loads plain values only (no code); the outbox is in the server's own database.
        row = marshal.loads(data)  # noqa: S302
    except (EOFError, TypeError, ValueError) as exc:
        raise ValueError("not an audit row") from exc
    if not (isinstance(row, tuple) and len(row) == 5 and isinstance(row[3], bytes) and isinstance(row[4], str)):
        raise ValueError("not a journaled audit row")
    return row


class ChainWriter:
    """Appends rows to the chain: one transaction and one fsync per call, whatever the number of rows.

    Writers of all processes take turns on a blocking file lock, released the moment a commit ends; without
    it they would meet on SQLite's lock, whose busy handler sleeps and retries (1 ms, 2 ms, ... 100 ms).
    """

    def __init__(self, path: Path | str, audit_key: bytes, checkpoint: Checkpointer | None = None) -> None:
        self._key = audit_key
        self._checkpoint = checkpoint
        self._conn = open_audit_db(path)
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
                stored, uses = [], {}
                for when, key_arn, use, body, journal_id in rows:
                    if journal_id is not None and not c.execute(_JOURNALED, (journal_id,)).rowcount:
                        continue  # chained already (the worker's submission, or an earlier drain)
                    seq += 1
                    digest = link(digest, body)
                    stored.append((seq, when, key_arn, body, digest))
                    if use is not None and key_arn is not None:
                        uses[key_arn] = (key_arn, seq, when, *use)
                if stored:
                    c.executemany(_INSERT, stored)
                    if uses:
                        c.executemany(_USE, uses.values())
                    c.execute(
                        "INSERT INTO head (id, seq, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                        "SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
                        (seq, digest, head_mac(self._key, seq, digest)),
                    )
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
        if self._checkpoint is not None:
            self._checkpoint.committed(seq, digest)
        return len(stored)

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


class AuditReads:
    """The queries ops make of the audit log (GetKeyLastUsage), on a connection of their own."""

    _reader: sqlite3.Connection

    def last_use(self, key_arn: str) -> LastUse | None:
        row = self._reader.execute(
            "SELECT event_time, event_name, event_id, request_id FROM key_use WHERE key_arn = ?", (key_arn,)
        ).fetchone()
        return None if row is None else LastUse(datetime.fromtimestamp(row[0], UTC), row[1], row[2], row[3])

    def tracking_start(self) -> datetime | None:
        row = self._reader.execute("SELECT event_time FROM events ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else datetime.fromtimestamp(row[0], UTC)


class SqliteAuditLog(AuditReads):
    """The audit log written in this process: requests of the event loop share a flush after each iteration."""

    def __init__(self, path: Path | str, audit_key: bytes, checkpoint: Checkpointer | None = None) -> None:
        self._path = path
        self._chain = ChainWriter(path, audit_key, checkpoint)
        self._reader = self._chain.connection if str(path) == ":memory:" else connect_reader(path)
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        return f"SqliteAuditLog({str(self._path)!r})"

    def record_now(self, events: Sequence[AuditEvent], *, journaled: bool = False) -> None:
        try:
            self._chain.append([row_of(e, journaled=journaled) for e in events])
        except sqlite3.Error as exc:
            raise AuditWriteError(str(exc)) from exc

    def _flush(self) -> None:
        """Write every event queued since the last flush, in one transaction, then release their requests."""
        batch, self._pending = self._pending, []
        error: Exception | None = None
        try:
            self._chain.append([row for row, _ in batch])
        except Exception as exc:  # disk full, read-only file, ...: every request of the batch fails
            log.error("audit write failed: %s", exc)
            error = AuditWriteError(str(exc))
        settle([future for _, future in batch], error)

    def submit(self, event: AuditEvent, *, journaled: bool = False) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            # Flush once the loop has run everything already runnable: requests that arrived together share
            # one transaction and one fsync, and their responses wait for it.
            loop.call_soon(self._flush)
        self._pending.append((row_of(event, journaled=journaled), future))
        return future

    async def record(self, event: AuditEvent) -> None:
        await self.submit(event)

    async def start(self) -> None:
        return None

    async def writable(self) -> None:
        try:
            self._chain.append([])  # takes the write lock and commits nothing
        except sqlite3.Error as exc:
            raise AuditWriteError(str(exc)) from exc

    def close(self) -> None:
        if self._reader is not self._chain.connection:
            self._reader.close()
        self._chain.close()


def settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


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


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What an audit database says about its chain, read without creating or changing anything."""

    exists: bool
    chain_id: bytes | None = None
    legacy_key: bytes | None = None  # the wrapped audit key versions before 0008 kept in the database
    head_seq: int | None = None


def chain_facts(path: Path | str) -> ChainFacts:
    if not Path(path).exists():
        return ChainFacts(False)
    conn = open_readonly(path)
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('meta', 'head')").fetchone()[0] < 2:
            return ChainFacts(True)
        chain_id, legacy = read_meta(conn, "chain_id"), read_meta(conn, "audit_key")
        head = conn.execute("SELECT seq FROM head WHERE id = 1").fetchone()
        return ChainFacts(
            True,
            chain_id if isinstance(chain_id, bytes) else None,
            legacy if isinstance(legacy, bytes) else None,
            head[0] if head is not None and isinstance(head[0], int) else None,
        )
    finally:
        conn.close()


def name_chain(path: Path | str, chain_id: bytes) -> bytes:
    """Record the database's chain id unless it has one (creating the database if need be); return the one it has."""
    conn = open_audit_db(path)
    try:
        conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('chain_id', ?)", (chain_id,))
        return bytes(conn.execute("SELECT value FROM meta WHERE name = 'chain_id'").fetchone()[0])
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for `trent audit query`; None means "any". `error` is an error code, or "*" for every failure."""

    key: str | None = None  # a key ARN, or a key id
    principal: str | None = None  # a principal ARN, or an access key id
    event_name: str | None = None
    error: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


def _matches(record: dict[str, Any], q: AuditQuery) -> bool:
    identity = record.get("userIdentity") or {}
    if q.principal is not None and q.principal not in (identity.get("arn"), identity.get("accessKeyId")):
        return False
    if q.event_name is not None and record.get("eventName") != q.event_name:
        return False
    error = record.get("errorCode")
    return q.error is None or (error is not None if q.error == "*" else error == q.error)


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
        if _matches(orjson.loads(body), q):
            yield bytes(body)
            found += 1
            if q.limit is not None and found >= q.limit:
                return
