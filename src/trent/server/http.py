"""A small HTTP/1.1 server on asyncio (uvloop) with the httptools parser: bytes in, bytes out.

Why not a framework: docs/decisions/0001-http-stack.md. It routes by (method, path) to the handlers of a
`Site` (server/types.py) and knows no front. What it guarantees (docs/operations.md lists the numbers):

- Limits hold while bytes arrive. httptools hands over a header only once it is complete, and gathers its
  pieces by concatenation, so the request head (request line and header lines) is counted per read, before
  it is parsed, and the connection is refused as soon as it is over; each header, the header count
  (repeated names included), the URL and the body are checked as the parser delivers them.
- Pipelined requests run one after another and are answered in request order, each with its own answer:
  an answer that waits for its audit record holds back the ones behind it. A framing error, a crossed
  limit or too many pipelined requests is answered after the answers before it, and nothing after it runs.
- What a connection holds is bounded: reading pauses while a second answer is pending (a client that
  pipelines; one pending answer is the common case and costs no pause) or the client does not read its
  answers (write buffer over its high-water mark), and at most MAX_PIPELINE answers are queued.
- After its last answer a connection is half-closed and drained for LINGER seconds before it is closed, so
  a client's unread bytes do not turn our close into a reset that destroys that answer; one that crossed a
  head limit or broke the framing is closed at once.
- Shutdown (`serve`, when `stop` is set): stop listening, close idle connections, answer what was read
  (`connection: close` on each connection's last answer), then return; bounded by SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

import httptools

from trent.server.types import Answer, Handler, Request, Site

log = logging.getLogger("trent.http")

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
}
_REASONS |= {500: b"Internal Server Error", 503: b"Service Unavailable"}
MAX_HEAD_BYTES = 32 * 1024  # request line + header lines, counted per read as they arrive
MAX_URL_BYTES = 8 * 1024
MAX_FIELD_BYTES = 16 * 1024  # one header: name + value
MAX_HEADERS = 100  # header lines, a repeated name counted each time
MAX_PIPELINE = 16  # answers a connection may have queued; one more request and it is closed after them
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may sit idle
REQUEST_TIMEOUT = 30.0  # seconds to receive one whole request once it has begun (slowloris)
LINGER = 2.0  # seconds a closing connection is drained after its last answer
SHUTDOWN_TIMEOUT = 10.0  # seconds `serve` waits, once stopped, for the answers still owed


class _Stop(Exception):
    """Raised from a parser callback: parse nothing more on this connection."""


def _common_name(certificate: Any) -> str:
    """The subject CN of a verified peer certificate (ssl's getpeercert() form); "" when there is none."""
    if not isinstance(certificate, dict):
        return ""
    for rdn in certificate.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return ""


class Routes:
    """path → method → handler: the exact paths first (one dict lookup), then the patterns, in order."""

    __slots__ = ("_exact", "_patterns")

    def __init__(
        self,
        exact: Mapping[str, Mapping[str, Handler]],
        patterns: tuple[tuple[re.Pattern[str], Mapping[str, Handler]], ...],
    ) -> None:
        self._exact = exact
        self._patterns = patterns

    def get(self, path: str) -> Mapping[str, Handler] | None:
        found = self._exact.get(path)
        if found is None:
            for pattern, by_method in self._patterns:
                if pattern.fullmatch(path) is not None:
                    return by_method
        return found


def route_table(site: Site) -> Routes:
    table: dict[str, dict[str, Handler]] = {}
    for (method, path), handler in site.routes.items():
        table.setdefault(path, {})[method] = handler
    patterns: dict[str, dict[str, Handler]] = {}
    for (method, pattern), handler in site.patterns.items():
        patterns.setdefault(pattern, {})[method] = handler
    return Routes(table, tuple((re.compile(p), by_method) for p, by_method in patterns.items()))


class HttpConnection(asyncio.Protocol):
    """One client connection. Per-request Python calls are what a request costs here (0001, 0004): the hot
    path is one `on_header` call per header and the callbacks httptools cannot do without."""

    def __init__(
        self,
        site: Site,
        routes: Routes,
        max_body: int,
        inflight: set[asyncio.Future[None]],
        connections: set[HttpConnection],
    ) -> None:
        self._site = site
        self._routes = routes
        self._connections = connections
        self._max_body = max_body
        self._inflight = inflight
        self._headers: dict[str, str] = {}
        self._fields = 0  # header lines of this request
        self._url_parts: list[bytes] = []
        self.on_url = self._url_parts.append  # bound before the parser looks it up
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._peer = ""  # the subject CN of the client's verified TLS certificate, if it presented one
        self._body: list[bytes] = []
        self._size = 0
        self._head_left = MAX_HEAD_BYTES  # head bytes still allowed; -1 while a body is read
        self._queue: deque[tuple[Answer, bool]] = deque()  # answers owed, in request order
        self._reading = False  # a request has begun and is not complete
        self._stopped = False  # nothing more is parsed (error, limit, close, shutdown)
        self._paused = False
        self._write_blocked = False
        self._continue_due = False
        self._draining = False
        self._abrupt = False  # close right after the last answer, without lingering
        self.busy_since: float | None = None  # when the request being read or answered began (None: idle)
        self.idle_since = 0.0
        self.linger_until: float | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        self._peer = _common_name(transport.get_extra_info("peercert"))
        self.idle_since = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return  # lingering, or refused: the rest is not read
        left = self._head_left
        if left >= 0:
            if len(data) > left:
                self._feed_bounded(data)
                return
            # Reading a head: the whole read counts against it (it may also hold a body or the next request,
            # whose heads then go uncounted: a head can pass MAX_HEAD_BYTES by at most one read of that size).
            self._head_left = left - len(data)
        self._feed(data)

    def _feed_bounded(self, data: bytes) -> None:
        """A read longer than the head may still grow: feed it in slices no longer than the head's allowance."""
        view = memoryview(data)
        while view and not self._stopped:
            left = self._head_left
            if left < 0:  # in a body: the body limit holds from here
                self._feed(view)
                return
            if left == 0:
                self._refuse(400, "request head too large")
                return
            self._head_left = 0  # all of it counts, unless the head ends inside it
            self._feed(view[:left])
            view = view[left:]

    def _feed(self, data: bytes | memoryview) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if not self._stopped:  # a framing error, not one of our own stops
                self._refuse(400, "malformed request")

    def eof_received(self) -> bool | None:
        if self._queue and not self._stopped:
            self._stopped = self._draining = True  # the client is done sending: answer, then close
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._connections.discard(self)

    def pause_writing(self) -> None:
        """The client does not read its answers: read no more requests until it does."""
        self._write_blocked = True
        self._pause()

    def resume_writing(self) -> None:
        self._write_blocked = False
        if not self._queue:
            self._resume()

    def expire(self) -> None:
        """Close: idle too long, too slow sending its request, or lingered long enough."""
        if self._transport is not None:
            self._transport.close()

    def drain(self) -> None:
        """Shutdown: close now if idle, else after the answers owed (the last one says `connection: close`)."""
        self._draining = True
        if not self._queue and not self._reading:
            self.expire()

    # httptools callbacks (on_url is bound in __init__)
    def on_message_begin(self) -> None:
        self._headers = {}
        self._fields = 0
        self._url_parts.clear()
        self._body = []
        self._size = 0
        self._reading = True
        self.busy_since = asyncio.get_running_loop().time()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        headers = self._headers
        self._fields += 1
        if key in headers or self._fields > MAX_HEADERS or len(name) + len(value) > MAX_FIELD_BYTES:
            self._unusual_header(key, value)
        else:
            headers[key] = value.decode("latin-1")

    def _unusual_header(self, key: str, value: bytes) -> None:
        if self._fields > MAX_HEADERS:
            self._abort(400, "too many headers")
        if len(key) + len(value) > MAX_FIELD_BYTES:
            self._abort(400, "header too large")
        self._headers[key] += "," + value.decode("latin-1")  # a repeated name: RFC 9110 §5.3

    def on_headers_complete(self) -> None:
        self._head_left = -1
        if sum(map(len, self._url_parts)) > MAX_URL_BYTES:
            self._abort(400, "URL too long")
        headers = self._headers
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            self._abort(413)  # at once, unread: with Expect: 100-continue the client would wait for us
        expect = headers.get("expect")
        if expect is not None and expect.lower() == "100-continue" and self._transport is not None:
            if self._queue:
                self._continue_due = True  # after the answers owed, or it would overtake them
            else:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:  # a chunked body, or more than its Content-Length said
            self._abort(413)
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._reading = False
        self._head_left = MAX_HEAD_BYTES
        self._continue_due = False
        keep_alive = self._parser.should_keep_alive()
        request = self._request(b"".join(self._body))
        by_path = self._routes.get(request.path)
        handler = None if by_path is None else by_path.get(request.method)
        if handler is None:
            self._push(self._site.refuse(404 if by_path is None else 405, request), keep_alive)
        else:
            self._push(handler(request), keep_alive)  # a handler never raises
        if self._draining or not keep_alive:
            # The last request this connection runs: it asked to close (RFC 9112 §9.6), or we are stopping.
            self._stopped = True
            raise _Stop

    def _request(self, body: bytes) -> Request:
        method = path = query = ""
        if self._url_parts:
            method = self._parser.get_method().decode("latin-1")
            try:
                parsed = httptools.parse_url(b"".join(self._url_parts))
            except httptools.HttpParserInvalidURLError:
                pass
            else:
                path = (parsed.path or b"/").decode("latin-1")
                query = (parsed.query or b"").decode("latin-1")
        return Request(method, path, query, self._headers, body, self._client, self._peer)

    # answers, in request order
    def _abort(self, status: int, reason: str = "") -> None:
        """From a parser callback: refuse, and stop the parser."""
        self._refuse(status, reason)
        raise _Stop

    def _refuse(self, status: int, reason: str = "") -> None:
        """Answer `status` after the answers owed, then close; parse nothing more. A broken or oversized head
        is closed at once; a 413 lingers (LINGER), so that a client still sending its body reads the answer."""
        if not self._stopped:
            self._stopped = True
            self._abrupt = status != 413
            if reason:
                log.debug("refused a request from %s: %s", self._client, reason)
            request = self._request(b"")
            self._reading = False
            self._push(self._site.refuse(status, request), False)

    def _push(self, answer: Answer, keep_alive: bool) -> None:
        queue = self._queue
        durable = answer.durable
        if not queue and (durable is None or durable.done()):
            self._send(answer, keep_alive)
            return
        queue.append((answer, keep_alive))
        if durable is not None and not durable.done():
            self._inflight.add(durable)
            durable.add_done_callback(self._flush)
        if len(queue) > 1:
            # A client that pipelines: its next requests stay in the kernel until these are answered. One
            # answer pending is the common case (a client waiting for it sends nothing more): no pause, which
            # spares two epoll changes per request; what one more read can add is bounded by the limits.
            self._pause()
        if len(queue) > MAX_PIPELINE and not self._stopped:
            self._stopped = True  # answer what ran, then close; run nothing more
            queue[-1] = (answer, False)
            raise _Stop

    def _flush(self, _: object = None) -> None:
        queue = self._queue
        while queue:
            answer, keep_alive = queue[0]
            durable = answer.durable
            if durable is not None:
                if not durable.done():
                    return
                self._inflight.discard(durable)
            queue.popleft()
            self._send(answer, keep_alive and not (self._stopped and not queue))
        if self._transport is None or self._stopped:
            return
        if self._continue_due:
            self._continue_due = False
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._resume()

    def _send(self, answer: Answer, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        reply = answer.final()
        body = reply.body
        close = not keep_alive or (self._draining and not self._queue and not self._reading)
        lines = [b"HTTP/1.1 %d %s\r\n" % (reply.status, _REASONS.get(reply.status, b"Unknown"))]
        lines.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in reply.headers)
        lines.append(b"content-length: %d\r\n" % len(body))
        if close:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        transport.write(b"".join(lines) + body)
        if close:
            self._finish(transport)
        elif not self._reading and not self._queue:
            self.busy_since = None
            self.idle_since = asyncio.get_running_loop().time()

    def _finish(self, transport: asyncio.Transport) -> None:
        """The last answer is written: half-close and drain what the client still sends, then close."""
        self._stopped = True
        self._queue.clear()
        if self._abrupt or not transport.can_write_eof():  # (TLS: close_notify, then close)
            transport.close()
            return
        transport.write_eof()
        self.linger_until = asyncio.get_running_loop().time() + LINGER
        if self._paused:
            self._paused = False
            transport.resume_reading()

    def _pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _resume(self) -> None:
        transport = self._transport
        if self._paused and not self._write_blocked and transport is not None and not transport.is_closing():
            self._paused = False
            transport.resume_reading()


async def _sweep(connections: set[HttpConnection]) -> None:
    """Close connections idle past IDLE_TIMEOUT, stuck mid-request past REQUEST_TIMEOUT (slowloris), or done
    lingering: one sweep a second instead of a timer per request."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(1.0)
        now = loop.time()
        for connection in list(connections):
            if connection.linger_until is not None:
                if now > connection.linger_until:
                    connection.expire()
            elif connection.busy_since is None:
                if now - connection.idle_since > IDLE_TIMEOUT:
                    connection.expire()
            elif now - connection.busy_since > REQUEST_TIMEOUT:
                connection.expire()


async def serve(sock: Any, site: Site, max_body: int, stop: asyncio.Event, tls: ssl.SSLContext | None = None) -> None:
    """Serve on a listening socket until `stop` is set; then stop accepting, answer what was read, close."""
    loop = asyncio.get_running_loop()
    inflight: set[asyncio.Future[None]] = set()
    connections: set[HttpConnection] = set()
    routes = route_table(site)

    def connect() -> HttpConnection:
        # It joins `connections` in connection_made: over TLS, only once its handshake succeeded. One that failed
        # (a client certificate of another CA) never gets connection_lost, and would stay in the set for good.
        return HttpConnection(site, routes, max_body, inflight, connections)

    server = await loop.create_server(connect, sock=sock, ssl=tls)
    sweeper = loop.create_task(_sweep(connections))
    await stop.wait()
    server.close()  # no new connections
    for connection in list(connections):
        connection.drain()
    deadline = loop.time() + SHUTDOWN_TIMEOUT
    while connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if connections:
        log.warning("closing %d connection(s) still open after %.0f s", len(connections), SHUTDOWN_TIMEOUT)
    for connection in list(connections):
        connection.expire()
    sweeper.cancel()
    await asyncio.sleep(0)
