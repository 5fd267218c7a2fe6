"""server/http.py in process: a real listening socket and a stand-in site whose answers wait on futures the
test controls, so the order of answers, what ran, the limits and the drain can be observed byte by byte."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trent.server import http
from trent.server.tls import server_context
from trent.server.types import Answer, Request, Response, Site, plain


@dataclass
class Later:
    """An answer that may go out once `durable` is done (the audit record, in the real server)."""

    reply: Response
    durable: asyncio.Future[None]

    def final(self) -> Response:
        return self.reply


@dataclass
class Recorder:
    ran: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    pending: list[asyncio.Future[None]] = field(default_factory=list)

    def slow(self, request: Request) -> Answer:
        """POST /slow: an answer that waits until the test releases it."""
        self.ran.append((request.method, request.path, dict(request.headers)))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return Later(plain(200, f"slow {len(self.ran)}"), future)

    def fast(self, request: Request) -> Answer:
        self.ran.append((request.method, request.path, dict(request.headers)))
        return plain(200, f"fast {request.client_cert_name}".strip())

    def refuse(self, status: int, request: Request) -> Answer:
        self.refused.append((status, request.path))
        return plain(status, "refused")

    def release(self) -> None:
        for future in self.pending:
            if not future.done():
                future.set_result(None)

    def site(self) -> Site:
        return Site(
            {("POST", "/slow"): self.slow, ("GET", "/fast"): self.fast},
            refuse=self.refuse,
            patterns={("POST", "/[a-z]+/v1/.*"): self.fast},
        )


def run(
    test: Callable[[Recorder, int, asyncio.Event], Awaitable[None]],
    max_body: int = 1024,
    tls: ssl.SSLContext | None = None,
) -> Recorder:
    recorder = Recorder()

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        stop = asyncio.Event()
        server = asyncio.create_task(http.serve(sock, recorder.site(), max_body, stop, tls))
        try:
            await asyncio.wait_for(test(recorder, sock.getsockname()[1], stop), 20)
        finally:
            stop.set()
            recorder.release()
            await asyncio.wait_for(server, 20)

    asyncio.run(main())
    return recorder


async def read_all(reader: asyncio.StreamReader, timeout: float = 5) -> bytes:
    """Everything until the server closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout)


def complete(data: bytes) -> int:
    """How many whole answers `data` holds (each has a content-length)."""
    count = 0
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100 "):
            data = rest
            continue
        length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(rest) < length:
            break
        data = rest[length:]
        count += 1
    return count


async def read_until(reader: asyncio.StreamReader, count: int, timeout: float = 5) -> bytes:
    """Until `count` whole answers have arrived."""
    data = b""
    deadline = time.monotonic() + timeout
    while complete(data) < count:
        chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
        if not chunk:
            break
        data += chunk
    return data


def statuses(data: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", data)


SLOW = b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
FAST = b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"


def test_pipelined_answers_keep_request_order() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW + FAST + SLOW)
        await asyncio.sleep(0.2)
        assert len(recorder.ran) == 3  # all three ran, in order
        recorder.release()
        data = await read_until(reader, 3)
        assert statuses(data) == [b"200", b"200", b"200"]
        bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in data.split(b"HTTP/1.1 ")[1:]]
        assert bodies == [b"slow 1", b"fast", b"slow 3"]  # the fast answer did not overtake the slow one
        writer.close()

    recorder = run(test)
    assert [path for _, path, _ in recorder.ran] == ["/slow", "/fast", "/slow"]


def test_nothing_is_answered_before_the_first_pending_answer() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW + FAST)
        try:
            early = await asyncio.wait_for(reader.read(100), 0.3)
        except TimeoutError:
            early = b""
        assert early == b""
        recorder.release()
        assert statuses(await read_until(reader, 2)) == [b"200", b"200"]
        writer.close()

    run(test)


