"""Each key's latest use, from what a writer chained to the store's record (audit/uses.py): the latest per
key, kept through a failed hand-over, and recorded by the writer process once a batch is acknowledged."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.unit.audit.test_chain import KEY, _event
from trent.audit import writer
from trent.audit.events import AuditEvent
from trent.audit.rows import Use, row_of
from trent.audit.sqlite import ChainWriter
from trent.audit.uses import LastUses

ARN = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Sink:
    """The store's side, as the composition root hands it over; `failures` calls fail first."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[list[Use]] = []

    def record(self, uses: Sequence[Use]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        self.calls.append(list(uses))


def _use_event(n: int, seconds: float, *, key_use: bool = True, key: str = ARN) -> AuditEvent:
    return replace(
        _event(n), event_time=T0 + timedelta(seconds=seconds), resources=(key,), key_use=key_use, event_name="Decrypt"
    )


def test_the_latest_use_of_each_key_is_handed_over_once() -> None:
    sink = Sink()
    uses = LastUses(sink)
    other = ARN.replace("0001", "0002")
    uses.chained([row_of(_use_event(1, 5)), row_of(_use_event(2, 1)), row_of(_use_event(3, 2, key=other))])
    uses.chained([row_of(_use_event(4, 9, key_use=False))])  # a failure, or no use to report: not a use
    uses.publish()
    assert sink.calls == [
        [
            Use(ARN, (T0 + timedelta(seconds=5)).timestamp(), "Decrypt", "evt-1", "req-1"),
            Use(other, (T0 + timedelta(seconds=2)).timestamp(), "Decrypt", "evt-3", "req-3"),
        ]
    ]
    uses.publish()
    assert len(sink.calls) == 1  # nothing new: nothing handed over


def test_uses_a_failed_hand_over_kept_go_with_the_next() -> None:
    sink = Sink(failures=1)
    uses = LastUses(sink)
    uses.chained([row_of(_use_event(1, 1))])
    uses.publish()  # logged, kept
    assert sink.calls == []
    uses.chained([row_of(_use_event(2, 0.5))])  # older than the one kept: the kept one stays
    uses.publish()
    assert [[u.event_id for u in call] for call in sink.calls] == [["evt-1"]]


def _ack(sock: socket.socket) -> list[object]:
    head = sock.recv(4, socket.MSG_WAITALL)
    (size,) = struct.unpack(">I", head)
    (answer,) = writer.frames(bytearray(head + sock.recv(size, socket.MSG_WAITALL)))
    assert isinstance(answer, list)
    return answer


def test_the_writer_records_the_uses_of_what_it_chained(tmp_path: Path) -> None:
    chain = ChainWriter(tmp_path / "audit.db", KEY)
    path = tmp_path / "audit.sock"
    listener = writer.listen(path)
    sink = Sink()
    answers: list[object] = []

    def client() -> None:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(writer.frame((1, [row_of(_use_event(1, 1)), row_of(_use_event(2, 3))])))
            answers.append(_ack(sock))
            sock.close()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # serve() stops on SIGTERM

    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=client)
    try:
        writer.serve(chain, listener, thread.start, None, LastUses(sink))
    finally:
        thread.join()
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
        chain.close()
    assert answers == [[1, None]]
    assert [u.event_id for call in sink.calls for u in call] == ["evt-2"]
