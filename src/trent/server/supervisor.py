"""Process model: a supervisor and N worker processes, each with its own SO_REUSEPORT listening socket.

The kernel spreads connections over the workers' sockets (a single shared accept socket was measured to
leave one worker nearly idle: docs/decisions/0001-http-stack.md). The supervisor holds the port (bound, not
listening) so `--port 0` resolves once for all workers, restarts a worker that dies, runs background
jobs, and on SIGTERM/SIGINT stops the workers and waits for their in-flight requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import multiprocessing
import os
import queue
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from trent import logs, metrics
from trent.server.http import serve
from trent.server.tls import server_context
from trent.server.types import Site

log = logging.getLogger("trent.supervisor")
Announce = Callable[[str], None]
_SPAWN = multiprocessing.get_context("spawn")
_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True, slots=True)
class Plan:
    host: str
    port: int
    workers: int
    max_body_bytes: int
    job_interval: float
    tls_cert: Path | None = None  # both or neither: HTTPS
    tls_key: Path | None = None
    # "spawn": each child a new interpreter that shares nothing with the supervisor. "fork" (a dev server's):
    # children start at once with what the supervisor imported, where a spawn re-imports everything (~1 s).
    start_method: str = "spawn"
    tls_client_ca: Path | None = None  # mutual TLS: client certificates must chain to it (server/tls.py)


class PortInUseError(OSError):
    """Someone (most likely another `trent serve`) already listens on, or holds, the port."""


def _socket(host: str, port: int, *, reuse_addr: bool = True, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP (0001-http-stack.md).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another server holds. SO_REUSEPORT would let a second server of the same user bind it
    too, and the kernel would split connections between the two; a probe without SO_REUSEPORT cannot bind
    beside another server's listening workers, nor beside a supervisor's reserve (which has no SO_REUSEADDR),
    yet binds over the TIME_WAIT connections a stopped server leaves."""
    if port == 0:
        return  # the kernel picks a port nobody holds
    try:
        _socket(host, port, reuse_port=False).close()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortInUseError(f"port {port} on {host} is already in use (another trent serve?)") from None


