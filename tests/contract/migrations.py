"""Databases as an older Trent left them: the schema's first versions only, for the migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trent.store.sqlite import _SCHEMA


def sqlite_at_version(path: Path, version: int) -> None:
    """A SQLite store database migrated to `version` and no further, as that Trent's _migrate left it."""
    with sqlite3.connect(path) as conn:
        for script in _SCHEMA[:version]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
