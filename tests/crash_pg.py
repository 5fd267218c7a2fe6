"""Crash trials on PostgreSQL (issue 12): two nodes on one database, a mixed write load against each, kill -9 of
a node or an immediate shutdown of PostgreSQL at random moments; then what was acknowledged and is missing,
what the store holds without its audit record, and whether every acknowledged ciphertext decrypts on the
other node.

Used by tests/integration/test_crash_trials_postgres.py (a few trials) and benchmarks/crash_trials_pg.py.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from botocore.exceptions import BotoCoreError, ClientError

from tests import crash
from tests.postgres import Cluster, url_of
from tests.support import TrentServer, kms_client, trent_command

WORKERS = 2
PLAINTEXT = b"trial"  # what crash.Load encrypts


def readyz(node: TrentServer) -> int:
    where = urllib.parse.urlsplit(node.endpoint)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def ready(nodes: list[TrentServer], timeout: float = 60) -> None:
    crash.wait_for(lambda: all(readyz(n) == 200 for n in nodes), timeout, "a node did not become ready")


class AccessKeys:
    """A thread running `trent admin create-access-key` one after the other: the ids (and secrets) it printed."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.acked: dict[str, str] = {}
        self.calls: list[tuple[float, float, str]] = []  # sent, answered, outcome ("ok" or "failed")
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | env
        self._data_dir = data_dir
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AccessKeys:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        command = [*trent_command(), "admin", "create-access-key", "--json", "--data-dir", str(self._data_dir)]
        while not self._stop.wait(0.3):
            sent = time.monotonic()
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=self._env, check=False)
            except subprocess.TimeoutExpired:
                self.calls.append((sent, time.monotonic(), "hung"))
                continue
            if done.returncode == 0:
                made = json.loads(done.stdout)
                self.acked[made["AccessKeyId"]] = made["SecretAccessKey"]
            self.calls.append((sent, time.monotonic(), "ok" if done.returncode == 0 else "failed"))


@dataclass
class Outage:
    """One stop of PostgreSQL: from `pg_ctl stop -m immediate` returning to `pg_ctl start` being run."""

    down: float
    up: float
    ready: float = 0.0  # both nodes' /readyz 200 again


@dataclass
class Kill:
    node: int
    killed: float
    ready: float = 0.0


@dataclass
class Outcome:
    answered: Counter[str]
    account: crash.Account
    missing: dict[str, list[str]]  # acknowledged, then not in the store (or, for requests, not in the trail)
    acked: dict[str, int]
    decrypted: int  # acknowledged ciphertexts tried on the other node
    undecrypted: list[str]  # of them, those that failed (why)
    access_keys_refused: list[str]  # acknowledged access keys the other node did not accept
    verified: bool
    verify_output: str
    kills: list[Kill] = field(default_factory=list)
    survivor_failures: int = 0  # the other node's 500s and connection errors while one was down
    outages: list[Outage] = field(default_factory=list)
    acked_while_down: list[str] = field(default_factory=list)  # any 200 sent and answered while PostgreSQL was down
    slowest_while_down: float = 0.0  # the longest answer to a request sent while PostgreSQL was down (s)
    answered_while_down: Counter[str] = field(default_factory=Counter)  # "500 KMSInternalException", ".."