def _die_with_parent() -> None:
    """If the supervisor is killed (even with SIGKILL), its workers go too (Linux PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass  # elsewhere the worker notices a new parent id within a second


def _sidecar(target: Callable[[Any, Callable[[], None]], None], arg: Any, ready: Any) -> None:
    """Entry point of a sidecar process (the audit writer): runs `target` until SIGTERM."""
    _die_with_parent()
    logs.name_process("audit writer")
    # Its own process group: Ctrl-C (SIGINT to the terminal's group) or a SIGTERM to the server's group must
    # not stop it while workers still wait for their last records. The supervisor stops it, last.
    os.setpgid(0, 0)
    target(arg, lambda: ready.put(True))


def _worker(
    factory: Callable[[Any], Site], factory_arg: Any, plan: Plan, port: int, ready: Any, index: int, go: Any
) -> None:
    """Entry point of a worker process (spawned, so it shares no state with the supervisor). It builds its
    site while the audit writer starts, and connects to the writer and listens once `go` is set: when the
    writer is ready (or, if it failed to start, when the supervisor gave up waiting for it)."""
    import uvloop

    _die_with_parent()
    logs.name_process(f"worker {index}")
    # Workers run at the audit writer's priority. At +5 the writer committed sooner but in smaller batches:
    # the same throughput for ~12% more CPU per request and a worse p99 (decision 0004, third session).
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
    site = factory(factory_arg)
    tls = (
        None
        if plan.tls_cert is None or plan.tls_key is None
        else server_context(plan.tls_cert, plan.tls_key, plan.tls_client_ca)
    )
    go.wait()
    sock = _socket(plan.host, port)
    sock.listen(2048)
    sock.setblocking(False)

    parent = os.getppid()

    async def watch_parent(stop: asyncio.Event) -> None:
        while not stop.is_set():
            if os.getppid() != parent:
                stop.set()
            await asyncio.sleep(1.0)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        watcher = asyncio.create_task(watch_parent(stop))
        if site.start is not None:
            await site.start()
        ready.put(True)
        await serve(sock, site, plan.max_body_bytes, stop, tls)
        watcher.cancel()
        metrics.flush()  # the counts of its last second, before the worker goes

    profile_to = os.environ.get("TRENT_PROFILE")  # for performance work: cProfile each worker (CPU time)
    if profile_to:
        import cProfile
        import time

        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(uvloop.run, main())
        profiler.dump_stats(f"{profile_to}.{os.getpid()}")
    else:
        uvloop.run(main())


def run(
    plan: Plan,
    *,
    factory: Callable[[Any], Site],
    factory_arg: Any,
    jobs: Callable[[], None],
    announce: Announce,
    sidecar: Callable[[Any, Callable[[], None]], None] | None = None,
) -> int:
    """Start the sidecar (if any) and the workers, which listen once it is ready; run the jobs; restart
    whatever dies; stop on a signal.

    Stopping (SIGTERM or SIGINT to the supervisor): each worker stops listening, answers what it has read and
    exits (http.SHUTDOWN_TIMEOUT); then the audit writer, which those answers waited on, stops last."""
    if plan.tls_cert is not None and plan.tls_key is not None:
        server_context(plan.tls_cert, plan.tls_key, plan.tls_client_ca)  # a bad file fails the start here, in one line
    check_port_free(plan.host, plan.port)
    # No SO_REUSEADDR on the reserve, so that a second server's probe (check_port_free) fails even before
    # this one's workers listen; SO_REUSEPORT lets those workers bind beside it.
    reserve = _socket(plan.host, plan.port, reuse_addr=False)
    port = reserve.getsockname()[1]
    ctx = _FORK if plan.start_method == "fork" else _SPAWN
    ready = ctx.Queue()
    go = ctx.Event()  # set once the sidecar is ready (or dead): workers then connect to it and listen
    stopping = False

    sidecar_ready = ctx.Queue()

    def start_sidecar() -> BaseProcess | None:
        """Start the sidecar, without waiting for it. At start the workers wait for it (`go`); a restart is not
        waited for: the workers keep serving meanwhile (their requests fail closed until it is up) and a dead
        worker is replaced."""
        if sidecar is None:
            return None
        process = ctx.Process(target=_sidecar, args=(sidecar, factory_arg, sidecar_ready), name="trent-audit")
        process.daemon = True
        process.start()
        return process

    def start(index: int) -> BaseProcess:
        process = ctx.Process(
            target=_worker,
            args=(factory, factory_arg, plan, port, ready, index, go),
            name="trent-worker",
            daemon=True,
        )
        process.start()
        return process

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    helper = start_sidecar()
    workers = [start(i + 1) for i in range(plan.workers)]  # they build their sites while the sidecar starts
    while helper is not None and helper.is_alive() and not stopping:
        with contextlib.suppress(queue.Empty):
            sidecar_ready.get(timeout=0.5)
            break
    go.set()
    helper_due = 0.0
    started = 0
    while started < len(workers):
        try:
            started += bool(ready.get(timeout=0.5))
        except queue.Empty:
            failed = [p for p in workers if not p.is_alive()]
            if failed or stopping:
                for process in workers:
                    process.terminate()
                reserve.close()
                log.error("a worker failed to start (exit code %s)", failed[0].exitcode if failed else None)
                return 1
    host = f"[{plan.host}]" if ":" in plan.host else plan.host
    announce(f"{'https' if plan.tls_cert else 'http'}://{host}:{port}")
    next_job = 0.0
    while not stopping:
        now = time.monotonic()
        if now >= next_job:
            try:
                jobs()
            except Exception:
                log.exception("background job failed")
            next_job = now + plan.job_interval
        for i, process in enumerate(workers):
            if not process.is_alive() and not stopping:
                log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                workers[i] = start(i + 1)
        if helper is not None and not helper.is_alive() and not stopping and now >= helper_due:
            log.warning("the audit writer exited with %s; starting another", helper.exitcode)
            helper = start_sidecar()
            helper_due = now + 1.0  # one that dies at once (disk full) is retried each second, not spun
        time.sleep(min(0.2, plan.job_interval))
    for process in workers:
        if process.is_alive() and process.pid is not None:
            process.terminate()
    for process in workers:
        process.join(timeout=15)
    if helper is not None:  # last: the workers' final requests still need their audit records
        helper.terminate()
        helper.join(timeout=15)
    reserve.close()
    return 0
