"""The audit trail on PostgreSQL at rest: audit/port.py's Archive over every writer's chain and the anchors.

Verification reads one REPEATABLE READ snapshot (writers may go on appending: what they commit meanwhile is
not in it), streaming every chain from its start through a server-side cursor (constant memory, whatever the
log's size), with audit/verify.py's walk: each record's hash link, each head's MAC. Then the anchors: their
own hash chain and MACs, and that every chain reaches the head last anchored for it, with the anchored hash
(a chain truncated, or rolled back to an older genuine head, or rewritten, is reported). Every problem is
one Problem naming its chain; a database error is one too, never a traceback.

Export and pruning (audit/export.py) work one chain at a time: snapshot() and prune() take the chain (a
writer's chain id, which is also the id its export's digests and its base are sealed under), or none when
there is only one. Each chain is exported into a directory of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
import psycopg

from trent.audit.anchor import BASE, CHECKPOINT, ORIGIN, AnchorError, Position, unseal
from trent.audit.chain import GENESIS
from trent.audit.port import AuditQuery, ChainFacts, View
from trent.audit.postgres import anchor_hash, anchor_mac, decode_heads
from trent.audit.postgres_schema import connect, migrate
from trent.audit.rows import matches
from trent.audit.verify import CheckpointWatch, Problem, Tally, check_head, walk

_PAGE = 2000  # rows a server-side cursor fetches at a time
_CURSORS = itertools.count()  # names of server-side cursors: one per stream, several may be open at once
_CHAINS = "SELECT chain_id, head_seq, head_hash, head_mac, base FROM audit_chains ORDER BY started, chain_id"
_ORPHANS = (
    "SELECT chain_id, count(*), min(seq), max(seq) FROM audit_records r "
    "WHERE NOT EXISTS (SELECT 1 FROM audit_chains c WHERE c.chain_id = r.chain_id) GROUP BY chain_id"
)


def _tables_exist(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('audit_schema') IS NOT NULL").fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def _snapshot(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """One read-only snapshot for the block: every statement in it sees the same committed state."""
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn


def _stream(conn: psycopg.Connection[Any], sql: str, args: Iterable[Any]) -> Iterator[Any]:
    """Rows of `sql` through a server-side cursor (inside the caller's transaction): a page at a time."""
    with conn.cursor(name=f"trent_audit_{next(_CURSORS)}") as cursor:
        cursor.itersize = _PAGE
        cursor.execute(sql, list(args))
        yield from cursor


@dataclasses.dataclass(slots=True)
class _Anchored:
    """What the anchor chain vouches for: each chain's last anchored head, and the anchor that named it."""

    heads: dict[bytes, tuple[Position, int]] = dataclasses.field(default_factory=dict)
    last: Position = dataclasses.field(default_factory=lambda: ORIGIN)


def _walk_anchors(conn: psycopg.Connection[Any], key: bytes, found: _Anchored) -> Iterator[Problem]:
    previous, expected = GENESIS, 1
    for seq, heads, digest, mac in _stream(conn, "SELECT seq, heads, hash, mac FROM audit_anchors ORDER BY seq", ()):
        if seq > expected:
            gap = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
            yield Problem(None, "missing", f"anchor(s) {gap} are not in the log")
        if anchor_hash(previous, heads) != digest:
            yield Problem(None, "modified", f"anchor {seq}: its hash does not match its contents")
        elif not hmac.compare_digest(anchor_mac(key, seq, digest), mac):
            yield Problem(None, "modified", f"anchor {seq}: its MAC is invalid: it was edited or forged")
        else:
            try:
                for head in decode_heads(heads):
                    found.heads[head.chain_id] = (Position(head.seq, head.digest), seq)
            except ValueError as exc:
                yield Problem(None, "damaged", f"anchor {seq}: {exc}")
        previous, expected = digest, seq + 1
        found.last = Position(seq, digest)


def _check_anchored(
    chain: str, anchored: tuple[Position, int] | None, last: Position, matched: bool
) -> Iterator[Problem]:
    if anchored is None:
        return
    point, by = anchored
    if last.seq < point.seq:
        yield Problem(
            last.seq + 1,
            "truncated",
            f"the chain ends at record {last.seq}, below its head at record {point.seq} that anchor {by} vouches "
            "for: records were removed or the chain was rolled back",
            chain,
        )
    elif not matched:
        yield Problem(point.seq, "anchor", f"it is not the record anchor {by} vouches for: it was rewritten", chain)


def _verify_chain(
    conn: psycopg.Connection[Any], key: bytes, row: Any, anchored: _Anchored, tally: Tally
) -> Iterator[Problem]:
    chain_id, head_seq, head_hash, head_mac_, base = row
    name = bytes(chain_id).hex()
    start = ORIGIN
    if base is not None:
        try:
            start = unseal(BASE, key, bytes(chain_id), bytes(base))
        except AnchorError as exc:
            yield Problem(None, "base", f"{exc}; verifying from the genesis instead", name)
    point = anchored.heads.pop(bytes(chain_id), None)
    mine = Tally(last=start, base=start)
    watch = CheckpointWatch(
        _stream(conn, "SELECT seq, body, hash FROM audit_records WHERE chain_id = %s ORDER BY seq", (chain_id,)),
        None if point is None else point[0],
        start,
    )
    for problem in walk(watch, start, mine):
        yield dataclasses.replace(problem, chain=name)
    for problem in check_head((head_seq, head_hash, head_mac_), mine.last, start, key):
        yield dataclasses.replace(problem, chain=name)
    yield from _check_anchored(name, point, mine.last, watch.matched)
    tally.records += mine.records
    tally.first, tally.last, tally.base = mine.first, mine.last, mine.base


def verify_trail(
    conn: psycopg.Connection[Any], key: bytes, chain_id: bytes | None, checkpoint: bytes | None, tally: Tally
) -> Iterator[Problem]:
    """Every problem of every chain and of the anchors, in one snapshot (see the module's docstring)."""
    if not _tables_exist(conn):
        yield Problem(None, "database", "the database has no audit tables: they were dropped, or never made")
        return
    with _snapshot(conn):
        row = conn.execute("SELECT value FROM audit_meta WHERE name = 'chain_id'").fetchone()
        stored = None if row is None else bytes(row[0])
        if chain_id is not None and stored != chain_id:
            found = "no identity" if stored is None else f"trail {stored.hex()}"
            yield Problem(None, "replaced", f"the audit tables hold {found}, not {chain_id.hex()}: they were replaced")
            return
        anchored = _Anchored()
        yield from _walk_anchors(conn, key, anchored)
        if checkpoint is not None and chain_id is not None:
            try:
                point = unseal(CHECKPOINT, key, chain_id, checkpoint)
            except AnchorError as exc:
                yield Problem(None, "checkpoint", str(exc))
            else:
                at = conn.execute("SELECT hash FROM audit_anchors WHERE seq = %s", (point.seq,)).fetchone()
                if anchored.last.seq < point.seq:
                    yield Problem(
                        None,
                        "truncated",
                        f"the anchors end at anchor {anchored.last.seq}, below the checkpoint at anchor {point.seq}: "
                        "anchors were removed or the database was rolled back",
                    )
                elif at is None or bytes(at[0]) != point.digest:
                    yield Problem(
                        None, "checkpoint", f"anchor {point.seq} is not the one checkpointed: it was rewritten"
                    )
        chains = conn.execute(_CHAINS).fetchall()
        total = Tally()
        for chain in chains:
            yield from _verify_chain(conn, key, chain, anchored, total)
        for gone, (point, by) in sorted(anchored.heads.items()):
            yield Problem(
                None,
                "missing",
                f"the chain is not in the log, though anchor {by} vouches for its head at record {point.seq}",
                gone.hex(),
            )
        for orphan, count, low, high in conn.execute(_ORPHANS):
            yield Problem(
                None,
                "head",
                f"{count} record(s) ({low}-{high}) but no head: its head row was deleted",
                bytes(orphan).hex(),
            )
        tally.records += total.records
        if len(chains) == 1:  # a span of record numbers means something only for one chain
            tally.first, tally.last, tally.base = total.first, total.last, total.base


class _View:
    """One chain, inside the snapshot its caller holds."""

    def __init__(self, conn: psycopg.Connection[Any], chain_id: bytes) -> None:
        self._c, self._chain = conn, chain_id

    def base(self) -> object:
        row = self._c.execute("SELECT base FROM audit_chains WHERE chain_id = %s", (self._chain,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def hash_at(self, seq: int) -> object:
        row = self._c.execute(
            "SELECT hash FROM audit_records WHERE chain_id = %s AND seq = %s", (self._chain, seq)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def records_after(self, seq: int) -> Iterator[tuple[object, object, object, object]]:
        yield from _stream(
            self._c,
            "SELECT seq, event_time, body, hash FROM audit_records WHERE chain_id = %s AND seq > %s ORDER BY seq",
            (self._chain, seq),
        )


class PostgresArchive:
    """Every chain of the audit trail in the PostgreSQL database at `url`, at rest."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __repr__(self) -> str:
        return "PostgresArchive()"  # the URL may hold a password

    def facts(self) -> ChainFacts:
        """Read only. head_seq is the anchor chain's (the position a checkpoint of the trail names)."""
        with contextlib.closing(connect(self._url)) as conn:
            if not _tables_exist(conn):
                return ChainFacts(False)
            row = conn.execute("SELECT value FROM audit_meta WHERE name = 'chain_id'").fetchone()
            last = conn.execute("SELECT max(seq) FROM audit_anchors").fetchone()
            return ChainFacts(
                True, None if row is None else bytes(row[0]), None, None if last is None else last[0], None
            )

    def name(self, chain_id: bytes) -> bytes:
        with contextlib.closing(connect(self._url)) as conn:
            migrate(conn)
            conn.execute(
                "INSERT INTO audit_meta (name, value) VALUES ('chain_id', %s) ON CONFLICT DO NOTHING", (chain_id,)
            )
            row = conn.execute("SELECT value FROM audit_meta WHERE name = 'chain_id'").fetchone()
            assert row is not None
            return bytes(row[0])

    def chains(self) -> list[bytes]:
        """Every chain's id, oldest first."""
        with contextlib.closing(connect(self._url)) as conn:
            if not _tables_exist(conn):
                return []
            return [bytes(c) for (c,) in conn.execute("SELECT chain_id FROM audit_chains ORDER BY started, chain_id")]

    def verify(
        self, audit_key: bytes, chain_id: bytes | None, checkpoint: bytes | None, tally: Tally
    ) -> Iterator[Problem]:
        """`chain_id`: the trail's identity (audit_meta); `checkpoint`: a sealed position of the anchor chain."""
        try:
            with contextlib.closing(connect(self._url, reader=True)) as conn:
                yield from verify_trail(conn, audit_key, chain_id, checkpoint, tally)
        except psycopg.Error as exc:  # unreachable, a table of another shape, a column retyped ...
            yield Problem(None, "database", f"the audit tables cannot be read: {exc}")

    def query(self, filters: AuditQuery) -> Iterator[bytes]:
        """Every chain merged, ordered by (time, chain, seq)."""
        where: list[str] = ["true"]
        args: list[object] = []
        if filters.key is not None:
            where.append("key_arn = %s" if filters.key.startswith("arn:") else "key_arn LIKE %s")
            args.append(filters.key if filters.key.startswith("arn:") else f"%:key/{filters.key}")
        if filters.since is not None:
            where.append("event_time >= %s")
            args.append(filters.since.timestamp())
        if filters.until is not None:
            where.append("event_time <= %s")
            args.append(filters.until.timestamp())
        sql = f"SELECT body FROM audit_records WHERE {' AND '.join(where)} ORDER BY event_time, chain_id, seq"  # noqa: S608
        found = 0
        try:
            with contextlib.closing(connect(self._url, reader=True)) as conn, _snapshot(conn):
                for (body,) in _stream(conn, sql, args):
                    if matches(orjson.loads(body), filters):
                        yield bytes(body)
                        found += 1
                        if filters.limit is not None and found >= filters.limit:
                            return
        except psycopg.Error as exc:
            raise ValueError(f"the audit tables cannot be read ({exc})") from None

    def _only(self, conn: psycopg.Connection[Any], chain_id: bytes | None) -> bytes:
        if chain_id is not None:
            return chain_id
        ids = [bytes(c) for (c,) in conn.execute("SELECT chain_id FROM audit_chains LIMIT 2")]
        if len(ids) != 1:
            raise ValueError(f"the audit trail has {'no' if not ids else 'several'} chains: name one")
        return ids[0]

    @contextlib.contextmanager
    def snapshot(self, chain_id: bytes | None = None) -> Iterator[View]:
        """A view of one chain (`chain_id`, or the only one) that stays consistent until the block ends."""
        with contextlib.closing(connect(self._url, reader=True)) as conn, _snapshot(conn):
            yield _View(conn, self._only(conn, chain_id))

    def prune(self, through: int, base: bytes, allowed: Callable[[View], bool], chain_id: bytes | None = None) -> int:
        """audit/port.py's prune, of one chain (`chain_id`, or the only one)."""
        with contextlib.closing(connect(self._url)) as conn, conn.transaction():
            chain = self._only(conn, chain_id)
            # The chain's row lock: a second pruner waits (its writer's head update waits only this long).
            conn.execute("SELECT 1 FROM audit_chains WHERE chain_id = %s FOR UPDATE", (chain,))
            if not allowed(_View(conn, chain)):
                return 0
            deleted = conn.execute(
                "DELETE FROM audit_records WHERE chain_id = %s AND seq <= %s", (chain, through)
            ).rowcount
            conn.execute("UPDATE audit_chains SET base = %s WHERE chain_id = %s", (base, chain))
            return int(deleted)
