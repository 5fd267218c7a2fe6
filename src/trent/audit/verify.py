"""Verification of a chain, streaming, whatever database holds it (audit/sqlite.py feeds it audit.db's rows):
constant memory whatever the log's size, and every kind of damage (edited, moved, deleted, retyped or
unreadable records, a forged head) one Problem, never a crash.

Rows come straight from the database cursor, so nothing about their types is assumed: a column rewritten
as another SQLite type, or NULL, is a "damaged" record, not a TypeError.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from trent.audit.anchor import ORIGIN, Position
from trent.audit.chain import head_mac, link

# A record whose hash does not follow from its predecessor is "reordered" when it follows from one of the
# records this close to it (either way), else "modified". The window bounds memory; a record moved further
# than this is reported as modified (and the gap it left as modified too): still found, less precisely named.
WINDOW = 64
# After this many mismatches the verifier stops looking for where a record was moved from (each look costs
# up to 2 * WINDOW hashes), so a wholly rewritten log is still verified in linear time.
NEIGHBOUR_SEARCHES = 1000
_SQL_TYPE = {bytes: "BLOB", str: "TEXT", int: "INTEGER", float: "REAL", type(None): "NULL"}


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None  # None: the problem is the database's, not one record's
    kind: str  # modified, missing, reordered, truncated, head, damaged, base, checkpoint, replaced, database
    detail: str
    chain: str | None = None  # the chain's id (hex) when the log has several (PostgreSQL: one per writer)

    def __str__(self) -> str:
        where = "" if self.seq is None else f"record {self.seq}: "
        of = "" if self.chain is None else f"chain {self.chain}: "
        return f"{of}{where}{self.kind}: {self.detail}"


@dataclass(slots=True)
class Tally:
    """What a walk saw, filled in as it goes: read it once the problems are exhausted."""

    records: int = 0
    first: int | None = None
    base: Position = field(default_factory=lambda: ORIGIN)  # records up to it were pruned after export
    anchored: bool = True  # False: the store holds no identity or checkpoint of this chain (before 0008)
    last: Position = field(default_factory=lambda: ORIGIN)


@dataclass(frozen=True, slots=True)
class _Record:
    seq: int
    body: bytes
    digest: bytes | None  # None: the stored hash is unusable (reported)


def type_name(value: object) -> str:
    """A stored value's type in SQL's words (a damaged column is reported as what it holds)."""
    return _SQL_TYPE.get(type(value), type(value).__name__)


def _parse(row: Any) -> tuple[_Record | None, list[Problem]]:
    """A row (seq, body, hash) as stored, or what is wrong with it."""
    seq, body, digest = row
    if not isinstance(seq, int):
        return None, [Problem(None, "damaged", f"a record's sequence number is {type_name(seq)}, not INTEGER")]
    problems = []
    if isinstance(body, str):  # the same characters, retyped: still checkable against its hash
        problems.append(Problem(seq, "damaged", "its body is TEXT, not BLOB"))
        body = body.encode("utf-8", "surrogatepass")
    elif not isinstance(body, bytes):
        return None, [Problem(seq, "damaged", f"its body is {type_name(body)}, not BLOB")]
    else:
        try:
            if not isinstance(orjson.loads(body), dict):
                problems.append(Problem(seq, "damaged", "its body is JSON but not a record (an object)"))
        except orjson.JSONDecodeError:
            problems.append(Problem(seq, "damaged", "its body is not JSON"))
    if not isinstance(digest, bytes):
        problems.append(Problem(seq, "damaged", f"its hash is {type_name(digest)}, not BLOB"))
        return _Record(seq, body, None), problems
    if len(digest) != 32:
        problems.append(Problem(seq, "damaged", f"its hash is {len(digest)} bytes, not 32"))
        return _Record(seq, body, None), problems
    return _Record(seq, body, digest), problems


def _records(rows: Iterable[Any]) -> Iterator[_Record | Problem]:
    for row in rows:
        record, problems = _parse(row)
        yield from problems
        if record is not None:
            yield record


def walk(rows: Iterable[Any], start: Position, tally: Tally) -> Iterator[Problem]:
    """Check the records after `start` (the genesis, or the base left by pruning) in storage order."""
    ahead: deque[_Record] = deque()
    behind: deque[_Record] = deque(maxlen=WINDOW)
    source = _records(rows)
    previous: bytes | None = start.digest
    expected, searches = start.seq + 1, 0
    exhausted = False
    while True:
        while not exhausted and len(ahead) <= WINDOW:
            item = next(source, None)
            if item is None:
                exhausted = True
            elif isinstance(item, Problem):
                yield item
            else:
                ahead.append(item)
        if not ahead:
            return
        record = ahead.popleft()
        tally.records += 1
        tally.first = record.seq if tally.first is None else tally.first
        if record.seq < expected:
            yield Problem(record.seq, "damaged", f"it is numbered below the base (record {start.seq})")
            continue
        if record.seq > expected:
            gap = f"{expected}" if record.seq == expected + 1 else f"{expected}-{record.seq - 1}"
            yield Problem(expected, "missing", f"record(s) {gap} are not in the log")
        computed = None if previous is None else link(previous, record.body)
        if computed is not None and record.digest is not None and computed != record.digest:
            follows = None
            if searches < NEIGHBOUR_SEARCHES:
                searches += 1
                follows = _moved_from(record, start, behind, ahead)
            if follows is None:
                yield Problem(record.seq, "modified", "its hash does not match its contents")
            else:
                yield Problem(record.seq, "reordered", f"it was written right after record {follows}")
        previous = record.digest if record.digest is not None else computed
        expected = record.seq + 1
        tally.last = Position(record.seq, previous if previous is not None else b"")
        behind.append(record)


def _moved_from(record: _Record, start: Position, *near: Iterable[_Record]) -> int | None:
    """The seq of the record this one really follows, if it chains from a record near it (or the start)."""
    if link(start.digest, record.body) == record.digest:
        return start.seq
    for group in near:
        for candidate in group:
            if candidate.digest is not None and link(candidate.digest, record.body) == record.digest:
                return candidate.seq
    return None


def check_head(head: Any, last: Position, start: Position, audit_key: bytes) -> Iterator[Problem]:
    """The authenticated head (a row seq, hash, mac, or None) against the last record walked."""
    if head is None:
        if last.seq > start.seq:
            yield Problem(last.seq, "head", "the log has records but no head")
        return
    seq, digest, mac = head
    if not (isinstance(seq, int) and isinstance(digest, bytes) and isinstance(mac, bytes)):
        yield Problem(None, "head", f"the head is damaged ({type_name(seq)}, {type_name(digest)}, {type_name(mac)})")
        return
    if not hmac.compare_digest(head_mac(audit_key, seq, digest), mac):
        yield Problem(seq, "head", "the head's MAC is invalid: the head was edited or forged")
    elif seq > last.seq:
        yield Problem(last.seq + 1, "truncated", f"the head says {seq} records; the log ends at {last.seq}")
    elif seq < last.seq or digest != last.digest:
        yield Problem(seq, "head", "records follow the last one the head vouches for")


def check_checkpoint(checkpoint: Position, last: Position, matched: bool) -> Iterator[Problem]:
    """The checkpoint kept outside audit.db: the log must reach it, through the record it names."""
    if last.seq < checkpoint.seq:
        yield Problem(
            last.seq + 1,
            "truncated",
            f"the log ends at record {last.seq}, below the checkpoint at record {checkpoint.seq}: "
            "records were removed or the audit database was rolled back to an older copy",
        )
    elif not matched:
        yield Problem(
            checkpoint.seq, "checkpoint", "the record at the checkpoint is not the one checkpointed: it was rewritten"
        )


class CheckpointWatch:
    """Passes rows through, noting whether the record at the checkpoint's seq has the checkpointed hash."""

    def __init__(self, rows: Iterable[Any], checkpoint: Position | None, start: Position) -> None:
        self._rows, self._checkpoint = rows, checkpoint
        # A checkpoint at or below the base was pruned past (pruning moves the checkpoint up): only one at
        # the base itself can still be compared.
        self.matched = checkpoint is None or checkpoint.seq < start.seq or checkpoint == start

    def __iter__(self) -> Iterator[Any]:
        point = self._checkpoint
        for row in self._rows:
            if point is not None and row[0] == point.seq:
                self.matched = row[2] == point.digest
            yield row
