"""How every PostgreSQL session of Trent is opened: the store's, the batcher's, the audit trail's.

autocommit (transactions are explicit blocks: without it psycopg opens one at the first statement, and a
later transaction() is only a savepoint: docs/decisions/0010-postgresql-store.md), statements prepared once
per connection, times in UTC, and bounded waits: connecting (psycopg's own 130 s would hold a reconnecting
worker, and its readiness probe, that long), idling inside a transaction (a frozen node loses its locks after
5 s) and waiting for a lock (SQLite's busy timeout).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

CONNECT_TIMEOUT = 5
SESSION_SETTINGS: Mapping[str, str] = {
    "TimeZone": "UTC",
    "idle_in_transaction_session_timeout": "5000",
    "lock_timeout": "10000",
}
# A session that reads one long snapshot at its consumer's pace (audit verify, query, export) may pause longer
# than 5 s between two pages: no idle timeout (it holds no lock a writer waits for).
READER_SETTINGS: Mapping[str, str] = {**SESSION_SETTINGS, "idle_in_transaction_session_timeout": "0"}


def _arguments(url: str) -> dict[str, Any]:
    timeout = {} if "connect_timeout" in conninfo_to_dict(url) else {"connect_timeout": CONNECT_TIMEOUT}
    return {"autocommit": True, "prepare_threshold": 0, **timeout}


def _settings(settings: Mapping[str, str]) -> tuple[str, list[str]]:
    sql = "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in settings)
    return sql, [part for item in settings.items() for part in item]


def connect(url: str, settings: Mapping[str, str] = SESSION_SETTINGS) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, **_arguments(url))
    try:
        conn.execute(*_settings(settings), prepare=False)
    except BaseException:
        conn.close()
        raise
    return conn


async def connect_async(url: str) -> psycopg.AsyncConnection[Any]:
    """connect(), for reads the event loop must not wait for."""
    conn = await psycopg.AsyncConnection.connect(url, **_arguments(url))
    try:
        await conn.execute(*_settings(SESSION_SETTINGS), prepare=False)
    except BaseException:
        await conn.close()
        raise
    return conn
