"""The audit trail on PostgreSQL: a Chain per writer (audit/port.py), and the leader's anchor job.

Per-writer chains. A strict hash chain has one writer at a time, holding its lock across the commit's fsync;
one global chain for every node would serialize them all. So each writer (a writer process of a node, for
its lifetime) opens a chain of its own, with a random id, and appends to it alone: what is linked, and how,
is audit/rows.py's (link_rows), exactly as on SQLite.

Fencing. A writer keeps its head in memory and appends in one statement that moves the head only if it is
still the one expected, and inserts the records only if it moved:

    WITH head AS (UPDATE audit_chains SET head_seq = new ... WHERE chain_id = c AND head_seq = expected
                  RETURNING chain_id)
    INSERT INTO audit_records SELECT head.chain_id, t.* FROM head, unnest(...) AS t

A second writer on the same chain (a zombie: a process thought dead, a copy of a VM) expects an old head, so
its statement inserts nothing and the adapter raises: it cannot fork the chain. The statement commits on its
own (autocommit), so an append without journaled rows is one round trip and one fsync. Journaled rows (the
record of a change, also in the store's outbox) first claim their event id in audit_journaled, shared by all
chains, in the same transaction: a change's record is chained exactly once whichever writers bring it.

Anchors. anchor() is a leader's job, every few seconds: one record in the global anchor chain holding the head
of every chain that moved since the last anchor, hash-chained and MACed with the audit key. Verification
(audit/postgres_archive.py) checks that each chain reaches the head last anchored for it, with that hash: a
chain whose tail was deleted and whose head row was put back to an older (genuinely MACed) head is caught.
Why: docs/decisions/0011-audit-on-postgresql.md.

Measured (benchmarks/audit_postgres.py; 2 cores shared with the server, fsync on, ~1 KB records; the table in
docs/decisions/0011-audit-on-postgresql.md): one chain, batches of 1/32/128: 2.3k/23k/21k records/s at
133/18/17 µs of client CPU a record; two chains at once: 1.4k/22k/23k records/s at 172/20/17 µs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from trent.audit.anchor import CHAIN_ID_BYTES, Position
from trent.audit.chain import GENESIS, head_mac
from trent.audit.local import LocalAuditLog
from trent.audit.postgres_schema import ANCHOR_LOCK, connect, migrate
from trent.audit.rows import Row, link_rows
from trent.audit.uses import LastUses

log = logging.getLogger("trent.audit")
_ANCHOR_LABEL = b"trent-audit-anchor-v1"
_HEAD = struct.Struct(f">{CHAIN_ID_BYTES}sQ32s")  # one anchored head: chain id, seq, hash (56 bytes)

_NEW_CHAIN = "INSERT INTO audit_chains (chain_id, writer, head_seq, head_hash, head_mac) VALUES (%s, %s, 0, %s, %s)"
_APPEND = (
    "WITH head AS (UPDATE audit_chains SET head_seq = %s, head_hash = %s, head_mac = %s "
    "WHERE chain_id = %s AND head_seq = %s RETURNING chain_id) "
    "INSERT INTO audit_records (chain_id, seq, event_time, key_arn, body, hash) "
    "SELECT head.chain_id, t.s, t.w, t.k, t.b, t.h FROM head, "
    "unnest(%b::bigint[], %b::float8[], %b::text[], %b::bytea[], %b::bytea[]) AS t(s, w, k, b, h)"
)  # the arrays in binary: PostgreSQL then parses no hex (server CPU per record -20 to -30%, decision 0011)
_CLAIM = "INSERT INTO audit_journaled (event_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING event_id"
_PROBE = "SELECT head_seq, head_hash FROM audit_chains WHERE chain_id = %s"


class ChainFencedError(Exception):
    """This writer's chain was moved by another writer (a zombie, or this one is): it appends nothing more."""


