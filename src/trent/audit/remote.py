"""A worker's side of the audit writer: send the events of each event-loop iteration as one batch, and
release their requests when the writer acknowledges it durable. Fail closed: no writer, no responses.

A worker starts whether or not the writer is up (it is restarted independently): it connects in the
background and its requests fail with AuditWriteError until it is connected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from trent.audit.events import AuditEvent
from trent.audit.port import AuditWriteError, settle
from trent.audit.rows import Row, row_of
from trent.audit.writer import frame, frames

log = logging.getLogger("trent.audit")
RECONNECT_SECONDS = 0.5


class _Acks(asyncio.Protocol):
    def __init__(self, owner: RemoteAuditLog) -> None:
        self._owner = owner
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for batch_id, error in frames(self._buffer):
            self._owner.acknowledged(batch_id, error)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.lost()


class RemoteAuditLog:
    def __init__(self, socket_path: Path) -> None:
        self._socket_path = socket_path
        self._transport: asyncio.Transport | None = None
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._waiting: dict[int, list[asyncio.Future[None]]] = {}
        self._batches = 0
        self._reconnector: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RemoteAuditLog({str(self._socket_path)!r})"

    async def start(self) -> None:
        try:
            await self.connect()
        except OSError:
            log.warning("the audit writer is not up yet; requests fail until it is")
            self._reconnect_soon()

    async def connect(self) -> None:
        transport, _ = await asyncio.get_running_loop().create_unix_connection(
            lambda: _Acks(self), str(self._socket_path)
        )
        self._transport = transport

    def lost(self) -> None:
        self._transport = None
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            settle(futures, AuditWriteError("the audit writer went away"))
        self._reconnect_soon()

    def _reconnect_soon(self) -> None:
        if self._reconnector is None or self._reconnector.done():  # the loop keeps only a weak reference
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while self._transport is None:
            await asyncio.sleep(RECONNECT_SECONDS)
            try:
                await self.connect()
            except OSError:
                continue
            log.warning("connected to the audit writer")

    def acknowledged(self, batch_id: int, error: str | None) -> None:
        futures = self._waiting.pop(batch_id, [])
        settle(futures, None if error is None else AuditWriteError(error))

    def _send(self) -> None:
        batch, self._pending = self._pending, []
        futures = [future for _, future in batch]
        if self._transport is None or self._transport.is_closing():
            settle(futures, AuditWriteError("no audit writer"))
            return
        self._batches += 1
        self._waiting[self._batches] = futures
        self._transport.write(frame((self._batches, [row for row, _ in batch])))

    def submit(self, event: AuditEvent, *, journaled: bool = False) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send)  # once the loop has run everything runnable: one batch per iteration
        self._pending.append((row_of(event, journaled=journaled), future))
        return future

    async def record(self, event: AuditEvent) -> None:
        await self.submit(event)

    async def writable(self) -> None:
        """An empty batch: the writer takes its write lock, commits nothing and acknowledges it."""
        if self._transport is None or self._transport.is_closing():
            raise AuditWriteError("no audit writer")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batches += 1
        self._waiting[self._batches] = [future]
        self._transport.write(frame((self._batches, [])))
        await future

    def record_now(self, events: Sequence[AuditEvent], *, journaled: bool = False) -> None:
        raise AuditWriteError("workers record through the event loop")

    def close(self) -> None:
        if self._reconnector is not None:
            self._reconnector.cancel()
        if self._transport is not None:
            self._transport.close()
