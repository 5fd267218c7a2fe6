"""The XKS proxy client (xksclient/http_client.py) against local sockets: SigV4 signing, the spec's error answers
mapped to failure kinds, the 250 ms deadline against a server that never answers or trickles, bounded answers,
and plain http only to loopback."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from trent.kms.sensitive import Sensitive
from trent.xksclient.http_client import MAX_RESPONSE, HttpXksProxy
from trent.xksclient.port import FailureKind, ProxyFailure, ProxySealed, ProxyTarget

METADATA = {"awsPrincipalArn": "arn:aws:iam::111122223333:root", "kmsOperation": "Encrypt", "kmsRequestId": "r"}
Answer = tuple[int, bytes]


class _Server:
    def __init__(self, answer: Callable[[str, dict[str, str], bytes], Answer]) -> None:
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append((self.path, headers, body))
                status, raw = answer(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/p/kms/xks/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str, dict[str, str], bytes], Answer]], _Server]]:
    servers: list[_Server] = []

    def make(answer: Callable[[str, dict[str, str], bytes], Answer]) -> _Server:
        servers.append(_Server(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def _target(url: str) -> ProxyTarget:
    return ProxyTarget(url, "AKIDAKIDAKIDAKIDAKID", Sensitive(b"s" * 43), "eu-west-1")


def _json(status: int, document: Any) -> Answer:
    return status, json.dumps(document).encode()


def _fails(call: Callable[[], object]) -> FailureKind:
    with pytest.raises(ProxyFailure) as caught:
        call()
    assert "s" * 43 not in str(caught.value)
    return caught.value.kind


def test_requests_are_signed_for_kms_xks_proxy_in_the_key_stores_region(serve: Any) -> None:
    health = {"ekmFleetDetails": [{"id": "a", "model": "m", "healthStatus": "ACTIVE"}]}
    server = serve(lambda path, headers, body: _json(200, health))
    HttpXksProxy().health(_target(server.url), METADATA)
    path, headers, body = server.seen[0]
    assert path == "/p/kms/xks/v1/health"
    assert "/eu-west-1/kms-xks-proxy/aws4_request" in headers["authorization"]
    assert json.loads(body) == {"requestMetadata": METADATA}


def test_encrypt_and_decrypt_carry_the_specifications_members(serve: Any) -> None:
    def answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
        document = json.loads(body)
        if path.endswith("/encrypt"):
            assert document["encryptionAlgorithm"] == "AES_GCM"
            assert base64.b64decode(document["additionalAuthenticatedData"]) == b"aad"
            return _json(200, {k: base64.b64encode(v).decode() for k, v in
                               {"ciphertext": b"c", "initializationVector": b"i" * 12, "authenticationTag": b"t" * 16,
                                "ciphertextMetadata": b"m"}.items()})  # fmt: skip
        assert base64.b64decode(document["ciphertextMetadata"]) == b"m"
        return _json(200, {"plaintext": base64.b64encode(b"p").decode()})

    server = serve(answer)
    proxy = HttpXksProxy()
    sealed = proxy.encrypt(_target(server.url), "key-1", b"p", b"aad", METADATA)
    assert sealed == ProxySealed(b"c", b"i" * 12, b"t" * 16, b"m")
    assert proxy.decrypt(_target(server.url), "key-1", sealed, b"aad", METADATA) == b"p"
    assert server.seen[0][0] == "/p/kms/xks/v1/keys/key-1/encrypt"


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (401, "AuthenticationFailedException", FailureKind.ACCESS_DENIED),
        (403, "AccessDeniedException", FailureKind.ACCESS_DENIED),
        (404, "KeyNotFoundException", FailureKind.KEY_NOT_FOUND),
        (404, "InvalidUriPathException", FailureKind.INVALID_CONFIGURATION),
        (400, "InvalidStateException", FailureKind.KEY_STATE),
        (400, "InvalidKeyUsageException", FailureKind.KEY_USAGE),
        (400, "InvalidCiphertextException", FailureKind.INVALID_CIPHERTEXT),
        (400, "ValidationException", FailureKind.INVALID_CONFIGURATION),
        (501, "UnsupportedOperationException", FailureKind.INVALID_CONFIGURATION),
        (500, "InternalException", FailureKind.INVALID_RESPONSE),
        (503, "DependencyTimeoutException", FailureKind.TIMED_OUT),
        (429, "ThrottlingException", FailureKind.NOT_REACHABLE),
        (403, "SomethingElse", FailureKind.ACCESS_DENIED),
        (418, "SomethingElse", FailureKind.INVALID_RESPONSE),
    ],
)
def test_the_specifications_errors_map_to_kinds(serve: Any, status: int, name: str, kind: FailureKind) -> None:
    server = serve(lambda *_: _json(status, {"errorName": name, "errorMessage": "no"}))
    assert _fails(lambda: HttpXksProxy().key_metadata(_target(server.url), "k", METADATA)) is kind


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", json.dumps({"keySpec": "AES_256"}).encode(), b"x" * (MAX_RESPONSE + 1)],
)
def test_answers_that_are_not_the_specifications_are_invalid_responses(serve: Any, raw: bytes) -> None:
    server = serve(lambda *_: (200, raw))
    assert (
        _fails(lambda: HttpXksProxy().key_metadata(_target(server.url), "k", METADATA)) is FailureKind.INVALID_RESPONSE
    )


def test_a_proxy_whose_managers_are_all_unavailable_is_not_reachable(serve: Any) -> None:
    server = serve(lambda *_: _json(200, {"ekmFleetDetails": [{"id": "a", "healthStatus": "UNAVAILABLE"}]}))
    assert _fails(lambda: HttpXksProxy().health(_target(server.url), METADATA)) is FailureKind.NOT_REACHABLE


def test_a_server_that_never_answers_times_out_within_the_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts (the kernel does), reads nothing, answers nothing
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/p/kms/xks/v1"
        started = time.monotonic()
        assert _fails(lambda: HttpXksProxy().health(_target(url), METADATA)) is FailureKind.TIMED_OUT
        assert time.monotonic() - started < 0.4
    finally:
        listener.close()


def test_a_trickling_server_is_cut_at_the_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b" ")
            except OSError:
                break
            time.sleep(0.02)
        conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/p/kms/xks/v1"
        started = time.monotonic()
        assert _fails(lambda: HttpXksProxy().health(_target(url), METADATA)) is FailureKind.TIMED_OUT
        assert time.monotonic() - started < 0.4
    finally:
        stop.set()
        listener.close()


def test_a_closed_port_is_not_reachable() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"http://127.0.0.1:{port}/p/kms/xks/v1"
    assert _fails(lambda: HttpXksProxy().health(_target(url), METADATA)) is FailureKind.NOT_REACHABLE


def test_plain_http_is_only_for_loopback() -> None:
    url = "http://192.0.2.1:80/p/kms/xks/v1"
    assert _fails(lambda: HttpXksProxy().health(_target(url), METADATA)) is FailureKind.INVALID_CONFIGURATION


def test_tls_to_a_server_that_is_not_tls_fails_as_tls(serve: Any) -> None:
    server = serve(lambda *_: _json(200, {}))
    url = server.url.replace("http://", "https://")
    assert _fails(lambda: HttpXksProxy().health(_target(url), METADATA)) in (
        FailureKind.INVALID_TLS,
        FailureKind.NOT_REACHABLE,
    )


def test_the_secret_is_in_no_repr() -> None:
    target = _target("http://127.0.0.1:1/p/kms/xks/v1")
    assert "s" * 43 not in repr(target) and "s" * 43 not in repr(HttpXksProxy())
