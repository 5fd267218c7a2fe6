"""Crash trials on a real server (decision 0009): under a mixed write load, kill -9 a worker, the audit
writer, or the whole server at random moments; afterwards every change in the store has its record in the
audit chain, no event id is chained twice, and the chain verifies. And one process dying takes no other
down: a worker's death leaves the writer and the other worker serving without a single 500."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from tests import crash
from tests.support import TrentServer, trent_command

WORKERS = 2


def _verify(data_dir: Path) -> None:
    done = subprocess.run(
        [*trent_command(), "audit", "verify", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _assert_every_change_recorded_once(data_dir: Path) -> crash.Account:
    result = crash.account(data_dir)
    assert result.changes["keys"] > 0 and result.changes["aliases"] > 0 and result.changes["grants"] > 0
    assert result.unrecorded == {kind: [] for kind in result.unrecorded}, result.unrecorded
    assert result.chained_twice == 0
    return result


def test_kill_9_of_a_worker_the_writer_or_the_server_leaves_no_change_unrecorded(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(7)
    server = TrentServer(data_dir, workers=WORKERS, port=crash.free_port()).start()
    try:
        with crash.Load(server.endpoint, threads=6) as load:
            for trial in ("worker", "writer", "server", "worker", "writer", "server"):
                time.sleep(rng.uniform(0.5, 1.5))  # a random moment of the load
                if trial == "worker":
                    crash.kill_worker(server, rng)
                elif trial == "writer":
                    crash.kill_writer(server)
                else:
                    server.stop(signal.SIGKILL)  # the whole process group
                    server.start()  # the same port: the load's clients carry on
                crash.restarted_in_full(server, WORKERS)
                time.sleep(0.5)
            answered = dict(load.tally.answered)
        assert answered.get("200", 0) > 50, answered
        crash.drained(data_dir)
    finally:
        server.stop()
    _assert_every_change_recorded_once(data_dir)
    _verify(data_dir)


def test_a_worker_dying_takes_no_other_process_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, workers=WORKERS) as server:
        writer = crash.audit_writer(server)
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        with crash.ReadLoad(crash.signed_encrypt(server.endpoint, key_id)) as load:
            time.sleep(1.0)
            for _ in range(4):
                victim = crash.workers(server)[0]
                os.kill(victim, signal.SIGSTOP)  # mid-request: the writer's acknowledgements pile up unread
                time.sleep(0.2)
                os.kill(victim, signal.SIGKILL)
                crash.restarted_in_full(server, WORKERS)
                time.sleep(1.0)
        assert crash.audit_writer(server) == writer  # it lived through every death
        assert load.statuses["500"] == 0, load.statuses  # before: every worker answered 500 for about a second
        assert load.statuses["200"] > 500, load.statuses
        assert kms.encrypt(KeyId=key_id, Plaintext=b"after")["KeyId"].endswith(key_id)


def test_workers_outlive_the_writer_and_serve_again_once_it_is_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, workers=WORKERS) as server:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        before = sorted(crash.workers(server))
        with crash.Load(server.endpoint, threads=4):
            time.sleep(0.5)
            crash.kill_writer(server)
            time.sleep(1.0)
        crash.restarted_in_full(server, WORKERS)
        deadline = time.monotonic() + 10
        while True:  # the workers reconnect within a second of the new writer
            try:
                kms.encrypt(KeyId=key_id, Plaintext=b"back")
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert sorted(crash.workers(server)) == before  # no worker died or crash-looped meanwhile
        crash.drained(data_dir)
    _assert_every_change_recorded_once(data_dir)
