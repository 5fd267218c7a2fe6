"""Bare ASGI app (no framework) running the shared workload; used by uvicorn and granian."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from workload import CONTENT_TYPE, handle

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_WANTED = {b"authorization", b"x-amz-target", b"x-amz-date", b"content-type"}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = {k: v.decode("latin-1") for k, v in scope["headers"] if k in _WANTED}
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    status, payload, request_id = handle(
        headers.get(b"authorization", ""),
        headers.get(b"x-amz-target", ""),
        headers.get(b"x-amz-date", ""),
        headers.get(b"content-type", ""),
        body,
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", CONTENT_TYPE.encode()),
                (b"x-amzn-requestid", request_id.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
