"""An audit log written in this process, over any Chain adapter: for tools, background jobs and tests (the
server's workers write through the audit writer process instead: audit/remote.py).

Group commit: requests of one event-loop iteration share one append (one transaction, one fsync) and wait
for it; none is released before its record is durable; a failed append fails every request of the batch.
Why: docs/decisions/0003-audit.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from trent.audit.events import AuditEvent
from trent.audit.port import AuditWriteError, Chain, settle
from trent.audit.rows import Row, row_of
from trent.audit.uses import LastUses

log = logging.getLogger("trent.audit")


class LocalAuditLog:
    """`errors`: what the chain raises when it cannot write (its adapter's database errors)."""

    def __init__(
        self, chain: Chain, uses: LastUses | None = None, errors: tuple[type[Exception], ...] = (OSError,)
    ) -> None:
        self._chain = chain
        self._uses = uses
        self._errors = errors
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        return f"LocalAuditLog({self._chain!r})"

    def _append(self, rows: Sequence[Row]) -> None:
        self._chain.append(rows)
        if self._uses is not None:
            self._uses.chained(rows)

    def _publish(self) -> None:
        if self._uses is not None:
            self._uses.publish()

    def record_now(self, events: Sequence[AuditEvent], *, journaled: bool = False) -> None:
        try:
            self._append([row_of(e, journaled=journaled) for e in events])
        except self._errors as exc:
            raise AuditWriteError(str(exc)) from exc
        self._publish()

    def _flush(self) -> None:
        """Write every event queued since the last flush, in one transaction, then release their requests."""
        batch, self._pending = self._pending, []
        error: Exception | None = None
        try:
            self._append([row for row, _ in batch])
        except Exception as exc:  # disk full, read-only file, ...: every request of the batch fails
            log.error("audit write failed: %s", exc)
            error = AuditWriteError(str(exc))
        settle([future for _, future in batch], error)
        # Before the released requests' responses go out (they are sent from later callbacks of this loop):
        # a GetKeyLastUsage made after a response sees its use.
        self._publish()

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
        except self._errors as exc:
            raise AuditWriteError(str(exc)) from exc

    def close(self) -> None:
        self._publish()
        self._chain.close()
