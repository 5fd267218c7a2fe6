"""Crash trials (decision 0009): a mixed write load from threads against a real `trent serve`, kill -9 of a
worker, of the audit writer or of the whole server at random moments, then an account of every change in
the store without its record in the audit chain, and of every event id chained twice. The load keeps what it
was answered 200 for (Acked), so an account can also name what was acknowledged and then lost.

Used by tests/integration/test_crash_trials.py (a few trials) and benchmarks/crash_trials.py (many); on
PostgreSQL, with two nodes, by tests/crash_pg.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tests.support import ACCOUNT, TrentServer, kms_client

WRITES = ("CreateKey", "CreateAlias", "CreateGrant", "TagResource", "PutKeyPolicy")
READS = ("Encrypt",)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _opens(pid: int, suffix: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(suffix):
                return True
        except OSError:
            continue
    return False


def audit_writer(server: TrentServer) -> int | None:
    """The trent-audit process: the one child holding the chain's lock file (workers never open it)."""
    assert server.process is not None
    found = [c for c in children(server.process.pid) if _opens(c, "audit.db.lock")]
    return found[0] if found else None


def workers(server: TrentServer) -> list[int]:
    """The trent-worker processes: children with the store open that are not the audit writer."""
    assert server.process is not None
    return [c for c in children(server.process.pid) if _opens(c, "trent.db") and not _opens(c, "audit.db.lock")]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@dataclass
class Tally:
    answered: Counter[str] = field(default_factory=Counter)  # "200", "500", "4xx", "connection"
    read_500_request_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str, read_request_id: str | None = None) -> None:
        with self.lock:
            self.answered[outcome] += 1
            if read_request_id is not None:
                self.read_500_request_ids.append(read_request_id)


def _policy(n: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"trial-{n}",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )


@dataclass
class Acked:
    """What the server answered 200 for, each of which must outlive any crash; and every call's timing."""

    keys: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)
    grants: set[str] = field(default_factory=set)
    tags: set[tuple[str, str]] = field(default_factory=set)
    # A key's policy is replaced by the next PutKeyPolicy: every Sid sent for the key in order, and the index of
    # the last answered 200. The store holds that one or one sent after it (whose answer a crash lost).
    policies_sent: dict[str, list[str]] = field(default_factory=dict)
    policy_acked: dict[str, int] = field(default_factory=dict)
    ciphertexts: list[tuple[str, bytes]] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)  # of every answer 200: each must have its record
    # sent, answered, operation, outcome (as Tally counts it, with the error code of an error answer)
    calls: list[tuple[float, float, str, str]] = field(default_factory=list)


