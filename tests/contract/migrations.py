"""Databases as an older Trent left them: the schema's first versions only, for the migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from trent.kms.keys import Key
from trent.store.postgres_schema import SCHEMA
from trent.store.sqlite import _SCHEMA


def sqlite_at_version(path: Path, version: int) -> None:
    """A SQLite store database migrated to `version` and no further, as that Trent's _migrate left it."""
    with sqlite3.connect(path) as conn:
        for script in _SCHEMA[:version]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def postgres_at_version(conn: psycopg.Connection[Any], version: int) -> None:
    """A PostgreSQL store database migrated to `version` and no further (`conn` in autocommit)."""
    conn.execute(
        "CREATE TABLE trent_schema (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
        "version integer NOT NULL)"
    )
    for script in SCHEMA[:version]:
        conn.execute(script, prepare=False)
    conn.execute("INSERT INTO trent_schema (version) VALUES (%s)", (version,))


def sqlite_insert_key(conn: sqlite3.Connection, k: Key) -> None:
    """A key row with only the columns every schema version has (the others: their defaults)."""
    conn.execute(
        "INSERT INTO keys (key_id, account, region, spec, usage, origin, state, creation_date, current_version, "
        "revision, policy_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1, 1)",
        (k.key_id, k.account, k.region, k.spec.value, k.usage.value, k.origin.value, k.state.value,
         k.creation_date.timestamp()),
    )  # fmt: skip


def postgres_insert_key(conn: psycopg.Connection[Any], k: Key) -> None:
    """sqlite_insert_key's row, in PostgreSQL."""
    conn.execute(
        "INSERT INTO keys (key_id, account, region, spec, usage, origin, state, creation_date, current_version, "
        "revision, policy_revision) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, 1, 1)",
        (k.key_id, k.account, k.region, k.spec.value, k.usage.value, k.origin.value, k.state.value, k.creation_date),
    )
