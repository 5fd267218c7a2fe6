"""Background jobs across nodes on one PostgreSQL: every node runs them, each effect happens exactly once
(with exactly one audit record), also while one node is frozen (SIGSTOP) or killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.postgres import url_of
from tests.support import TrentServer, trent_command

pytestmark = pytest.mark.integration
KEYS = 24


def _query(shared: dict[str, str], data_dir: Path, event: str) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | shared
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--event-name", event, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_deletion_and_rotation_run_once_across_nodes_one_frozen_one_killed(postgres_url: str, tmp_path: Path) -> None:
    shared = {
        "TRENT_DATABASE_URL": url_of(postgres_url),
        "TRENT_ROOT_KEY_FILE": str(tmp_path / "root.key"),
        "TRENT_JOB_INTERVAL": "0.1",
    }
    nodes = [TrentServer(tmp_path / name, workers=1, env=shared) for name in "abc"]
    for node in nodes:
        node.start()
    try:
        kms = nodes[0].client()
        doomed = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(KEYS)]
        rotating = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(KEYS)]
        for key_id in doomed:
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        for key_id in rotating:
            kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        frozen, killed = nodes[1].process, nodes[2].process
        assert frozen is not None and killed is not None
        os.killpg(frozen.pid, signal.SIGSTOP)  # a stalled VM: it keeps its sessions (and any lock) open
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # every window ends now
            conn.execute(
                "UPDATE keys SET deletion_date = now() - interval '1 second' WHERE key_id = ANY(%s)", (doomed,)
            )
            conn.execute(
                "UPDATE keys SET next_rotation_date = now() - interval '1 second' WHERE key_id = ANY(%s)", (rotating,)
            )
        time.sleep(0.15)
        os.killpg(killed.pid, signal.SIGKILL)  # most likely mid-run: it runs jobs every 0.1 s
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(postgres_url) as conn:
                left = conn.execute("SELECT count(*) FROM keys WHERE key_id = ANY(%s)", (doomed,)).fetchone()
                due = conn.execute(
                    "SELECT count(*) FROM keys WHERE key_id = ANY(%s) AND next_rotation_date <= now()", (rotating,)
                ).fetchone()
            if left == (0,) and due == (0,):
                break
            time.sleep(0.2)
        assert left == (0,) and due == (0,), (left, due)  # node a did it all while b was frozen and c dead
        os.killpg(frozen.pid, signal.SIGCONT)  # the frozen node wakes, finds nothing left to do
        time.sleep(1.0)
        with psycopg.connect(postgres_url) as conn:
            versions = conn.execute(
                "SELECT key_id, count(*) FROM key_material WHERE key_id = ANY(%s) GROUP BY key_id", (rotating,)
            ).fetchall()
        assert sorted(n for _, n in versions) == [2] * KEYS  # one rotation each: the original and one new
    finally:
        for node in nodes:
            if node.process is not None:
                os.killpg(node.process.pid, signal.SIGCONT)
            node.stop()
    deleted = _query(shared, tmp_path / "a", "DeleteKey")
    assert sorted(str(r["requestParameters"]["keyId"]) for r in deleted) == sorted(doomed)  # type: ignore[index]
    rotated = _query(shared, tmp_path / "a", "RotateKey")
    assert len(rotated) == KEYS
