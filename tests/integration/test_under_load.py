"""The guarantees still hold under concurrent load: every request, served or refused, leaves exactly one
audit record, written before its response; and the chain verifies afterwards."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.support import TrentServer, kms_client, trent_command


def test_audit_count_equals_request_count_under_load(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
        with sqlite3.connect(data_dir / "audit.db") as db:
            before = db.execute("SELECT count(*) FROM events").fetchone()[0]
        answered: list[int] = []
        lock = threading.Lock()

        def load(n: int, client: Any) -> None:
            done = 0
            for i in range(n):
                try:
                    if i % 5 == 4:  # a share of refused requests: they are recorded too
                        client.describe_key(KeyId="alias/none")
                    else:
                        client.encrypt(KeyId=key_id, Plaintext=b"x" * 64)
                except ClientError:
                    pass
                done += 1
            with lock:
                answered.append(done)

        clients = [kms_client(server.endpoint) for _ in range(12)]
        threads = [threading.Thread(target=load, args=(150, c)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with sqlite3.connect(data_dir / "audit.db") as db:  # every answered request is already on disk
            after = db.execute("SELECT count(*) FROM events").fetchone()[0]
        assert sum(answered) == 12 * 150
        assert after - before == sum(answered)
    verified = subprocess.run(
        [*trent_command(), "audit", "verify", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