class Load:
    """Threads, each with its own client, sending a mix of the five writes and some Encrypts until stopped."""

    def __init__(self, endpoint: str, threads: int = 6, seed: int = 0) -> None:
        self.tally = Tally()
        self.acked = Acked()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(endpoint, seed * 100 + i), daemon=True) for i in range(threads)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, endpoint: str, seed: int) -> None:
        rng = random.Random(seed)
        kms = kms_client(endpoint)
        own: list[str] = []
        while not self._stop.is_set():
            operation = "CreateKey" if not own else rng.choice(WRITES + READS)
            key_id, n = (rng.choice(own) if own else ""), uuid.uuid4().hex[:12]
            if operation == "PutKeyPolicy":
                with self.tally.lock:
                    self.acked.policies_sent.setdefault(key_id, []).append(f"trial-{n}")
            sent = time.monotonic()
            try:
                answer = self._send(kms, operation, key_id, n)
                outcome = "200"
                self.tally.count(outcome)
                self._acked(operation, key_id, n, answer, own)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
                read_id = request_id if status == 500 and operation in READS else None
                outcome = "500" if status == 500 else "4xx"
                self.tally.count(outcome, read_id)
                outcome += " " + exc.response.get("Error", {}).get("Code", "")
            except BotoCoreError:  # the process that held the connection was killed
                outcome = "connection"
                self.tally.count(outcome)
            with self.tally.lock:
                self.acked.calls.append((sent, time.monotonic(), operation, outcome))
            if outcome == "connection":
                time.sleep(0.05)

    def _acked(self, operation: str, key_id: str, n: str, answer: Any, own: list[str]) -> None:
        with self.tally.lock:
            acked = self.acked
            acked.request_ids.append(answer["ResponseMetadata"]["RequestId"])
            if operation == "CreateKey":
                own.append(answer["KeyMetadata"]["KeyId"])
                acked.keys.add(answer["KeyMetadata"]["KeyId"])
            elif operation == "CreateAlias":
                acked.aliases.add(f"alias/trial-{n}")
            elif operation == "CreateGrant":
                acked.grants.add(answer["GrantId"])
            elif operation == "TagResource":
                acked.tags.add((key_id, f"trial-{n}"))
            elif operation == "PutKeyPolicy":
                acked.policy_acked[key_id] = acked.policies_sent[key_id].index(f"trial-{n}")
            else:
                acked.ciphertexts.append((key_id, answer["CiphertextBlob"]))

    @staticmethod
    def _send(kms: Any, operation: str, key_id: str, n: str) -> Any:
        if operation == "CreateKey":
            return kms.create_key()
        if operation == "CreateAlias":
            return kms.create_alias(AliasName=f"alias/trial-{n}", TargetKeyId=key_id)
        if operation == "CreateGrant":
            return kms.create_grant(
                KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Encrypt"]
            )
        if operation == "TagResource":
            return kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"trial-{n}", "TagValue": "v"}])
        if operation == "PutKeyPolicy":
            return kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_policy(n))
        return kms.encrypt(KeyId=key_id, Plaintext=b"trial")


@dataclass(frozen=True)
class Account:
    """What the store holds against what the chain records."""

    changes: dict[str, int]  # per kind: keys, aliases, grants, tags, policies in the store
    unrecorded: dict[str, list[str]]  # per kind: those with no successful record of their making
    chained_twice: int  # event ids that appear more than once in the chain
    records: int
    read_500s_recorded: int  # read requests answered 500 whose (success) record is in the chain anyway


def outbox_size(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "trent.db") as db:
        return int(db.execute("SELECT count(*) FROM audit_outbox").fetchone()[0])


def account(data_dir: Path, tally: Tally | None = None) -> Account:
    with sqlite3.connect(data_dir / "trent.db") as db:
        stored = rows(db.execute)
    with sqlite3.connect(data_dir / "audit.db") as db:
        records = [json.loads(body) for (body,) in db.execute("SELECT body FROM events ORDER BY seq")]
    return compare(stored, records, tally)


def rows(execute: Any) -> dict[str, set[Any]]:
    """The store's keys, aliases, grants, tags and (trial) policies, through a DB-API `execute`."""
    return {
        "keys": {k for (k,) in execute("SELECT key_id FROM keys")},
        "aliases": {a for (a,) in execute("SELECT name FROM aliases")},
        "grants": {g for (g,) in execute("SELECT grant_id FROM grants")},
        "tags": {(k, t) for k, t in execute("SELECT key_id, tag_key FROM tags")},
        "policies": {
            (k, json.loads(p)["Statement"][0]["Sid"])
            for k, p in execute("SELECT key_id, policy FROM key_policies")
            if '"trial-' in p
        },
    }


