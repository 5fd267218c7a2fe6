"""The edge against a real `trent serve`: hostile clients cost bounded memory and leave others served,
pipelined requests are answered in order, HTTP-layer refusals of API requests are AWS errors with audit
records, shutdown answers every request it executed, and the HTTPS listener works with boto3 and the aws CLI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.test_wire import signed
from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, TrentServer, kms_client, trent_command

LIST_KEYS = "TrentService.ListKeys"


def address(server: TrentServer) -> tuple[str, int]:
    url = urlsplit(server.endpoint)
    return url.hostname or "", url.port or 0


def raw_request(server: TrentServer, target: str, body: bytes, extra: dict[str, str] | None = None) -> bytes:
    headers = signed(server, target, body, extra=extra)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST / HTTP/1.1\r\nHost: {urlsplit(server.endpoint).netloc}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()


def read_answers(sock: socket.socket, count: int, timeout: float = 10) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` whole answers (or fewer, if the server closes first)."""
    sock.settimeout(timeout)
    data = b""
    answers: list[tuple[int, dict[str, str], bytes]] = []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return answers
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        while len(data) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return answers
            data += chunk
        answers.append((int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return answers


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def audit_records(data_dir: Path, *filters: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [*trent_command(), "audit", "query", "--data-dir", str(data_dir), *filters],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


# --- 1. limits while bytes arrive -------------------------------------------------------------------------


def _header_in_pieces(sock: socket.socket) -> None:
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\nX-Pad: ")
    for _ in range(4000):
        sock.sendall(b"a" * 65536)


def _endless_request_line(sock: socket.socket) -> None:
    sock.sendall(b"GET /")
    for _ in range(40000):
        sock.sendall(b"a" * 65536)


@pytest.mark.parametrize("attack", [_header_in_pieces, _endless_request_line])
def test_a_hostile_head_is_cut_off_and_others_are_served(server: TrentServer, attack: Any) -> None:
    assert server.process is not None
    processes = children(server.process.pid)
    before = {pid: rss_mib(pid) for pid in processes}
    stop = threading.Event()
    attempts: list[int] = []
    cut: list[float] = []

    def attacker() -> None:
        while not stop.is_set():
            with socket.create_connection(address(server), timeout=5) as sock:
                started = time.monotonic()
                try:
                    attack(sock)
                except OSError:  # the server closed the connection: the attack was cut off
                    cut.append(time.monotonic() - started)
                attempts.append(1)

    threads = [threading.Thread(target=attacker, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    kms = server.client()
    served, slowest = 0, 0.0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        started = time.monotonic()
        kms.list_keys()
        slowest = max(slowest, time.monotonic() - started)
        served += 1
    peak = {pid: rss_mib(pid) for pid in processes}
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(cut) == len(attempts) >= 4  # every attack connection was closed by the server, several times
    assert max(cut) < 2
    assert served >= 30 and slowest < 1.5, (served, slowest)
    for pid in processes:
        assert peak[pid] - before[pid] < 40, (pid, before[pid], peak[pid])


# --- 2. pipelining --------------------------------------------------------------------------------------


def test_pipelined_answers_keep_request_order(server: TrentServer) -> None:
    body = b'{"Description": "pipelined"}'
    create = raw_request(server, "TrentService.CreateKey", body) + body
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(create + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        (first, _, key), (second, _, health) = read_answers(sock, 2)
    assert first == 200 and json.loads(key)["KeyMetadata"]["Description"] == "pipelined"
    assert (second, health) == (200, b"ok\n")


def test_a_request_followed_by_garbage_gets_its_answer_then_a_400(server: TrentServer) -> None:
    body = b'{"Description": "before garbage"}'
    create = raw_request(server, "TrentService.CreateKey", body) + body
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(create + b"GARBAGE \x00\x01\r\n\r\n" + raw_request(server, LIST_KEYS, b"{}") + b"{}")
        answers = read_answers(sock, 3)
        assert sock.recv(10) == b""  # and closed
    assert [status for status, _, _ in answers] == [200, 400]
    assert json.loads(answers[0][2])["KeyMetadata"]["Description"] == "before garbage"
    assert answers[1][1]["connection"] == "close"


# --- 3 and 18. HTTP-layer answers for the API: AWS errors, at once, audited -------------------------------


def test_expect_100_continue_with_an_oversized_body_gets_413_at_once(server: TrentServer) -> None:
    head = raw_request(server, LIST_KEYS, b"{}", extra={"Expect": "100-continue"})
    head = head.replace(b"Content-Length: 2\r\n", b"Content-Length: 5000000\r\n")
    started = time.monotonic()
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(head)
        [(status, headers, body)] = read_answers(sock, 1, timeout=5)
    assert time.monotonic() - started < 2
    assert status == 413 and headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(body) == {
        "__type": "RequestEntityTooLargeException",
        "Message": "Problems with the request at the HTTP level. The request entity is too large.",
    }
    request_id = headers["x-amzn-requestid"]
    records = audit_records(server.data_dir, "--error", "RequestEntityTooLargeException")
    assert any(r["requestID"] == request_id and r["eventName"] == "ListKeys" for r in records)


@pytest.mark.parametrize(
    ("request_line", "status", "code"),
    [
        (b"GET / HTTP/1.1", 405, "UnknownOperationException"),
        (b"POST /elsewhere HTTP/1.1", 404, "UnknownOperationException"),
    ],
)
def test_wrong_method_or_path_for_the_api_is_an_aws_error(
    server: TrentServer, request_line: bytes, status: int, code: str
) -> None:
    head = raw_request(server, LIST_KEYS, b"{}").replace(b"POST / HTTP/1.1", request_line)
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(head + b"{}")
        [(got, headers, body)] = read_answers(sock, 1)
    assert got == status and json.loads(body) == {"__type": code}
    records = audit_records(server.data_dir, "--error", code)
    assert any(r["requestID"] == headers["x-amzn-requestid"] for r in records)


def test_a_malformed_api_request_is_an_aws_error(server: TrentServer) -> None:
    head = raw_request(server, LIST_KEYS, b"{}").replace(b"Content-Length: 2", b"Content-Length: 2x")
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(head + b"{}")
        [(status, _, body)] = read_answers(sock, 1)
    assert status == 400 and json.loads(body)["__type"] == "MalformedHttpRequestException"


# --- 15. graceful shutdown ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["SIGTERM to the server", "Ctrl-C to the process group"])
def test_shutdown_under_load_answers_every_request_it_executed(tmp_path: Path, how: str) -> None:
    data_dir = tmp_path / "data"
    server = TrentServer(data_dir).start()
    try:
        key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
        answered: set[str] = set()
        lock = threading.Lock()
        stop = threading.Event()

        def boto_load() -> None:
            kms = kms_client(server.endpoint)
            while not stop.is_set():
                try:
                    response = kms.encrypt(KeyId=key_id, Plaintext=b"x" * 64)
                except ClientError as error:
                    response = error.response
                except BotoCoreError:
                    continue  # no answer: the server must not have executed it
                with lock:
                    answered.add(response["ResponseMetadata"]["RequestId"])

        def raw_load() -> None:  # keep-alive, two pipelined requests at a time
            while not stop.is_set():
                try:
                    with socket.create_connection(address(server), timeout=10) as sock:
                        while not stop.is_set():
                            one = raw_request(server, LIST_KEYS, b"{}") + b"{}"
                            sock.sendall(one + one)
                            answers = read_answers(sock, 2)
                            with lock:
                                answered.update(h["x-amzn-requestid"] for _, h, _ in answers)
                            if len(answers) < 2:
                                break
                except OSError:
                    time.sleep(0.01)

        threads = [threading.Thread(target=boto_load) for _ in range(6)]
        threads += [threading.Thread(target=raw_load) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        assert server.process is not None
        if how.startswith("SIGTERM"):
            os.kill(server.process.pid, signal.SIGTERM)
        else:
            os.killpg(server.process.pid, signal.SIGINT)
        assert server.process.wait(timeout=30) == 0
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        server.stop()
    records = audit_records(data_dir)
    executed = {r["requestID"] for r in records if r["eventName"] in ("Encrypt", "ListKeys")}
    assert len(executed) > 50
    assert executed - answered == set()  # every request the server executed got a complete answer
    assert answered - {r["requestID"] for r in records} == set()  # and every answer had its record


# --- 17. HTTPS ------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_https_with_boto3_and_the_aws_cli(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = {"TRENT_TLS_CERT": str(cert), "TRENT_TLS_KEY": str(key)}
    with TrentServer(tmp_path / "data", env=env) as server:
        assert server.endpoint.startswith("https://127.0.0.1:")
        kms = boto3.client(
            "kms",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            verify=str(cert),
            config=Config(retries={"max_attempts": 0}),
        )
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"over TLS")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over TLS"
        aws = Path(sys.executable).parent / "aws"
        cli = subprocess.run(
            [str(aws), "kms", "describe-key", "--key-id", key_id, "--endpoint-url", server.endpoint],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_CA_BUNDLE": str(cert),
            },
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["KeyMetadata"]["KeyId"] == key_id
        with socket.create_connection(address(server), timeout=10) as plain_socket:  # no plaintext HTTP
            plain_socket.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not plain_socket.recv(100).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("problem", ["missing", "not PEM", "only one of the two"])
def test_a_bad_certificate_or_key_is_one_clear_error(tmp_path: Path, problem: str) -> None:
    cert, key = self_signed(tmp_path)
    if problem == "missing":
        flags = ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)]
    elif problem == "not PEM":
        (tmp_path / "junk.pem").write_text("not a certificate\n")
        flags = ["--tls-cert", str(tmp_path / "junk.pem"), "--tls-key", str(key)]
    else:
        flags = ["--tls-cert", str(cert)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}
    result = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(tmp_path / "data"), "--port", "0", "--workers", "1", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "tls" in errors[0].lower(), result.stderr
    assert "Usage:" in result.stderr or result.stderr.strip() == errors[0]  # click's usage hint, or the line alone
