"""The store port's record of each key's latest use (GetKeyLastUsage), run against every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.contract.conftest import Opener
from tests.contract.migrations import sqlite_at_version
from trent.store.base import KeyUse, Store
from trent.store.sqlite import SqliteStore

ARN = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001"
OTHER = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000002"
NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _use(n: int, when: datetime = NOW, key_arn: str = ARN, operation: str = "Encrypt") -> KeyUse:
    return KeyUse(key_arn, when, operation, f"evt-{n}", f"req-{n}")


def test_a_key_never_used_has_no_use_and_tracking_has_a_start(store: Store) -> None:
    before = datetime.now(UTC)
    assert store.key_last_use(ARN) is None
    start = store.key_use_tracking_start()
    assert start is not None and before - timedelta(minutes=1) <= start <= datetime.now(UTC) + timedelta(seconds=1)


def test_the_latest_use_is_kept_per_key(store: Store) -> None:
    store.record_key_uses([_use(1), _use(2, NOW, OTHER, "Sign")])
    assert store.key_last_use(ARN) == _use(1)
    assert store.key_last_use(OTHER) == _use(2, NOW, OTHER, "Sign")
    later = _use(3, NOW + timedelta(seconds=1), operation="Decrypt")
    store.record_key_uses([later])
    assert store.key_last_use(ARN) == later
    assert store.key_last_use(OTHER) == _use(2, NOW, OTHER, "Sign")  # untouched


def test_an_earlier_use_never_replaces_a_later_one(store: Store) -> None:
    # Two writers may record out of order (an in-process log and the writer process): time decides.
    store.record_key_uses([_use(2, NOW + timedelta(seconds=5))])
    store.record_key_uses([_use(1, NOW)])
    assert store.key_last_use(ARN) == _use(2, NOW + timedelta(seconds=5))
    # Within one call too, whatever the order given; a tie goes to the one given last.
    store.record_key_uses([_use(4, NOW + timedelta(seconds=9)), _use(3, NOW + timedelta(seconds=6))])
    assert store.key_last_use(ARN) == _use(4, NOW + timedelta(seconds=9))
    store.record_key_uses([_use(5, NOW + timedelta(seconds=9))])
    assert store.key_last_use(ARN) == _use(5, NOW + timedelta(seconds=9))


def test_nothing_to_record_changes_nothing(store: Store) -> None:
    store.record_key_uses([])
    assert store.key_last_use(ARN) is None


def test_recording_uses_is_refused_inside_a_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.record_key_uses([_use(1)])
    assert store.key_last_use(ARN) is None


def test_uses_are_seen_by_another_handle(open_store: Opener) -> None:
    writer, reader = open_store(), open_store()
    start = reader.key_use_tracking_start()
    assert reader.key_last_use(ARN) is None
    writer.record_key_uses([_use(1)])
    assert reader.key_last_use(ARN) == _use(1)  # no cached read hides it
    assert open_store().key_use_tracking_start() == start  # tracking began once, when the table was made


def test_uses_on_sqlite_survive_reopening_without_an_fsync_each(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer, reader = SqliteStore(path), SqliteStore(path)
    try:
        start = reader.key_use_tracking_start()
        assert reader.key_last_use(ARN) is None
        writer.record_key_uses([_use(1)])
        assert reader.key_last_use(ARN) == _use(1)  # no memo hides it (record_key_uses leaves the epoch)
        # The commit was not fsynced (synchronous=NORMAL for advisory data): the connection is back to FULL.
        assert writer._c.execute("PRAGMA synchronous").fetchone() == (2,)
    finally:
        writer.close()
        reader.close()
    again = SqliteStore(path)
    try:
        assert again.key_last_use(ARN) == _use(1)
        assert again.key_use_tracking_start() == start  # tracking began once, when the table was made
    finally:
        again.close()


def test_a_database_of_version_4_gains_key_uses(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    sqlite_at_version(path, 4)  # as a database written before version 5 is
    store = SqliteStore(path)
    try:
        assert store.key_use_tracking_start() is not None and store.key_last_use(ARN) is None
        store.record_key_uses([_use(1)])
        assert store.key_last_use(ARN) == _use(1)
    finally:
        store.close()
