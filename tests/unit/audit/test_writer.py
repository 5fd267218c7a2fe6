"""The audit writer: a journaled record is chained once however often it arrives, the outbox drains into
the chain, a client failing never stops the writer, and a worker starts before the writer is up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from tests.unit.audit.test_chain import KEY, _event
from trent.audit import writer
from trent.audit.port import AuditWriteError
from trent.audit.remote import RECONNECT_SECONDS, RemoteAuditLog
from trent.audit.rows import pack_row, row_of
from trent.audit.sqlite import ChainWriter, verify_log
from trent.audit.verify import Tally


class FakeOutbox:
    def __init__(self, rows: dict[str, bytes]) -> None:
        self.rows = dict(rows)

    def pending(self, limit: int) -> Sequence[tuple[str, bytes]]:
        return list(self.rows.items())[:limit]

    def forget(self, event_ids: Sequence[str]) -> None:
        for event_id in event_ids:
            del self.rows[event_id]


def _chained_ids(chain: ChainWriter) -> list[str]:
    bodies = chain.connection.execute("SELECT body FROM events ORDER BY seq")
    return [orjson.loads(body)["eventID"] for (body,) in bodies]


def test_a_journaled_row_is_chained_once(tmp_path: Path) -> None:
    chain = ChainWriter(tmp_path / "audit.db", KEY)
    change, read = row_of(_event(1), journaled=True), row_of(_event(2))
    assert chain.append([change, change, read]) == 2
    assert chain.append([change]) == 0
    assert chain.append([read]) == 1  # not journaled: each submission is its own request's record
    assert _chained_ids(chain) == ["evt-1", "evt-2", "evt-2"]
    assert list(verify_log(chain.connection, KEY, None, None, Tally())) == []
    chain.close()


def test_the_drain_chains_what_is_missing_then_forgets_it(tmp_path: Path) -> None:
    chain = ChainWriter(tmp_path / "audit.db", KEY)
    delivered, undelivered = row_of(_event(1), journaled=True), row_of(_event(2), journaled=True)
    chain.append([delivered])  # the worker's submission got through; the other's did not
    outbox = FakeOutbox({"evt-1": pack_row(delivered), "evt-2": pack_row(undelivered), "evt-x": b"not a row"})
    assert writer.drain(chain, outbox) == 3
    assert outbox.rows == {}
    assert _chained_ids(chain) == ["evt-1", "evt-2"]
    assert writer.drain(chain, outbox) == 0
    chain.close()


def test_a_drain_that_cannot_chain_forgets_nothing(tmp_path: Path) -> None:
    chain = ChainWriter(tmp_path / "audit.db", KEY)
    outbox = FakeOutbox({"evt-1": pack_row(row_of(_event(1), journaled=True))})
    chain.connection.execute("DROP TABLE events")  # as good as a full disk
    with pytest.raises(sqlite3.Error):
        writer.drain(chain, outbox)
    assert list(outbox.rows) == ["evt-1"]
    chain.close()


def _ack(sock: socket.socket) -> list[object]:
    head = sock.recv(4, socket.MSG_WAITALL)
    (size,) = struct.unpack(">I", head)
    buffer = bytearray(head + sock.recv(size, socket.MSG_WAITALL))
    (answer,) = writer.frames(buffer)
    assert isinstance(answer, list)
    return answer


def test_the_writer_outlives_a_client_that_dies_and_drains_at_start(tmp_path: Path) -> None:
    chain = ChainWriter(tmp_path / "audit.db", KEY)
    path = tmp_path / "audit.sock"
    listener = writer.listen(path)
    outbox = FakeOutbox({"evt-9": pack_row(row_of(_event(9), journaled=True))})
    answers: list[object] = []

    def clients() -> None:
        try:
            dying = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            dying.connect(str(path))
            dying.sendall(writer.frame((1, [row_of(_event(1))])))
            time.sleep(0.3)  # its acknowledgement arrives, unread: closing now resets the writer's end
            dying.sendall(writer.frame((2, [row_of(_event(2))])))
            dying.close()
            time.sleep(0.3)
            alive = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            alive.settimeout(5)
            alive.connect(str(path))
            alive.sendall(writer.frame((7, [row_of(_event(3))])))
            answers.append(_ack(alive))
            alive.close()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # serve() stops on SIGTERM

    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=clients)
    try:
        writer.serve(chain, listener, thread.start, outbox)
    finally:
        thread.join()  # before the handlers are restored: its SIGTERM must reach serve()'s
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    assert answers == [[7, None]]
    assert outbox.rows == {}
    assert set(_chained_ids(chain)) >= {"evt-9", "evt-1", "evt-3"}
    chain.close()


def test_a_worker_starts_without_the_writer_and_connects_once_it_is_up(tmp_path: Path) -> None:
    path = tmp_path / "audit.sock"

    async def acknowledge(reader: asyncio.StreamReader, writer_: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        while data := await reader.read(1 << 16):
            buffer += data
            for batch_id, _ in writer.frames(buffer):
                writer_.write(writer.frame([batch_id, None]))
        writer_.close()
        done.set()

    done = asyncio.Event()

    async def main() -> None:
        log = RemoteAuditLog(path)
        await log.start()  # no writer yet: the worker starts all the same
        with pytest.raises(AuditWriteError):
            await log.submit(_event(1))  # and fails closed meanwhile
        server = await asyncio.start_unix_server(acknowledge, str(path))
        await asyncio.sleep(RECONNECT_SECONDS * 2 + 0.2)
        await asyncio.wait_for(log.submit(_event(2)), 5)
        log.close()
        await asyncio.wait_for(done.wait(), 5)
        server.close()
        await server.wait_closed()

    asyncio.run(main())
