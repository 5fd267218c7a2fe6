"""Minimal supervisor: N worker processes, each with its own SO_REUSEPORT listener."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import socket
from collections.abc import Callable
from types import FrameType


def reuseport_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """Bind a listening socket that shares the port with the sibling workers.

    proto must be IPPROTO_TCP, not 0: stock asyncio only sets TCP_NODELAY on accepted
    sockets whose proto is IPPROTO_TCP (uvloop always sets it); without it, responses
    written in two chunks hit Nagle + delayed ACK (~40 ms per request).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    return parser.parse_args()


def supervise(worker: Callable[[str, int, str], None], args: argparse.Namespace) -> None:
    """Start args.workers processes running worker(host, port, loop); stop them on SIGTERM/SIGINT."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(args.host, args.port, args.loop)) for _ in range(args.workers)]
    for proc in procs:
        proc.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        for proc in procs:
            proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.join()
