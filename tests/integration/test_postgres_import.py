"""Imported key material on PostgreSQL, with several nodes: material imported through one node serves every
node, and material expiring at one moment is deleted once (one DeleteExpiredKeyMaterial record per key) while
every node runs the job."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.importing import import_material
from tests.postgres import url_of
from tests.support import TrentServer, trent_command

pytestmark = pytest.mark.integration
KEYS = 8


def test_imports_serve_every_node_and_expire_once(postgres_url: str, tmp_path: Path) -> None:
    shared = {
        "TRENT_DATABASE_URL": url_of(postgres_url),
        "TRENT_ROOT_KEY_FILE": str(tmp_path / "root.key"),
        "TRENT_JOB_INTERVAL": "0.1",
    }
    nodes = [TrentServer(tmp_path / name, workers=1, env=shared) for name in "abc"]
    for node in nodes:
        node.start()
    try:
        a, b = nodes[0].client(), nodes[1].client()
        material = os.urandom(32)
        lasting = a.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        import_material(a, lasting, material)
        blob = b.encrypt(KeyId=lasting, Plaintext=b"anywhere")["CiphertextBlob"]
        assert nodes[2].client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"anywhere"
        soon = datetime.now(UTC) + timedelta(seconds=4)
        expiring = [a.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"] for _ in range(KEYS)]
        for key_id in expiring:
            import_material(b, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=soon)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(postgres_url) as conn:
                left = conn.execute(
                    "SELECT count(*) FROM key_material WHERE key_id = ANY(%s) AND wrapped IS NOT NULL", (expiring,)
                ).fetchone()
            if left == (0,):
                break
            time.sleep(0.2)
        assert left == (0,)
        time.sleep(1.0)  # every node ran the job again meanwhile: nothing more happens
        states = {b.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] for k in expiring}
        assert states == {"PendingImport"}
        assert a.describe_key(KeyId=lasting)["KeyMetadata"]["KeyState"] == "Enabled"
    finally:
        for node in nodes:
            node.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | shared
    done = subprocess.run(
        [
            *trent_command(),
            "audit",
            "query",
            "--event-name",
            "DeleteExpiredKeyMaterial",
            "--data-dir",
            str(tmp_path / "a"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["requestParameters"]["keyId"] for r in records) == sorted(expiring)  # once each
