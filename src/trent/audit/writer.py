"""The audit writer: one process per node that appends every worker's events to the chain.

Workers send batches over a Unix socket (mode 0600, in the data directory); the writer gathers whatever has
arrived from all of them, appends it in one transaction with one fsync, and acknowledges each batch. So the
workers' event loops never block on the disk, and the two workers' events share fsyncs.

Frames, both ways: a 4-byte big-endian length, then a `marshal` payload (fast, and able to carry only plain
data: no code is ever loaded from it). Worker → writer: (batch id, [row, ...]) with rows as audit.rows.Row.
Writer → worker: (batch id, error or None). The socket is reachable only by the server's own user.

The writer also drains the store's audit outbox (the records committed with the changes they describe,
decision 0009): at start and about every second it chains those not chained yet, then forgets them. A
client's socket failing (a worker killed mid-write) is that client gone, never the writer's end. Once a
batch is acknowledged, the keys' latest uses in it go to the store (audit/uses.py).
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from trent import metrics
from trent.audit.port import Chain
from trent.audit.rows import Row, unpack_row
from trent.audit.uses import LastUses

log = logging.getLogger("trent.audit.writer")
LENGTH = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
DRAIN_SECONDS = 1.0
DRAIN_BATCH = 1000


class Outbox(Protocol):
    """The store's audit outbox, as the composition root hands it to the writer (which imports no store)."""

    def pending(self, limit: int) -> Sequence[tuple[str, bytes]]: ...

    def forget(self, event_ids: Sequence[str]) -> None: ...


def drain(chain: Chain, outbox: Outbox) -> int:
    """Chain up to DRAIN_BATCH outbox records (those chained already are skipped), then forget them.

    Forgotten only after the chain committed: a writer killed in between chains nothing twice next time,
    since the chain keeps the event ids of journaled records. Returns how many records were taken.
    """
    pending = outbox.pending(DRAIN_BATCH)
    if not pending:
        return 0
    rows: list[Row] = []
    for event_id, data in pending:
        try:
            rows.append(unpack_row(data))
        except ValueError:
            log.error("outbox entry %s is not an audit record; dropped", event_id)
    chained = chain.append(rows)
    outbox.forget([event_id for event_id, _ in pending])
    if chained:
        log.info("chained %d audit record(s) from the outbox", chained)
    return len(pending)


def frame(document: Any) -> bytes:
    payload = marshal.dumps(document)
    return LENGTH.pack(len(payload)) + payload


def frames(buffer: bytearray) -> list[Any]:
    """Take every complete frame off the front of `buffer`."""
    out = []
    while len(buffer) >= LENGTH.size:
        (size,) = LENGTH.unpack_from(buffer)
        if size > MAX_FRAME:
            raise ValueError("audit frame too large")
        if len(buffer) < LENGTH.size + size:
            break
        # marshal carries plain values only (it cannot load code). The only peers are this server's workers:
        # the socket is reachable by its own user alone, who could as well write the database directly.
        out.append(marshal.loads(bytes(buffer[LENGTH.size : LENGTH.size + size])))  # noqa: S302
        del buffer[: LENGTH.size + size]
    return out


def listen(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)  # the socket is created 0600: only this user can write audit records
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(64)
    return sock


def _drain_quietly(chain: Chain, outbox: Outbox | None) -> bool:
    """drain(), never raising (a full disk is retried at the next turn); whether more may be waiting."""
    if outbox is None:
        return False
    try:
        return drain(chain, outbox) == DRAIN_BATCH
    except Exception as exc:
        log.error("draining the audit outbox failed: %s", exc)
        return False


def _append(chain: Chain, received: list[tuple[socket.socket, int, list[Row]]], uses: LastUses | None) -> None:
    """Chain every batch received, in one transaction, and acknowledge each (with the error, if it failed);
    then count the commit and record the keys' latest uses (off the requests' path: their responses wait for
    the acknowledgement)."""
    error: str | None = None
    rows = [row for _, _, batch in received for row in batch]
    started = time.perf_counter()
    seconds = 0.0
    try:
        chain.append(rows)
        seconds = time.perf_counter() - started
    except Exception as exc:  # every request of these batches fails closed
        log.error("audit write failed: %s", exc)
        error = f"audit write failed: {exc}"
    for conn, batch_id, _ in received:
        with contextlib.suppress(OSError):  # that worker is gone: its requests got no answer
            conn.sendall(frame([batch_id, error]))
    if rows and error is None:  # an empty batch is a readiness probe (RemoteAuditLog.writable), not a commit
        metrics.audit_commit(len(rows), seconds)
    if uses is not None:
        if error is None:
            uses.chained(rows)
        uses.publish()


def serve(
    chain: Chain,
    listener: socket.socket,
    ready: Callable[[], None],
    outbox: Outbox | None = None,
    uses: LastUses | None = None,
) -> None:
    """Run until SIGTERM: read batches, append them, acknowledge them, record key uses; drain the outbox."""
    stopping = False
    next_drain = 0.0  # at once

    def stop(signum: int, frame_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    buffers: dict[socket.socket, bytearray] = {}
    ready()
    while not stopping:
        received: list[tuple[socket.socket, int, list[Row]]] = []
        timeout: float | None = 0.5
        while True:  # take everything that is already there, then write it all at once
            events = selector.select(timeout)
            if not events:
                break
            timeout = 0
            for key, _ in events:
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                if conn is listener:
                    try:
                        client, _ = listener.accept()
                    except OSError as exc:  # out of descriptors, or the client already gave up
                        log.error("accepting an audit client failed: %s", exc)
                        continue
                    selector.register(client, selectors.EVENT_READ)
                    buffers[client] = bytearray()
                    continue
                try:
                    data = conn.recv(1 << 20)
                except OSError:  # ConnectionResetError: the worker died with our acknowledgement unread
                    data = b""
                if not data:
                    selector.unregister(conn)
                    buffers.pop(conn, None)
                    conn.close()
                    continue
                buffers[conn] += data
                try:
                    batches = [(conn, batch_id, rows) for batch_id, rows in frames(buffers[conn])]
                except (ValueError, EOFError, TypeError):
                    log.error("dropping a client that sent a malformed audit frame")
                    selector.unregister(conn)
                    buffers.pop(conn, None)
                    conn.close()
                    continue
                received.extend(batches)
        if received:
            _append(chain, received, uses)
        else:
            chain.idle()
            if uses is not None:
                uses.publish()  # uses a failed publish kept
        if time.monotonic() >= next_drain:  # after the acknowledgements: they are what requests wait for
            more = _drain_quietly(chain, outbox)
            next_drain = time.monotonic() + (0 if more else DRAIN_SECONDS)
    if uses is not None:
        uses.publish(now=True)
    for client in buffers:
        client.close()
    selector.close()
    listener.close()
