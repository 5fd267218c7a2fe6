from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trent.store.base import SchemaTooNewError
from trent.store.sqlite import _SCHEMA, SqliteStore


def test_a_schema_newer_than_this_trent_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "trent.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(_SCHEMA) + 1}")
    with pytest.raises(SchemaTooNewError) as refused:
        SqliteStore(path)
    message = str(refused.value)
    assert f"version {len(_SCHEMA) + 1}" in message and f"({len(_SCHEMA)})" in message and "\n" not in message
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(_SCHEMA) + 1,)


def test_the_current_schema_opens(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "trent.db").close()
    store = SqliteStore(tmp_path / "trent.db")  # already at the newest version: nothing to do, no refusal
    store.close()
    with sqlite3.connect(tmp_path / "trent.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(_SCHEMA),)
