"""The audit port: what the rest of Trent asks of the audit trail, whatever database keeps the chain.

Three roles, each a Protocol:
- AuditLog: what ops and the fronts use. Submit an event, learn when it is durable (fail closed).
- Chain: what a writer appends to. One call chains a batch of rows in one transaction (rows.py says what a row
  is and how it is linked, so that every adapter chains identically).
- Archive: what the composition root needs of a chain at rest: its facts, its naming, verification, queries,
  a consistent View for export, and pruning (audit/export.py drives the last two).
And KeyUses: where the writers hand each key's latest successful use (kept by the store, for GetKeyLastUsage).

Adapters: audit/sqlite.py (the chain in audit.db), audit/postgres.py and postgres_archive.py (a chain per
writer in the store's PostgreSQL database, anchored; docs/decisions/0011), audit/local.py (an AuditLog
writing in this process), audit/remote.py (an AuditLog of a worker, through the writer process of audit/writer.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from trent.audit.events import AuditEvent
from trent.audit.rows import Row, Use
from trent.audit.verify import Problem, Tally


class AuditWriteError(Exception):
    """The audit record could not be made durable; the request must fail."""


class AuditFormatError(Exception):
    """The audit database was written in a format this version does not know."""


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

    async def start(self) -> None:
        """Get ready to record, inside the event loop that will submit events."""
        ...

    async def writable(self) -> None:
        """Return if a record could be made durable now (readiness); AuditWriteError otherwise."""
        ...

    def close(self) -> None: ...


class Chain(Protocol):
    """The chain as a writer sees it. On SQLite writers of several processes append to one chain, serialized
    (the head read and the head stored are in one transaction); on PostgreSQL each writer has a chain of its own
    and a second writer on it is fenced out (its append raises, forking nothing)."""

    def append(self, rows: Sequence[Row]) -> int:
        """Chain the rows durably in one transaction, except journaled ones already chained (by any writer); how
        many it chained. An empty batch commits nothing: a readiness probe (SQLite takes the write lock;
        PostgreSQL makes a round trip that checks the head is still this writer's). Raises on failure."""
        ...

    def idle(self) -> None:
        """No rows came for a while (housekeeping: a checkpoint that is due)."""
        ...

    def close(self) -> None: ...


class KeyUses(Protocol):
    """Where writers record each key's latest successful use (the store, through the composition root)."""

    def record(self, uses: Sequence[Use]) -> None: ...


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What an audit database says about its chain, read without creating or changing anything."""

    exists: bool
    chain_id: bytes | None = None
    legacy_key: bytes | None = None  # the wrapped audit key versions before 0008 kept in the database
    head_seq: int | None = None
    base: bytes | None = None  # the sealed base left by pruning (audit/anchor.py), as stored


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


class View(Protocol):
    """One consistent view of a chain at rest: records committed meanwhile are not in it. Values come as
    stored (a damaged column is whatever it holds: readers check types)."""

    def base(self) -> object:
        """The sealed base left by pruning (audit/anchor.py), or None."""
        ...

    def hash_at(self, seq: int) -> object:
        """The stored hash of record `seq`, or None if there is none."""
        ...

    def records_after(self, seq: int) -> Iterator[tuple[object, object, object, object]]:
        """(seq, time, body, hash) of each record after `seq`, in chain order."""
        ...


class Archive(Protocol):
    """A chain at rest, as `trent serve` checks it at start and `trent audit` reads, exports and prunes it."""

    def facts(self) -> ChainFacts:
        """Read only; ChainFacts(False) when there is no chain at all."""
        ...

    def name(self, chain_id: bytes) -> bytes:
        """Record the chain id unless the chain has one (creating it if need be); return the one it has."""
        ...

    def verify(
        self, audit_key: bytes, chain_id: bytes | None, checkpoint: bytes | None, tally: Tally
    ) -> Iterator[Problem]:
        """Every problem of the chain: identity, base, records, head, checkpoint; never raises for damage."""
        ...

    def query(self, filters: AuditQuery) -> Iterator[bytes]:
        """The matching records, oldest first, byte for byte as chained."""
        ...

    def chains(self) -> list[bytes]:
        """The id of every chain, oldest first: one on SQLite (once named), one per writer on PostgreSQL."""
        ...

    def snapshot(self, chain_id: bytes | None = None) -> AbstractContextManager[View]:
        """A view of one chain that stays consistent until the block ends (export reads one). `chain_id`: which
        chain of several (None: the only one; SQLite has one and ignores it)."""
        ...

    def prune(self, through: int, base: bytes, allowed: Callable[[View], bool], chain_id: bytes | None = None) -> int:
        """In one write transaction: if `allowed(view)`, delete the records up to `through` of the chain (as in
        snapshot()) and store `base` (sealed by the caller) as its new base; how many records were deleted.
        `allowed` may raise: nothing is changed then."""
        ...


def settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    """Release the requests of a batch: all durable, or all failed with `error`."""
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
