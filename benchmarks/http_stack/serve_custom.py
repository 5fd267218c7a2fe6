"""Candidate 3: minimal HTTP/1.1 keep-alive server (asyncio.Protocol + httptools), N processes."""

from __future__ import annotations

import asyncio
from typing import cast

import httptools
from procs import parse_args, reuseport_socket, supervise
from workload import CONTENT_TYPE, handle

_WANTED = {b"authorization", b"x-amz-target", b"x-amz-date", b"content-type"}
_REASONS = {200: b"OK", 400: b"Bad Request", 403: b"Forbidden", 413: b"Payload Too Large"}
_MAX_BODY = 1 << 20


class HttpProtocol(asyncio.Protocol):
    """One connection; requests are answered synchronously (the work is CPU-bound and short)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.headers: dict[bytes, str] = {}
        self.body: list[bytes] = []
        self.size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass it

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.reply(400, b"", "", keep_alive=False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.headers = {}
        self.body = []
        self.size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _WANTED:
            self.headers[name] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > _MAX_BODY:
            self.reply(413, b"", "", keep_alive=False)
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        h = self.headers
        status, payload, request_id = handle(
            h.get(b"authorization", ""),
            h.get(b"x-amz-target", ""),
            h.get(b"x-amz-date", ""),
            h.get(b"content-type", ""),
            b"".join(self.body),
        )
        self.reply(status, payload, request_id, keep_alive=self.parser.should_keep_alive())

    def reply(self, status: int, payload: bytes, request_id: str, keep_alive: bool) -> None:
        assert self.transport is not None
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nx-amzn-RequestId: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            status,
            _REASONS.get(status, b"Error"),
            CONTENT_TYPE.encode(),
            request_id.encode(),
            len(payload),
            b"" if keep_alive else b"Connection: close\r\n",
        )
        self.transport.write(head + payload)
        if not keep_alive:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(HttpProtocol, sock=reuseport_socket(host, port))
    async with server:
        await server.serve_forever()


def worker(host: str, port: int, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(serve(host, port))
    else:
        asyncio.run(serve(host, port))


if __name__ == "__main__":
    supervise(worker, parse_args(__doc__ or ""))
