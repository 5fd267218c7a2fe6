"""The hash chain and its verifier, on a real audit database: every kind of tampering is found and located."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trent.audit.chain import GENESIS, canonical, head_mac, link
from trent.audit.events import AuditEvent, UserIdentity
from trent.audit.sqlite import SqliteAuditLog, verify_log
from trent.audit.verify import Tally

KEY = os.urandom(32)


def _event(n: int, error: str | None = None) -> AuditEvent:
    return AuditEvent(
        event_name="Encrypt",
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        region="us-east-1",
        request_id=f"req-{n}",
        event_id=f"evt-{n}",
        user_identity=UserIdentity("Root", "111122223333", "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"),
        source_ip="127.0.0.1",
        user_agent="test",
        read_only=True,
        recipient_account_id="111122223333",
        resources=("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001",),
        request_parameters={"keyId": "k", "encryptionContext": {"n": str(n)}},
        error_code=error,
        error_message=None if error is None else "denied",
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    log = SqliteAuditLog(path, KEY)

    async def write() -> None:
        await asyncio.gather(*(log.record(_event(n)) for n in range(1, 6)))
        log.record_now([_event(n) for n in range(6, 11)])

    asyncio.run(write())
    log.close()
    return path


def _verify(path: Path, key: bytes = KEY) -> tuple[int, list[tuple[int, str]]]:
    tally = Tally()
    with sqlite3.connect(path) as conn:
        problems = list(verify_log(conn, key, None, None, tally))
    return tally.records, [(p.seq, p.kind) for p in problems]


def test_an_intact_log_verifies(db: Path) -> None:
    assert _verify(db) == (10, [])
    with sqlite3.connect(db) as conn:
        bodies = [bytes(b) for (b,) in conn.execute("SELECT body FROM events ORDER BY seq")]
        digests = [bytes(h) for (h,) in conn.execute("SELECT hash FROM events ORDER BY seq")]
    previous = GENESIS
    for body, digest in zip(bodies, digests, strict=True):  # the documented format, recomputed independently
        assert digest == link(previous, body)
        previous = digest
    expected = {canonical(_event(n).record()) for n in range(1, 11)}
    assert set(bodies) == expected  # stored byte for byte as canonical JSON


def test_a_modified_record_is_located(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        body = bytes(conn.execute("SELECT body FROM events WHERE seq = 4").fetchone()[0])
        conn.execute("UPDATE events SET body = ? WHERE seq = 4", (body.replace(b"req-", b"REQ-"),))
    assert _verify(db)[1] == [(4, "modified")]


def test_a_deleted_record_is_located(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM events WHERE seq = 6")
    problems = _verify(db)[1]
    assert (6, "missing") in problems and (7, "modified") in problems


def test_reordered_records_are_located(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET seq = -3 WHERE seq = 3")
        conn.execute("UPDATE events SET seq = 3 WHERE seq = 5")
        conn.execute("UPDATE events SET seq = 5 WHERE seq = -3")
    kinds = dict(_verify(db)[1])
    assert kinds[3] == "reordered" and kinds[5] == "reordered"


def test_a_truncated_log_is_found(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM events WHERE seq > 8")
    assert _verify(db)[1] == [(9, "truncated")]


def test_a_forged_head_is_found(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # truncate, then make the head agree without the audit key
        conn.execute("DELETE FROM events WHERE seq > 8")
        digest = bytes(conn.execute("SELECT hash FROM events WHERE seq = 8").fetchone()[0])
        conn.execute("UPDATE head SET seq = 8, hash = ?, mac = ?", (digest, head_mac(os.urandom(32), 8, digest)))
    assert _verify(db)[1] == [(8, "head")]
    with sqlite3.connect(db) as conn:  # with the right key the head would be valid: the key is what protects it
        conn.execute("UPDATE head SET mac = ?", (head_mac(KEY, 8, digest),))
    assert _verify(db)[1] == []


def test_a_rewritten_tail_cannot_be_made_to_verify(db: Path) -> None:
    """Re-chaining edited records is possible without the key, but the head then no longer matches."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, body FROM events ORDER BY seq").fetchall()
        previous = GENESIS
        for seq, body in rows:
            edited = bytes(body).replace(b"Encrypt", b"Decrypt") if seq == 7 else bytes(body)
            previous = link(previous, edited)
            conn.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?", (edited, previous, seq))
    assert _verify(db)[1] == [(10, "head")]
