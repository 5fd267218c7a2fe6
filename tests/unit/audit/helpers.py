"""Building audit databases for the tests: real records through the real writer."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from trent.audit.events import AuditEvent, UserIdentity
from trent.audit.rows import row_of
from trent.audit.sqlite import ChainWriter

KEY = os.urandom(32)
CHAIN = os.urandom(16)


def event(n: int, when: datetime | None = None, region: str = "us-east-1") -> AuditEvent:
    return AuditEvent(
        event_name="Encrypt",
        event_time=when or datetime(2026, 1, 1, tzinfo=UTC),
        region=region,
        request_id=f"req-{n}",
        event_id=f"evt-{n}",
        user_identity=UserIdentity("Root", "111122223333", "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"),
        source_ip="127.0.0.1",
        user_agent="test",
        read_only=True,
        recipient_account_id="111122223333",
        resources=("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001",),
        request_parameters={"keyId": "k", "encryptionContext": {"n": str(n)}},
    )


def build(path: Path, count: int, *, start: int = 1, minutes_apart: float = 0.0, batch: int = 5000) -> None:
    """Append `count` records to the chain at `path`, named with CHAIN, `minutes_apart` minutes apart."""
    writer = ChainWriter(path, KEY)
    writer.connection.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('chain_id', ?)", (CHAIN,))
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    rows = []
    for n in range(start, start + count):
        rows.append(row_of(event(n, datetime.fromtimestamp(base + n * minutes_apart * 60, UTC))))
        if len(rows) >= batch:
            writer.append(rows)
            rows = []
    if rows:
        writer.append(rows)
    writer.close()


def loosen(path: Path) -> None:
    """Recreate the events table without its constraints, as someone rewriting the file could."""
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "ALTER TABLE events RENAME TO strict_events;"
            "CREATE TABLE events (seq, event_time, key_arn, body, hash);"
            "INSERT INTO events SELECT * FROM strict_events; DROP TABLE strict_events;"
        )
