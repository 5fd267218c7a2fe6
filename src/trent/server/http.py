"""A small HTTP/1.1 server on asyncio (uvloop) with the httptools parser: bytes in, bytes out.

Why not a framework: docs/decisions/0001-http-stack.md. It serves POST / to the front, GET /healthz, and
nothing else; it enforces a body-size limit, keep-alive, and in-order responses (reading pauses while a
request on the connection is being answered, so pipelined requests cannot overtake each other).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

import httptools

from trent.protocol.awsjson.front import Pending, WireRequest

Handler = Callable[[WireRequest], Pending]


class Service(Protocol):
    """What a worker serves: `start` once inside its event loop, then `prepare` per request."""

    async def start(self) -> None: ...

    def prepare(self, request: WireRequest) -> Pending: ...


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


class HttpConnection(asyncio.Protocol):
    """One client connection. The parser calls back into C-level containers where it can (header fields go
    straight into a dict, URL pieces into a list): per-request Python calls are what a request costs here."""

    def __init__(
        self,
        handler: Handler,
        max_body: int,
        inflight: set[asyncio.Future[None]],
        connections: set[HttpConnection],
    ) -> None:
        self._handler = handler
        self._connections = connections
        self._max_body = max_body
        self._inflight = inflight
        self._raw_headers: dict[bytes, bytes] = {}
        self._url_parts: list[bytes] = []
        self.on_header = self._raw_headers.__setitem__  # bound before the parser looks it up
        self.on_url = self._url_parts.append
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._body: list[bytes] = []
        self._size = 0
        self._status = 0  # non-zero: the request is refused with this status
        self.busy_since: float | None = None  # when the request being read or answered began (None: idle)
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        self.idle_since = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._write_simple(400, close=True)
        except httptools.HttpParserError:
            self._write_simple(400, close=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._connections.discard(self)

    def expire(self) -> None:
        """Close: idle too long, or too slow sending its request."""
        if self._transport is not None:
            self._transport.close()

    # httptools callbacks (on_header and on_url are bound in __init__)
    def on_message_begin(self) -> None:
        self._raw_headers.clear()
        self._url_parts.clear()
        self._body = []
        self._size = 0
        self._status = 0
        self.busy_since = asyncio.get_running_loop().time()

    def on_headers_complete(self) -> None:
        raw = self._raw_headers
        if len(raw) > _MAX_HEADERS or sum(map(len, raw)) + sum(map(len, raw.values())) > _MAX_HEADER_BYTES:
            self._status = 400
            return
        length = raw.get(b"Content-Length") or raw.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            self._status = 413  # refused before the body is read
        elif self._transport is not None and (raw.get(b"Expect") or raw.get(b"expect")) == b"100-continue":
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._status = 413
            self._body = []
        elif not self._status:
            self._body.append(body)

    def on_message_complete(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        keep_alive = self._parser.should_keep_alive()
        if self._status:
            self._write_simple(self._status, close=True)
            return
        method = self._parser.get_method().decode("latin-1")
        parsed = httptools.parse_url(b"".join(self._url_parts))
        path = (parsed.path or b"/").decode("latin-1")
        if path == "/healthz" and method == "GET":
            self._write(200, [("content-type", "text/plain")], b"ok\n", keep_alive)
            self._idle()
            return
        if path != "/" or method != "POST":
            self._write_simple(404 if path != "/" else 405, close=not keep_alive)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._raw_headers.items()}
        request = WireRequest(
            method, path, (parsed.query or b"").decode("latin-1"), headers, b"".join(self._body), self._client
        )
        pending = self._handler(request)  # never raises
        durable = pending.durable
        if durable is None or durable.done():
            self._answer(pending, keep_alive)
            return
        # The response waits for its audit record; meanwhile this connection reads no further request, so
        # responses stay in order, and the event loop serves other connections.
        transport.pause_reading()
        self._inflight.add(durable)
        durable.add_done_callback(lambda _: self._answer(pending, keep_alive, resume=True))

    def _answer(self, pending: Pending, keep_alive: bool, *, resume: bool = False) -> None:
        if pending.durable is not None:
            self._inflight.discard(pending.durable)
        response = pending.final()
        self._write(response.status, response.headers, response.body, keep_alive)
        self._idle()
        if resume and self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _idle(self) -> None:
        self.busy_since = None
        self.idle_since = asyncio.get_running_loop().time()

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


async def _sweep(connections: set[HttpConnection], stop: asyncio.Event) -> None:
    """Close connections idle past IDLE_TIMEOUT or stuck mid-request past REQUEST_TIMEOUT (slowloris): one
    sweep a second instead of a timer per request."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        await asyncio.sleep(1.0)
        now = loop.time()
        for connection in list(connections):
            if connection.busy_since is None:
                if now - connection.idle_since > IDLE_TIMEOUT:
                    connection.expire()
            elif now - connection.busy_since > REQUEST_TIMEOUT:
                connection.expire()


async def serve(sock: Any, handler: Handler, max_body: int, stop: asyncio.Event) -> None:
    """Serve on a listening socket until `stop` is set, then let in-flight requests finish."""
    loop = asyncio.get_running_loop()
    inflight: set[asyncio.Future[None]] = set()
    connections: set[HttpConnection] = set()

    def connect() -> HttpConnection:
        connection = HttpConnection(handler, max_body, inflight, connections)
        connections.add(connection)
        return connection

    server = await loop.create_server(connect, sock=sock)
    sweeper = loop.create_task(_sweep(connections, stop))
    async with server:
        await stop.wait()
        sweeper.cancel()
        server.close()
        if inflight:
            await asyncio.wait(inflight, timeout=10)
            await asyncio.sleep(0)  # let the done-callbacks write their responses