def test_a_framing_error_is_answered_after_the_requests_that_ran_and_nothing_after_it_runs() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW + b"NOT HTTP AT ALL\r\n\r\n" + FAST)
        await asyncio.sleep(0.1)
        recorder.release()
        data = await read_all(reader)
        assert statuses(data) == [b"200", b"400"]
        assert data.split(b"HTTP/1.1 400")[1].count(b"connection: close") == 1
        writer.close()

    recorder = run(test)
    assert [path for _, path, _ in recorder.ran] == ["/slow"]
    assert recorder.refused == [(400, "")]


def test_a_request_asking_to_close_is_the_last_that_runs() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(FAST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + FAST)
        assert statuses(await read_all(reader)) == [b"200"]
        writer.close()

    assert len(run(test).ran) == 1


def test_too_many_pipelined_requests_close_the_connection_after_the_answers_of_those_that_ran() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW * (http.MAX_PIPELINE + 10))
        await asyncio.sleep(0.2)
        recorder.release()
        data = await read_all(reader)
        assert statuses(data) == [b"200"] * len(recorder.ran)
        assert data.count(b"connection: close") == 1
        writer.close()

    recorder = run(test)
    assert len(recorder.ran) == http.MAX_PIPELINE + 1


def test_an_oversized_content_length_is_refused_at_once_even_with_expect_100_continue() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        data = await read_all(reader, 2)
        assert statuses(data) == [b"413"] and time.monotonic() - started < 1
        writer.close()

    recorder = run(test)
    assert recorder.ran == [] and recorder.refused == [(413, "/slow")]


def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n" + b"400\r\n" + b"x" * 1024 + b"\r\n")  # no final chunk
        assert statuses(await read_all(reader, 2)) == [b"413"]
        writer.close()

    assert run(test).ran == []


def test_expect_100_continue_within_the_limit() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(100), 2)).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"{}")
        await asyncio.sleep(0.1)
        recorder.release()
        assert statuses(await read_until(reader, 1)) == [b"200"]
        writer.close()

    run(test)


def test_an_endless_request_line_is_cut_off_while_it_arrives() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * 1000)
        sent = 1005
        with_answer = b""
        while sent < 64 * http.MAX_HEAD_BYTES:
            try:
                writer.write(b"a" * 4096)
                await writer.drain()
            except ConnectionError:
                break
            sent += 4096
            try:
                with_answer = await asyncio.wait_for(reader.read(100), 0.001)
            except TimeoutError:
                continue
            break
        if not with_answer:
            with_answer = await read_all(reader)
        assert with_answer.startswith(b"HTTP/1.1 400") and sent <= 4 * http.MAX_HEAD_BYTES
        writer.close()

    run(test)


def test_one_header_sent_in_pieces_is_cut_off_while_it_arrives() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /fast HTTP/1.1\r\nX-Big: ")
        sent = 0
        answer = b""
        while sent < 64 * http.MAX_HEAD_BYTES and not answer:
            try:
                writer.write(b"v" * 1024)
                await writer.drain()
            except ConnectionError:
                break
            sent += 1024
            await asyncio.sleep(0)
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(100), 0.002)
        answer = answer or await read_all(reader)
        assert answer.startswith(b"HTTP/1.1 400") and sent <= 4 * http.MAX_HEAD_BYTES
        writer.close()

    assert run(test).ran == []


def test_header_count_includes_repeats_and_repeats_are_joined() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /fast HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
        assert statuses(await read_until(reader, 1)) == [b"200"]
        writer.write(b"GET /fast HTTP/1.1\r\n" + b"X-Same: v\r\n" * (http.MAX_HEADERS + 1) + b"\r\n")
        assert statuses(await read_all(reader)) == [b"400"]
        writer.close()

    recorder = run(test)
    assert len(recorder.ran) == 1 and recorder.ran[0][2]["x-a"] == "1,2"