class PostgresChain:
    """One writer's chain (audit/port.py's Chain). `writer` names it for operators (e.g. host/pid).

    With `chain_id` it continues that chain from its stored head instead of starting one (recovery tools and
    tests: two writers on one chain are exactly what fencing stops)."""

    def __init__(self, url: str, audit_key: bytes, writer: str, chain_id: bytes | None = None) -> None:
        self._url, self._key = url, audit_key
        self._conn = connect(url)
        try:
            migrate(self._conn)
            if chain_id is None:
                chain_id = os.urandom(CHAIN_ID_BYTES)
                self._conn.execute(_NEW_CHAIN, (chain_id, writer, GENESIS, head_mac(audit_key, 0, GENESIS)))
                self._head = Position(0, GENESIS)
            else:
                self._head = self._stored_head(chain_id)
        except BaseException:
            self._conn.close()
            raise
        self.chain_id = chain_id
        self._attempted: Position | None = None  # an append whose outcome is unknown (its connection broke)
        self._attempted_count = 0
        self._fenced = False

    def __repr__(self) -> str:
        return f"PostgresChain({self.chain_id.hex()})"

    @property
    def head(self) -> Position:
        return self._head

    def _stored_head(self, chain_id: bytes) -> Position:
        row = self._conn.execute(_PROBE, (chain_id,)).fetchone()
        if row is None:
            raise ChainFencedError(f"audit chain {chain_id.hex()} has no head row")
        return Position(int(row[0]), bytes(row[1]))

    def _ready(self) -> psycopg.Connection[Any]:
        """The connection, replaced if it broke; after an append of unknown outcome, the head it left."""
        if self._fenced:
            raise ChainFencedError(f"audit chain {self.chain_id.hex()} was moved by another writer")
        if self._conn.broken:
            self._conn = connect(self._url)
        if self._attempted is not None:
            stored = self._stored_head(self.chain_id)
            if stored == self._attempted:  # it committed; only the acknowledgement was lost
                self._head = stored
            elif stored != self._head:
                self._fenced = True
                raise ChainFencedError(f"audit chain {self.chain_id.hex()} was moved by another writer")
            self._attempted = None
        return self._conn

    def append(self, rows: Sequence[Row]) -> int:
        """Chain the rows; a connection that broke under the append (a server restart, a failover, a cut
        backend) is replaced and the append finished once more, unless it had committed already."""
        try:
            return self._append(rows)
        except psycopg.OperationalError:
            if not self._conn.broken:
                raise
            attempted, count = self._attempted, self._attempted_count
            self._ready()  # a new connection; the head the broken append left, if it committed
            if attempted is not None and self._head == attempted:
                return count
            return self._append(rows)

    def _append(self, rows: Sequence[Row]) -> int:
        conn = self._ready()
        if not rows:
            # Readiness: a round trip that commits nothing, and proof the head is still this writer's.
            if self._stored_head(self.chain_id) != self._head:
                self._fenced = True
                raise ChainFencedError(f"audit chain {self.chain_id.hex()} was moved by another writer")
            return 0
        journal_ids = [row[4] for row in rows if row[4] is not None]
        if not journal_ids:
            count, new = self._insert(conn, rows, set())  # one autocommitted statement
        else:
            with conn.transaction():  # the claims and the records commit together, or neither
                claimed = {found for (found,) in conn.execute(_CLAIM, (journal_ids,))}
                count, new = self._insert(conn, rows, claimed)
        # Committed. (Had the commit failed, _attempted makes the next call re-read the head it left.)
        self._head, self._attempted = new, None
        return count

    def _insert(self, conn: psycopg.Connection[Any], rows: Sequence[Row], claimed: set[str]) -> tuple[int, Position]:
        def first_time(journal_id: str) -> bool:
            if journal_id in claimed:
                claimed.discard(journal_id)  # the same record twice in one batch is chained once too
                return True
            return False

        linked = link_rows(self._head.seq, self._head.digest, rows, self._key, first_time)
        if not linked.records:
            return 0, self._head
        seqs, times, arns, bodies, hashes = zip(*linked.records, strict=True)
        new = Position(linked.seq, linked.digest)
        self._attempted, self._attempted_count = new, len(linked.records)
        inserted = conn.execute(
            _APPEND,
            (
                linked.seq,
                linked.digest,
                linked.mac,
                self.chain_id,
                self._head.seq,
                list(seqs),
                list(times),
                list(arns),
                list(bodies),
                list(hashes),
            ),
        ).rowcount
        if inserted != len(linked.records):
            # The head was not where this writer left it: nothing was inserted (the insert needs the update).
            self._attempted, self._fenced = None, True
            raise ChainFencedError(f"audit chain {self.chain_id.hex()} was moved by another writer: not appended")
        return len(linked.records), new

    def idle(self) -> None:
        """Nothing to do: anchoring is the leader's job (anchor())."""

    def close(self) -> None:
        self._conn.close()


