"""The audit writer: one process per node that appends every worker's events to the chain.

Workers send batches over a Unix socket (mode 0600, in the data directory); the writer gathers whatever has
arrived from all of them, appends it in one transaction with one fsync, and acknowledges each batch. So the
workers' event loops never block on the disk, and the two workers' events share fsyncs.

Frames, both ways: a 4-byte big-endian length, then a `marshal` payload (fast, and able to carry only plain
data: no code is ever loaded from it). Worker → writer: (batch id, [row, ...]) with rows as audit.sinks.Row.
Writer → worker: (batch id, error or None). The socket is reachable only by the server's own user.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trent.audit.sinks import ChainWriter, Row

log = logging.getLogger("trent.audit.writer")
LENGTH = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


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


def serve(chain: ChainWriter, listener: socket.socket, ready: Callable[[], None]) -> None:
    """Run until SIGTERM: read batches, append them, acknowledge them."""
    stopping = False

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
                    client, _ = listener.accept()
                    selector.register(client, selectors.EVENT_READ)
                    buffers[client] = bytearray()
                    continue
                data = conn.recv(1 << 20)
                if not data:
                    selector.unregister(conn)
                    buffers.pop(conn, None)
                    conn.close()
                    continue
                buffers[conn] += data
                try:
                    batches = frames(buffers[conn])
                except (ValueError, EOFError, TypeError):
                    log.error("dropping a client that sent a malformed audit frame")
                    selector.unregister(conn)
                    buffers.pop(conn, None)
                    conn.close()
                    continue
                received.extend((conn, batch_id, rows) for batch_id, rows in batches)
        if not received:
            chain.idle()
            continue
        error: str | None = None
        try:
            chain.append([row for _, _, rows in received for row in rows])
        except Exception as exc:  # every request of these batches fails closed
            log.error("audit write failed: %s", exc)
            error = f"audit write failed: {exc}"
        for conn, batch_id, _ in received:
            with contextlib.suppress(OSError):
                conn.sendall(frame([batch_id, error]))
    selector.close()
    listener.close()