def compare(stored: dict[str, set[Any]], records: list[dict[str, Any]], tally: Tally | None = None) -> Account:
    """The account of the store's `rows` against the chain's `records` (in any order)."""
    made: dict[str, set[Any]] = {kind: set() for kind in ("keys", "aliases", "grants", "tags", "policies")}
    request_ids = set()
    for r in records:
        request_ids.add(r.get("requestID"))
        if r.get("errorCode"):
            continue
        name, params, response = r["eventName"], r.get("requestParameters") or {}, r.get("responseElements") or {}
        if name == "CreateKey":
            made["keys"].add(response["keyMetadata"]["keyId"])
        elif name == "CreateAlias":
            made["aliases"].add(params["aliasName"])
        elif name == "CreateGrant":
            made["grants"].add(response["grantId"])
        elif name == "TagResource":
            made["tags"].update((params["keyId"], t["tagKey"]) for t in params["tags"])
        elif name == "PutKeyPolicy":
            made["policies"].add(params["keyId"])
    unrecorded = {kind: sorted(map(str, stored[kind] - made[kind])) for kind in ("keys", "aliases", "grants", "tags")}
    unrecorded["policies"] = sorted(str(p) for p in stored["policies"] if p[0] not in made["policies"])
    counts = Counter(r["eventID"] for r in records)
    read_500s = 0 if tally is None else sum(rid in request_ids for rid in tally.read_500_request_ids)
    return Account(
        changes={k: len(v) for k, v in stored.items()},
        unrecorded=unrecorded,
        chained_twice=sum(1 for c in counts.values() if c > 1),
        records=len(records),
        read_500s_recorded=read_500s,
    )


def kill_worker(server: TrentServer, rng: random.Random) -> None:
    os.kill(rng.choice(workers(server)), signal.SIGKILL)


def kill_writer(server: TrentServer) -> None:
    pid = audit_writer(server)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def restarted_in_full(server: TrentServer, count: int, timeout: float = 20) -> None:
    """Wait until the supervisor has replaced what was killed: a writer and `count` workers."""
    wait_for(lambda: audit_writer(server) is not None and len(workers(server)) == count, timeout, "restart")


def drained(server_dir: Path, timeout: float = 20) -> None:
    wait_for(lambda: outbox_size(server_dir) == 0, timeout, "the outbox did not drain")


def signed_encrypt(endpoint: str, key_id: str) -> tuple[str, dict[str, str], bytes]:
    """One signed Encrypt request, replayable (SigV4 accepts a signature for 15 minutes)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    body = json.dumps({"KeyId": key_id, "Plaintext": "dHJpYWw="}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"}
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "kms", REGION).add_auth(request)
    return endpoint, dict(request.headers.items()), body


class ReadLoad:
    """Keep-alive threads replaying one signed Encrypt as fast as they can: enough requests in flight that a
    worker killed at any moment dies with audit acknowledgements unread (what used to kill the writer)."""

    def __init__(self, request: tuple[str, dict[str, str], bytes], threads: int = 6) -> None:
        self.statuses: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._request = request
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> ReadLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        from urllib.parse import urlsplit

        endpoint, headers, body = self._request
        where = urlsplit(endpoint)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
        one = f"POST / HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body
        conn: socket.socket | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = socket.create_connection((where.hostname or "", where.port or 80), timeout=30)
                conn.sendall(one * PIPELINE)  # pipelined: the worker reads them together, as under real load
                outcomes = _responses(conn, PIPELINE)
            except OSError:
                outcomes = ["connection"]
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.statuses.update(outcomes)
        if conn is not None:
            conn.close()


PIPELINE = 16


def _responses(conn: socket.socket, count: int) -> list[str]:
    """The status of each of `count` HTTP/1.1 responses read off `conn` (each with a Content-Length)."""
    buffer, statuses = b"", list[str]()
    while len(statuses) < count:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            data = conn.recv(1 << 16)
            if not data:
                raise ConnectionResetError("closed mid-response")
            buffer += data
            continue
        head = buffer[:end].decode("latin-1").split("\r\n")
        length = next(int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:"))
        while len(buffer) < end + 4 + length:
            data = conn.recv(1 << 16)
            if not data:
                raise ConnectionResetError("closed mid-response")
            buffer += data
        statuses.append(head[0].split()[1])
        buffer = buffer[end + 4 + length :]
    return statuses
