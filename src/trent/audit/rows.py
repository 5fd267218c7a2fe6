"""Audit rows, backend-neutral: an event as it travels to a writer, how a batch of them is linked onto the
chain, and the filters of `trent audit query`. Every chain adapter (SQLite, PostgreSQL) stores what link()
computes, so all of them write the same chain (the format is audit/chain.py's)."""

from __future__ import annotations

import marshal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trent.audit.chain import head_mac, link
from trent.audit.events import AuditEvent

if TYPE_CHECKING:
    from trent.audit.port import AuditQuery

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


@dataclass(frozen=True, slots=True)
class Linked:
    """A batch linked onto the chain: the records to store (seq, time, key ARN, body, hash) and the new head."""

    records: list[tuple[int, float, str | None, bytes, bytes]]
    seq: int
    digest: bytes
    mac: bytes


def link_rows(
    seq: int, digest: bytes, rows: Sequence[Row], audit_key: bytes, first_time: Callable[[str], bool]
) -> Linked:
    """Link `rows` after the head (seq, digest). `first_time(journal id)` says whether a journaled row is not
    chained yet (and notes it as chained, in the adapter's transaction); rows it refuses are skipped."""
    records = []
    for when, key_arn, _use, body, journal_id in rows:
        if journal_id is not None and not first_time(journal_id):
            continue  # chained already (the worker's submission, or an earlier drain)
        seq += 1
        digest = link(digest, body)
        records.append((seq, when, key_arn, body, digest))
    return Linked(records, seq, digest, head_mac(audit_key, seq, digest))


@dataclass(frozen=True, slots=True)
class Use:
    """A successful use of a key that GetKeyLastUsage reports."""

    key_arn: str
    when: float  # POSIX seconds
    operation: str
    event_id: str
    request_id: str


def latest_uses(rows: Sequence[Row]) -> dict[str, Use]:
    """Each key's latest use among the rows (by time; the later row wins a tie)."""
    found: dict[str, Use] = {}
    for when, key_arn, use, _body, _journal_id in rows:
        if use is None or key_arn is None:
            continue
        known = found.get(key_arn)
        if known is None or when >= known.when:
            found[key_arn] = Use(key_arn, when, *use)
    return found


def matches(record: dict[str, Any], q: AuditQuery) -> bool:
    """The filters an adapter does not put in its index query (principal, event name, error)."""
    identity = record.get("userIdentity") or {}
    if q.principal is not None and q.principal not in (identity.get("arn"), identity.get("accessKeyId")):
        return False
    if q.event_name is not None and record.get("eventName") != q.event_name:
        return False
    error = record.get("errorCode")
    return q.error is None or (error is not None if q.error == "*" else error == q.error)
