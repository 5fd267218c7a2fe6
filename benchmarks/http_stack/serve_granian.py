"""Candidate 2: granian with 2 workers, ASGI (shared app_asgi.app) or RSGI interface.

Granian runs its own supervisor: the main process forks the workers and, on
Linux, each worker binds its own listener from a shared spec (SO_REUSEPORT).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from granian.constants import Interfaces, Loops, RuntimeModes
from granian.log import LogLevels
from granian.server import Server
from workload import CONTENT_TYPE, handle


async def rsgi_app(scope: Any, proto: Any) -> None:
    """RSGI entry point (granian's native interface)."""
    if scope.proto != "http":
        return
    body = await proto()
    h = scope.headers
    status, payload, request_id = handle(
        h.get("authorization", ""),
        h.get("x-amz-target", ""),
        h.get("x-amz-date", ""),
        h.get("content-type", ""),
        body,
    )
    proto.response_bytes(status, [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id)], payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interface", choices=["asgi", "rsgi"], default="asgi")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--runtime-mode", choices=["auto", "st", "mt"], default="auto")
    args = parser.parse_args()
    target = "app_asgi:app" if args.interface == "asgi" else "serve_granian:rsgi_app"
    Server(
        target,
        address=args.host,
        port=args.port,
        interface=Interfaces(args.interface),
        workers=args.workers,
        loop=Loops(args.loop),
        runtime_mode=RuntimeModes(args.runtime_mode),
        websockets=False,
        log_level=LogLevels.warning,
        working_dir=Path(__file__).resolve().parent,
    ).serve()


if __name__ == "__main__":
    main()
