"""Strong consistency across worker processes: once DisableKey (or ScheduleKeyDeletion) returns, no worker
serves the key; and a key's deletion window ending destroys it, by the background task."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import TrentServer, error_of, kms_client


def _fresh_clients(server: TrentServer, count: int) -> list[Any]:
    """Separate clients, separate connections: SO_REUSEPORT spreads them over both workers."""
    return [server.client() for _ in range(count)]


@pytest.mark.parametrize("how", ["disable", "schedule-deletion"])
def test_no_worker_serves_a_key_after_the_state_change_returns(server: TrentServer, how: str) -> None:
    admin = server.client()
    key_id = admin.create_key()["KeyMetadata"]["KeyId"]
    clients = _fresh_clients(server, 12)
    for client in clients:  # warm every worker's material cache for this key
        client.encrypt(KeyId=key_id, Plaintext=b"warm")
    stop = threading.Event()
    changed_at: list[float] = []
    late_successes: list[float] = []

    def hammer(client: Any) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                client.encrypt(KeyId=key_id, Plaintext=b"load")
            except ClientError:
                continue
            if changed_at and started > changed_at[0]:
                late_successes.append(started - changed_at[0])

    threads = [threading.Thread(target=hammer, args=(c,)) for c in clients[:8]]
    for t in threads:
        t.start()
    time.sleep(0.3)
    if how == "disable":
        admin.disable_key(KeyId=key_id)
    else:
        admin.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    changed_at.append(time.monotonic())
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert late_successes == [], "a request that started after the change returned was served"
    expected = "DisabledException" if how == "disable" else "KMSInvalidStateException"
    for client in clients:
        with pytest.raises(ClientError) as exc:
            client.encrypt(KeyId=key_id, Plaintext=b"after")
        assert error_of(exc)[0] == expected


def test_deletion_window_end_destroys_the_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env={"TRENT_JOB_INTERVAL": "0.2"}) as server:
        kms = server.client()
        doomed = kms.create_key()["KeyMetadata"]["KeyId"]
        kept = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/doomed", TargetKeyId=doomed)
        kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
        kms.schedule_key_deletion(KeyId=kept, PendingWindowInDays=7)
        time.sleep(1.0)
        assert kms.describe_key(KeyId=doomed)["KeyMetadata"]["KeyState"] == "PendingDeletion"  # not yet due
        # Time passes: move the deletion date into the past, as the store would see it 7 days on.
        with sqlite3.connect(data_dir / "trent.db") as db:
            db.execute("UPDATE keys SET deletion_date = deletion_date - 8 * 86400 WHERE key_id = ?", (doomed,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                kms.describe_key(KeyId=doomed)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "NotFoundException"
                break
            time.sleep(0.1)
        else:
            pytest.fail("the background task did not destroy the key")
        with sqlite3.connect(data_dir / "trent.db") as db:
            assert db.execute("SELECT count(*) FROM key_material WHERE key_id = ?", (doomed,)).fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM aliases WHERE key_id = ?", (doomed,)).fetchone() == (0,)
        assert kms.describe_key(KeyId=kept)["KeyMetadata"]["KeyState"] == "PendingDeletion"
        assert doomed not in {k["KeyId"] for k in kms_client(server.endpoint).list_keys(Limit=1000)["Keys"]}