class PostgresAuditLog(LocalAuditLog):
    """The audit log written in this process, on a chain of its own in the PostgreSQL database at `url`."""

    def __init__(self, url: str, audit_key: bytes, writer: str, uses: LastUses | None = None) -> None:
        self._chain_id = (chain := PostgresChain(url, audit_key, writer)).chain_id
        super().__init__(chain, uses, (psycopg.Error, ChainFencedError))

    def __repr__(self) -> str:
        return f"PostgresAuditLog({self._chain_id.hex()})"


# -- anchors ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    chain_id: bytes
    seq: int
    digest: bytes


def encode_heads(heads: Sequence[Head]) -> bytes:
    return b"".join(_HEAD.pack(h.chain_id, h.seq, h.digest) for h in heads)


def decode_heads(data: bytes) -> list[Head]:
    """The heads an anchor holds; ValueError if `data` is not a whole number of them."""
    if len(data) % _HEAD.size:
        raise ValueError(f"{len(data)} bytes is not a list of {_HEAD.size}-byte heads")
    return [Head(c, s, d) for c, s, d in _HEAD.iter_unpack(data)]


def anchor_hash(previous: bytes, heads: bytes) -> bytes:
    return hashlib.sha256(previous + heads).digest()


def anchor_mac(audit_key: bytes, seq: int, digest: bytes) -> bytes:
    return hmac.new(audit_key, _ANCHOR_LABEL + seq.to_bytes(8, "big") + digest, hashlib.sha256).digest()


_MOVED = (
    "SELECT c.chain_id, c.head_seq, c.head_hash FROM audit_chains c LEFT JOIN audit_anchored a USING (chain_id) "
    "WHERE c.head_seq > coalesce(a.seq, 0) ORDER BY c.chain_id"
)


def anchor(target: str | psycopg.Connection[Any], audit_key: bytes) -> Position | None:
    """Append one anchor of every chain head that moved since the last anchor; the new anchor's position, or
    None when nothing moved or another leader holds the anchor lock right now (it anchors, once).

    `target`: a URL, or an open autocommit connection (a leader's, reused every few seconds). Cheap when
    nothing moved: one transaction of three short statements, nothing written."""
    conn = connect(target) if isinstance(target, str) else target
    try:
        if isinstance(target, str):
            migrate(conn)
        with conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ANCHOR_LOCK,)).fetchone()
            if locked is None or not locked[0]:
                return None
            heads = [Head(bytes(c), int(s), bytes(d)) for c, s, d in conn.execute(_MOVED)]
            if not heads:
                return None
            last = conn.execute("SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1").fetchone()
            seq, previous = (int(last[0]) + 1, bytes(last[1])) if last is not None else (1, GENESIS)
            data = encode_heads(heads)
            digest = anchor_hash(previous, data)
            conn.execute(
                "INSERT INTO audit_anchors (seq, heads, hash, mac) VALUES (%s, %s, %s, %s)",
                (seq, data, digest, anchor_mac(audit_key, seq, digest)),
            )
            conn.execute(
                "INSERT INTO audit_anchored (chain_id, seq) SELECT * FROM unnest(%s::bytea[], %s::bigint[]) "
                "ON CONFLICT (chain_id) DO UPDATE SET seq = excluded.seq",
                ([h.chain_id for h in heads], [h.seq for h in heads]),
            )
        return Position(seq, digest)
    finally:
        if isinstance(target, str):
            conn.close()


class AnchorJob:
    """anchor() every `interval` seconds, on a thread and a connection of its own. Every node may run one: the
    try-lock makes one anchor per round whoever runs. `anchored(position)` hears of each anchor this job made
    (the composition root saves it, sealed, as the trail's checkpoint). A failure is logged and retried at the
    next round (records are durable without anchors; anchors only bound what a rollback could hide)."""

    def __init__(
        self,
        url: str,
        audit_key: bytes,
        interval: float = 5.0,
        anchored: Callable[[Position], None] | None = None,
    ) -> None:
        self._url, self._key, self._interval, self._anchored = url, audit_key, interval, anchored
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None

    def __repr__(self) -> str:
        return f"AnchorJob(every {self._interval} s)"

    def start(self) -> None:
        self._thread.start()

    def run_once(self) -> Position | None:
        if self._conn is None or self._conn.broken:
            self._conn = connect(self._url)
            migrate(self._conn)
        made = anchor(self._conn, self._key)
        if made is not None and self._anchored is not None:
            self._anchored(made)
        return made

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception as exc:  # the database is down or read-only: the next round tries again
                log.error("audit anchor failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