def test_a_header_over_its_own_limit_and_a_long_url_are_refused() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        for head in (
            b"GET /fast HTTP/1.1\r\nX-Big: " + b"v" * (http.MAX_FIELD_BYTES + 1) + b"\r\n\r\n",
            b"GET /fast?" + b"q" * (http.MAX_URL_BYTES + 1) + b" HTTP/1.1\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            assert statuses(await read_all(reader)) == [b"400"]
            writer.close()

    assert run(test).ran == []


def test_routes_by_method_and_path() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /nowhere HTTP/1.1\r\n\r\nPOST /fast HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + FAST)
        assert statuses(await read_until(reader, 3)) == [b"404", b"405", b"200"]
        writer.close()

    recorder = run(test)
    assert recorder.refused == [(404, "/nowhere"), (405, "/fast")]


def test_pattern_routes_match_whole_paths_after_the_exact_ones() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        empty = b" HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        for line in (b"POST /ks/v1/keys/k/encrypt", b"GET /ks/v1/health", b"POST /Ks/v1/x", b"POST /ks/v2/x"):
            writer.write(line + empty)
        assert statuses(await read_until(reader, 4)) == [b"200", b"405", b"404", b"404"]
        writer.close()

    recorder = run(test)
    assert [path for _, path, _ in recorder.ran] == ["/ks/v1/keys/k/encrypt"]
    assert recorder.refused == [(405, "/ks/v1/health"), (404, "/Ks/v1/x"), (404, "/ks/v2/x")]


def test_shutdown_answers_what_was_read_and_closes_idle_connections() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        idle_writer.write(FAST)
        assert statuses(await read_until(idle_reader, 1)) == [b"200"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW)
        await asyncio.sleep(0.1)
        stop.set()
        assert await read_all(idle_reader, 2) == b""  # the idle connection is closed
        await asyncio.sleep(0.2)
        with socket.socket() as late:  # no longer listening
            late.settimeout(1)
            assert late.connect_ex(("127.0.0.1", port)) != 0
        recorder.release()
        data = await read_all(reader)
        assert statuses(data) == [b"200"] and b"connection: close" in data
        writer.close()
        idle_writer.close()

    run(test)


def test_a_client_that_half_closes_still_gets_its_pending_answer() -> None:
    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW)
        writer.write_eof()
        await asyncio.sleep(0.1)
        recorder.release()
        assert statuses(await read_all(reader)) == [b"200"]
        writer.close()

    run(test)


def _pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate (localhost) and a client one of it, and a client certificate of another CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    paths: dict[str, Path] = {}

    def issue(name: str, cn: str, issuer: tuple[x509.Name, Any] | None, ca: bool = False) -> tuple[x509.Name, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        issuer_name, issuer_key = issuer or (subject, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if cn == "localhost":
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        paths[name] = directory / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[name + "-key"] = directory / f"{name}.key"
        paths[name + "-key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return subject, key

    ca = issue("ca", "test ca", None, ca=True)
    issue("server", "localhost", ca)
    issue("client", "client.example", ca)
    issue("stranger", "client.example", issue("other-ca", "other ca", None, ca=True))
    return paths


def test_tls_client_certificates_name_the_peer_and_a_failed_handshake_leaves_nothing(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    server_tls = server_context(pki["server"], pki["server-key"], pki["ca"])

    def client(name: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki["ca"]))
        if name is not None:
            context.load_cert_chain(pki[name], pki[name + "-key"])
        return context

    async def ask(port: int, context: ssl.SSLContext) -> bytes:
        reader, writer = await asyncio.open_connection("localhost", port, ssl=context)
        writer.write(FAST)
        answer = await read_until(reader, 1)
        writer.close()
        return answer

    async def test(recorder: Recorder, port: int, stop: asyncio.Event) -> None:
        assert (await ask(port, client("client"))).endswith(b"fast client.example")
        assert (await ask(port, client(None))).endswith(b"fast")
        for _ in range(3):  # a certificate of another CA: the handshake fails
            with contextlib.suppress(ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
                await ask(port, client("stranger"))
        stop.set()

    started = time.monotonic()
    run(test, tls=server_tls)
    assert time.monotonic() - started < http.SHUTDOWN_TIMEOUT  # no connection was left behind to wait for