def trials(cluster: Cluster, conninfo: str, top: Path, kinds: list[str], seed: int, sample: int = 200) -> Outcome:
    """Run `kinds` ("node" or "postgres") in order under the load, on the database `conninfo` of `cluster`."""
    rng = random.Random(seed)
    shared = {"TRENT_DATABASE_URL": url_of(conninfo), "TRENT_ROOT_KEY_FILE": str(top / "root.key")}
    nodes = [TrentServer(top / name, workers=WORKERS, env=shared, port=crash.free_port()) for name in "ab"]
    kills: list[Kill] = []
    outages: list[Outage] = []
    try:
        for node in nodes:  # one after the other: the first makes the root key file
            node.start()
        ready(nodes)
        loads = [crash.Load(n.endpoint, threads=4, seed=seed * 10 + i) for i, n in enumerate(nodes)]
        with loads[0], loads[1], AccessKeys(shared, nodes[0].data_dir) as keys:
            for kind in kinds:
                time.sleep(rng.uniform(0.3, 2.0))
                if kind == "node":
                    kill = Kill(rng.randrange(len(nodes)), time.monotonic())
                    nodes[kill.node].stop(signal.SIGKILL)  # os.killpg: the supervisor, its workers and writer
                    nodes[kill.node].start()
                    ready(nodes)
                    kill.ready = time.monotonic()
                    kills.append(kill)
                else:
                    cluster.stop("immediate")
                    outage = Outage(time.monotonic(), 0.0)
                    time.sleep(rng.uniform(1.0, 2.0))
                    outage.up = time.monotonic()
                    cluster.start()
                    ready(nodes)
                    outage.ready = time.monotonic()
                    outages.append(outage)
            time.sleep(1.0)
        drained(conninfo)
        decrypted, undecrypted = _decrypt_elsewhere(nodes, loads, rng, sample)
        refused = _access_keys_elsewhere(nodes[1], keys.acked, rng, sample)
    finally:
        for node in nodes:
            node.stop()
    done = subprocess.run(
        [*trent_command(), "audit", "verify", "--data-dir", str(nodes[0].data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | shared,
    )
    stored, records, access_keys = _read(conninfo)
    acked = [load.acked for load in loads]
    answered = loads[0].tally.answered + loads[1].tally.answered
    outcome = Outcome(
        answered=answered,
        account=crash.compare(stored, records),
        missing=_missing(acked, keys.acked, stored, records, access_keys),
        acked={
            "keys": sum(len(a.keys) for a in acked),
            "aliases": sum(len(a.aliases) for a in acked),
            "grants": sum(len(a.grants) for a in acked),
            "tags": sum(len(a.tags) for a in acked),
            "policies": sum(len(a.policy_acked) for a in acked),
            "access keys": len(keys.acked),
            "ciphertexts": sum(len(a.ciphertexts) for a in acked),
        },
        decrypted=decrypted,
        undecrypted=undecrypted,
        access_keys_refused=refused,
        verified=done.returncode == 0,
        verify_output=(done.stdout + done.stderr).strip(),
        kills=kills,
        outages=outages,
    )
    _while_down(outcome, acked, keys.calls)
    for kill in kills:  # the other node's load while this one was dead and restarting
        other = acked[1 - kill.node]
        outcome.survivor_failures += sum(
            1
            for sent, _, _, result in other.calls
            if kill.killed <= sent <= kill.ready and result.split()[0] in ("500", "connection")
        )
    return outcome


def drained(conninfo: str, timeout: float = 30) -> None:
    def empty() -> bool:
        with psycopg.connect(conninfo) as conn:
            row = conn.execute("SELECT count(*) FROM audit_outbox").fetchone()
            return row is not None and row[0] == 0

    crash.wait_for(empty, timeout, "the outbox did not drain")


def _read(conninfo: str) -> tuple[dict[str, set[Any]], list[dict[str, Any]], set[str]]:
    with psycopg.connect(conninfo) as conn:
        stored = crash.rows(conn.execute)
        records = [json.loads(body) for (body,) in conn.execute("SELECT body FROM audit_records")]
        access_keys = {k for (k,) in conn.execute("SELECT access_key_id FROM access_keys")}
    return stored, records, access_keys


def _missing(
    acked: list[crash.Acked],
    access_keys_acked: dict[str, str],
    stored: dict[str, set[Any]],
    records: list[dict[str, Any]],
    access_keys: set[str],
) -> dict[str, list[str]]:
    policy_of = dict(stored["policies"])
    missing: dict[str, list[str]] = {
        kind: sorted(str(x) for a in acked for x in getattr(a, kind) - stored[kind])
        for kind in ("keys", "aliases", "grants", "tags")
    }
    missing["policies"] = sorted(
        f"{key}: {a.policies_sent[key][index]}"
        for a in acked
        for key, index in a.policy_acked.items()
        if policy_of.get(key) not in a.policies_sent[key][index:]  # the one acknowledged, or one sent after it
    )
    missing["access keys"] = sorted(set(access_keys_acked) - access_keys)
    recorded = {r.get("requestID") for r in records}
    missing["records"] = sorted(rid for a in acked for rid in a.request_ids if rid not in recorded)
    return missing


def _decrypt_elsewhere(
    nodes: list[TrentServer], loads: list[crash.Load], rng: random.Random, sample: int
) -> tuple[int, list[str]]:
    made = [(i, key_id, blob) for i, load in enumerate(loads) for key_id, blob in load.acked.ciphertexts]
    chosen = made if len(made) <= sample else rng.sample(made, sample)
    clients = [n.client() for n in nodes]
    failed = []
    for i, key_id, blob in chosen:
        try:
            answer = clients[1 - i].decrypt(CiphertextBlob=blob)
        except (ClientError, BotoCoreError) as exc:
            failed.append(f"{key_id}: {exc}")
            continue
        if answer["Plaintext"] != PLAINTEXT or not answer["KeyId"].endswith(key_id):
            failed.append(f"{key_id}: decrypted to something else")
    return len(chosen), failed


def _access_keys_elsewhere(node: TrentServer, acked: dict[str, str], rng: random.Random, sample: int) -> list[str]:
    ids = sorted(acked)
    refused = []
    for access_key in ids if len(ids) <= sample else rng.sample(ids, sample):
        try:
            kms_client(node.endpoint, access_key=access_key, secret=acked[access_key]).list_keys(Limit=1)
        except (ClientError, BotoCoreError) as exc:
            refused.append(f"{access_key}: {exc}")
    return refused


def _while_down(outcome: Outcome, acked: list[crash.Acked], admin_calls: list[tuple[float, float, str]]) -> None:
    """What was answered to requests sent while PostgreSQL was down: a 200 answered before it was back is a
    success without a store (and without an audit record); the slowest answer shows whether any hung."""
    for outage in outcome.outages:
        for a in acked:
            for sent, answered, operation, result in a.calls:
                if outage.down <= sent < outage.up:
                    outcome.answered_while_down[result] += 1
                    outcome.slowest_while_down = max(outcome.slowest_while_down, answered - sent)
                    if result == "200" and answered < outage.up:
                        outcome.acked_while_down.append(f"{operation} at +{sent - outage.down:.2f} s")
        for sent, answered, result in admin_calls:
            if outage.down <= sent < outage.up and result == "ok" and answered < outage.up:
                outcome.acked_while_down.append(f"create-access-key at +{sent - outage.down:.2f} s")
