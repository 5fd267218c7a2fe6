"""The audit trail of nodes on one PostgreSQL database: a chain per writer in the database, anchored; every
request of every node has exactly one record; `trent audit verify` checks every chain and anchor and
`trent audit query` merges them; a change to a record is reported."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.postgres import url_of
from tests.support import TrentServer, trent_command

pytestmark = pytest.mark.integration


def _audit(shared: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | shared
    return subprocess.run(
        [*trent_command(), "audit", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_two_nodes_one_trail_every_request_once(postgres_url: str, tmp_path: Path) -> None:
    shared = {"TRENT_DATABASE_URL": url_of(postgres_url), "TRENT_ROOT_KEY_FILE": str(tmp_path / "root.key")}
    request_ids: list[str] = []
    with (
        TrentServer(tmp_path / "a", workers=2, env=shared) as a,
        TrentServer(tmp_path / "b", workers=2, env=shared) as b,
    ):
        key_id = a.client().create_key()["KeyMetadata"]["KeyId"]
        for node in (a, b) * 10:
            answer = node.client().encrypt(KeyId=key_id, Plaintext=b"x")
            request_ids.append(answer["ResponseMetadata"]["RequestId"])
        b.client().disable_key(KeyId=key_id)
        time.sleep(1.5)  # past a writer's outbox drain
    with psycopg.connect(postgres_url) as conn:
        chains = conn.execute("SELECT count(*) FROM audit_chains").fetchone()
        anchors = conn.execute("SELECT count(*) FROM audit_anchors").fetchone()
    assert chains is not None and chains[0] >= 2  # each node's writer (and the in-process logs) its own chain
    queried = _audit(shared, tmp_path / "a", "query", "--key", key_id)
    assert queried.returncode == 0, queried.stderr
    records = [json.loads(line) for line in queried.stdout.splitlines() if line.startswith("{")]
    seen = [r["requestID"] for r in records]
    for request_id in request_ids:  # from both nodes, merged: each exactly once
        assert seen.count(request_id) == 1
    assert [r["eventName"] for r in records].count("DisableKey") == 1
    times = [r["eventTime"] for r in records]
    assert times == sorted(times)
    verified = _audit(shared, tmp_path / "b", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr
    assert anchors is not None
    # Tamper with one record of one chain: verify names it, in one line, and fails.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        changed = conn.execute(
            "UPDATE audit_records SET body = convert_to(replace(convert_from(body, 'UTF8'), 'Encrypt', 'Decrypt'), "
            "'UTF8') WHERE (chain_id, seq) = (SELECT chain_id, seq FROM audit_records "
            "WHERE convert_from(body, 'UTF8') LIKE '%Encrypt%' LIMIT 1)"
        ).rowcount
        assert changed == 1
    damaged = _audit(shared, tmp_path / "a", "verify")
    assert damaged.returncode != 0 and "Traceback" not in damaged.stderr
    assert "modified" in damaged.stdout, damaged.stdout
