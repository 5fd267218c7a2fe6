"""A small HTTP/1.1 server on asyncio (uvloop) with the httptools parser: bytes in, bytes out.

Why not a framework: docs/decisions/0001-http-stack.md. It serves POST / to the front, GET /healthz, and
nothing else; it enforces a body-size limit, keep-alive, and in-order responses (reading pauses while a
request on the connection is being answered, so pipelined requests cannot overtake each other).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import httptools

from trent.protocol.awsjson.front import Pending, WireRequest

Handler = Callable[[WireRequest], Pending]
log = logging.getLogger("trent.http")

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
}
_REASONS |= {500: b"Internal Server Error", 503: b"Service Unavailable"}
_MAX_HEADER_BYTES = 64 * 1024
_MAX_HEADERS = 100
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may sit idle
REQUEST_TIMEOUT = 30.0  # seconds to receive one whole request once it has begun (slowloris)


class _Reject(Exception):
    def __init__(self, status: int, body: bytes = b"") -> None:
        self.status, self.body = status, body


class HttpConnection(asyncio.Protocol):
    def __init__(self, handler: Handler, max_body: int, inflight: set[asyncio.Future[None]]) -> None:
        self._handler = handler
        self._max_body = max_body
        self._inflight = inflight
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._size = 0
        self._rejected: _Reject | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        self._timer: asyncio.TimerHandle | None = None
        self._arm(IDLE_TIMEOUT)

    def _arm(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if seconds is None else asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._write_simple(400, close=True)
        except httptools.HttpParserError:
            self._write_simple(400, close=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        self._transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._reset()
        self._arm(REQUEST_TIMEOUT)

    def on_headers_complete(self) -> None:
        if self._transport is not None and ("expect", "100-continue") in self._headers and self._rejected is None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES or len(self._headers) >= _MAX_HEADERS:
            self._rejected = _Reject(400)
            return
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._rejected = _Reject(413)
            self._body = []
            return
        if self._rejected is None:
            self._body.append(body)

    def on_message_complete(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        keep_alive = self._parser.should_keep_alive()
        if self._rejected is not None:
            self._write_simple(self._rejected.status, close=True)
            return
        method = self._parser.get_method().decode("latin-1")
        parsed = httptools.parse_url(self._url)
        path = (parsed.path or b"/").decode("latin-1")
        if path == "/healthz" and method == "GET":
            self._write(200, [("content-type", "text/plain")], b"ok\n", keep_alive)
            self._arm(IDLE_TIMEOUT)
            return
        if path != "/" or method != "POST":
            self._write_simple(404 if path != "/" else 405, close=not keep_alive)
            return
        request = WireRequest(
            method,
            path,
            (parsed.query or b"").decode("latin-1"),
            self._headers,
            b"".join(self._body),
            self._client,
        )
        pending = self._handler(request)  # never raises
        durable = pending.durable
        if durable is None or durable.done():
            self._answer(pending, keep_alive)
            return
        # The response waits for its audit record; meanwhile this connection reads no further request, so
        # responses stay in order, and the event loop serves other connections.
        self._arm(None)
        transport.pause_reading()
        self._inflight.add(durable)
        durable.add_done_callback(lambda _: self._answer(pending, keep_alive, resume=True))

    def _answer(self, pending: Pending, keep_alive: bool, *, resume: bool = False) -> None:
        if pending.durable is not None:
            self._inflight.discard(pending.durable)
        response = pending.final()
        self._write(response.status, response.headers, response.body, keep_alive)
        if self._transport is not None and not self._transport.is_closing():
            self._arm(IDLE_TIMEOUT)
            if resume:
                self._transport.resume_reading()

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
        lines.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
        lines.append(b"content-length: %d\r\n" % len(body))
        if not keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        transport.write(b"".join(lines) + body)
        if not keep_alive:
            transport.close()

    def _write_simple(self, status: int, *, close: bool) -> None:
        self._write(status, [("content-type", "text/plain")], b"", keep_alive=not close)


async def serve(sock: Any, handler: Handler, max_body: int, stop: asyncio.Event) -> None:
    """Serve on a listening socket until `stop` is set, then let in-flight requests finish."""
    loop = asyncio.get_running_loop()
    inflight: set[asyncio.Future[None]] = set()
    server = await loop.create_server(lambda: HttpConnection(handler, max_body, inflight), sock=sock)
    async with server:
        await stop.wait()
        server.close()
        if inflight:
            await asyncio.wait(inflight, timeout=10)
            await asyncio.sleep(0)  # let the done-callbacks write their responses
