"""The operations endpoints of a real server: /healthz, /readyz (store, root of trust, audit writer) and
Prometheus /metrics added up over every process, with bounded labels and nothing secret in them."""

from __future__ import annotations

import http.client
import os
import re
import signal
import time
import urllib.parse
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, TrentServer

pytestmark = pytest.mark.integration


def _get(server: TrentServer, path: str) -> tuple[int, str, str]:
    url = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("content-type") or "", response.read().decode()
    finally:
        conn.close()


def _post_target(server: TrentServer, target: str) -> int:
    """An unsigned request naming `target` as its operation: what anyone can send."""
    url = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        conn.request("POST", "/", body=b"{}", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _audit_writer(server: TrentServer) -> int:
    assert server.process is not None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"trent: audit writer"):
                    status = (entry / "status").read_text()
                    if f"PPid:\t{server.process.pid}\n" in status:
                        return int(entry.name)
            except OSError:
                continue
    raise AssertionError("no audit writer")


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition, e.g. _sample(t, "trent_requests_total", operation="Encrypt")."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_readyz_follows_the_audit_writer_and_healthz_does_not(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "data", workers=1) as server:
        assert _get(server, "/healthz")[0] == 200
        status, content_type, body = _get(server, "/readyz")
        assert (status, body) == (200, "store ok\nroot_of_trust ok\naudit ok\n")
        assert content_type.startswith("text/plain")
        writer = _audit_writer(server)
        os.kill(writer, signal.SIGSTOP)  # alive but answering nothing: a writer stuck on a dead disk
        try:
            time.sleep(1.1)  # past the reuse window of the last answer
            started = time.monotonic()
            status, _, body = _get(server, "/readyz")
            assert (status, body) == (503, "store ok\nroot_of_trust ok\naudit failed\n")
            assert time.monotonic() - started < 5  # bounded by the check timeout, not a hang
            assert _get(server, "/healthz")[0] == 200  # liveness: the worker itself is fine
        finally:
            os.kill(writer, signal.SIGCONT)
        time.sleep(1.1)
        assert _get(server, "/readyz")[0] == 200


def test_a_flood_of_readiness_probes_shares_checks(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "data", workers=1) as server:
        started = time.monotonic()
        statuses = [_get(server, "/readyz")[0] for _ in range(200)]
        elapsed = time.monotonic() - started
        text = _get(server, "/metrics")[2]
    assert statuses == [200] * 200
    # One empty audit batch per second at most: the writer counted no commits for them (they hold no record).
    assert _sample(text, "trent_audit_batch_records_count") == 0
    assert elapsed < 30


def test_metrics_add_up_every_worker_and_hold_no_identifiers(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "data", workers=2) as server:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        for _ in range(30):  # new connections each time: both workers get some
            server.client().encrypt(KeyId=key_id, Plaintext=b"x")
        with pytest.raises(ClientError):
            kms.describe_key(KeyId="alias/nothing-here")
        for n in range(25):  # operation names chosen by unauthenticated clients
            assert _post_target(server, f"TrentService.Made{n}Up") in {400, 403}
        deadline = time.monotonic() + 10
        while True:
            status, content_type, text = _get(server, "/metrics")
            # Each worker adds its counts to the shared files about once a second (trent/metrics.py).
            other = _sample(
                text, "trent_requests_total", operation="Other", error_code="MissingAuthenticationTokenException"
            )
            if other >= 25 and _sample(text, "trent_requests_total", operation="Encrypt", error_code="") >= 30:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
    assert status == 200 and content_type.startswith("text/plain; version=")
    assert _sample(text, "trent_requests_total", operation="Encrypt", error_code="") == 30
    assert _sample(text, "trent_requests_total", operation="CreateKey", error_code="") == 1
    assert _sample(text, "trent_requests_total", operation="DescribeKey", error_code="NotFoundException") == 1
    assert _sample(text, "trent_request_duration_seconds_count", operation="Encrypt") == 30
    assert _sample(text, "trent_request_duration_seconds_bucket", operation="Encrypt", le="+Inf") == 30
    # Every record went through the writer's commits (some shared one).
    commits = _sample(text, "trent_audit_commit_seconds_count")
    assert 1 <= commits <= 57
    assert _sample(text, "trent_audit_batch_records_sum") >= 57
    assert "Made" not in text  # the client's names became "Other": labels stay bounded
    for identifier in (key_id, "111122223333", ACCESS_KEY_ID, SECRET_ACCESS_KEY, str(tmp_path)):
        assert identifier not in text
