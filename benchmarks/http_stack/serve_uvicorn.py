"""Candidate 1: uvicorn (uvloop + httptools), N processes, one SO_REUSEPORT socket each."""

from __future__ import annotations

import uvicorn
from app_asgi import app
from procs import parse_args, reuseport_socket, supervise


def worker(host: str, port: int, loop: str) -> None:
    sock = reuseport_socket(host, port)
    config = uvicorn.Config(
        app,
        loop=loop,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    supervise(worker, parse_args(__doc__ or ""))
