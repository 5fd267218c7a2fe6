"""Two nodes on one PostgreSQL behind a real haproxy that health-checks /readyz: kill -9 one node during a boto3
load with the SDK's standard retries, and no client sees a failure; every ciphertext made decrypts after."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests import postgres
from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, TrentServer

pytestmark = pytest.mark.e2e

HAPROXY = """
global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend kms
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
{servers}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _client(endpoint: str) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        # The SDK's standard retry mode: connection errors and 500/502/503/504 are retried, with backoff.
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=20),
    )


def test_killing_a_node_behind_haproxy_fails_no_client(tmp_path: Path, postgres_url: str) -> None:
    haproxy = shutil.which("haproxy")
    assert haproxy is not None, "haproxy is not installed (.ci/run installs Debian's haproxy)"
    env = {"TRENT_DATABASE_URL": postgres.url_of(postgres_url), "TRENT_ROOT_KEY_FILE": str(tmp_path / "root.key")}
    nodes = [TrentServer(tmp_path / f"node{n}", workers=1, env=env) for n in (1, 2)]
    nodes[0].start()  # the first makes the schema, the root key file and the admin key
    nodes[1].start()
    port = _free_port()
    servers = "\n".join(
        f"    server node{n} 127.0.0.1:{_port_of(node.endpoint)} check" for n, node in enumerate(nodes, 1)
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, servers=servers))
    proxy = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:  # both nodes up behind the proxy
            try:
                key_id = _client(endpoint).create_key()["KeyMetadata"]["KeyId"]
                break
            except Exception:
                assert time.monotonic() < deadline and proxy.poll() is None
                time.sleep(0.2)
        failures: list[BaseException] = []
        made: list[bytes] = []
        stop = threading.Event()

        def load() -> None:
            kms = _client(endpoint)
            while not stop.is_set():
                try:
                    blob = kms.encrypt(KeyId=key_id, Plaintext=b"acknowledged")["CiphertextBlob"]
                    made.append(blob)
                    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"acknowledged"
                except BaseException as exc:  # any failure a client sees
                    failures.append(exc)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        before = len(made)
        victim = nodes[0].process
        assert victim is not None
        os.killpg(victim.pid, signal.SIGKILL)  # the node, its workers and its audit writer
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == [], failures[:3]
        assert before > 0 and len(made) > before + 20  # the load went on through the other node
        survivor = _client(nodes[1].endpoint)
        for blob in made[:: max(1, len(made) // 50)]:  # acknowledged ciphertexts decrypt on the node left
            assert survivor.decrypt(CiphertextBlob=blob)["Plaintext"] == b"acknowledged"
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(timeout=10)
        for node in nodes:
            node.stop()
