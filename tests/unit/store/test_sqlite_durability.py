"""Durability of the SQLite databases: synchronous=FULL (every commit fsynced), except in a dev server's
throwaway data directory (removed at exit), which is never fsynced (docs/dev-mode.md)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trent.app import devmode
from trent.app.storage import open_store
from trent.app.trail import open_archive
from trent.audit.sqlite import ChainWriter, SqliteAuditLog
from trent.config import Settings, load_settings
from trent.store.base import KeyUse
from trent.store.sqlite import SqliteStore

FULL, NORMAL, OFF = 2, 1, 0


def synchronous(conn: sqlite3.Connection) -> int:
    value: int = conn.execute("PRAGMA synchronous").fetchone()[0]
    return value


def test_the_store_is_durable_unless_told_not_to_be(tmp_path: Path) -> None:
    durable, throwaway = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db", durable=False)
    assert (synchronous(durable._c), synchronous(throwaway._c)) == (FULL, OFF)
    use = KeyUse("arn:aws:kms:us-east-1:111122223333:key/k", datetime.now(UTC), "Encrypt", "e", "r")
    for store in (durable, throwaway):
        store.record_key_uses([use])  # NORMAL for the key uses only, then back to the store's own level
    assert (synchronous(durable._c), synchronous(throwaway._c)) == (FULL, OFF)
    assert durable._c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert throwaway._c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_audit_database_is_durable_unless_told_not_to_be(tmp_path: Path) -> None:
    key = bytes(32)
    assert synchronous(ChainWriter(tmp_path / "a.db", key).connection) == FULL
    assert synchronous(ChainWriter(tmp_path / "b.db", key, durable=False).connection) == OFF
    log = SqliteAuditLog(tmp_path / "c.db", key, durable=False)
    assert synchronous(log._chain.connection) == OFF  # type: ignore[attr-defined]


@pytest.mark.parametrize("given", [False, True])
def test_only_a_dev_servers_throwaway_directory_is_not_durable(given: bool, tmp_path: Path) -> None:
    flags: dict[str, object] = {"dev": True, **({"data_dir": tmp_path / "kept"} if given else {})}
    with devmode.throwaway(load_settings(flags)) as settings:
        assert settings.durable is given
        settings.data_dir.mkdir(exist_ok=True)
        store = open_store(settings)
        assert synchronous(store._c) == (FULL if given else OFF)  # type: ignore[attr-defined]
        assert open_archive(settings)._durable is given  # type: ignore[union-attr]
        store.close()
    assert Settings().durable and load_settings({}).durable
