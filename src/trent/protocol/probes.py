"""The operations endpoints: `GET /healthz` (liveness), `GET /readyz` (readiness), `GET /metrics` (Prometheus).

Siblings of the AWS JSON front in the edge's route table (app.site_for), reachable without credentials, so
each costs bounded time whatever the client does: /healthz and /metrics touch nothing shared, and every
/readyz arriving within READY_TTL of a check shares that check, so a flood of probes costs one probe of the
store, the root of trust and the audit writer per second per worker. None answers with more than a status
line per check: no key, account, path or error text (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from trent import metrics
from trent.kms.sensitive import Sensitive
from trent.ops.deps import Deps

log = logging.getLogger("trent.probes")
READY_TTL = 1.0  # seconds a readiness answer is reused
CHECK_TIMEOUT = 2.0  # seconds each check may take before it counts as failed
_PROBE_AAD = b"trent:readiness-probe:v1"
_TEXT = (("content-type", "text/plain; charset=utf-8"),)


@dataclass(frozen=True, slots=True)
class Plain:
    """A reply that is its own answer (the edge's Reply and Answer, structurally)."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes = field(repr=False)
    durable: None = None

    def final(self) -> Plain:
        return self


@dataclass(slots=True)
class Pending:
    """An answer that is ready once its check has run: the edge waits for `durable`, then sends final()."""

    durable: asyncio.Future[None]
    reply: Callable[[], Plain]

    def final(self) -> Plain:
        return self.reply()


_HEALTHY = Plain(200, _TEXT, b"ok\n")


def health(_request: object) -> Plain:
    """GET /healthz: this worker's event loop answers (liveness). Nothing else is checked."""
    return _HEALTHY


class Readiness:
    """GET /readyz: 200 when this worker can serve a request that changes something, else 503.

    The checks: the store answers a read; the root of trust wraps and unwraps; the audit writer takes its
    write lock and acknowledges (an empty batch). Each line of the body is `name ok` or `name failed`."""

    def __init__(self, deps: Deps, clock: Callable[[], float] = time.monotonic) -> None:
        self._deps = deps
        self._clock = clock
        self._checks: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
            ("store", self._store),
            ("root_of_trust", self._root_of_trust),
            ("audit", deps.audit.writable),
        )
        self._current: asyncio.Future[None] | None = None
        self._results: tuple[tuple[str, bool], ...] = ()
        self._checked_at = -READY_TTL

    def __call__(self, _request: object) -> Pending:
        if self._current is None or (self._current.done() and self._clock() - self._checked_at >= READY_TTL):
            self._current = asyncio.ensure_future(self._check())
        return Pending(self._current, self._reply)

    async def _store(self) -> None:
        self._deps.store.is_empty()  # one indexed read that reaches the database

    async def _root_of_trust(self) -> None:
        # A real wrap and unwrap, in the HSM for a PKCS#11 root; on a thread, so that a token that does not
        # answer holds up only this check (CHECK_TIMEOUT), not the worker's event loop.
        await asyncio.to_thread(self._round_trip)

    def _round_trip(self) -> None:
        probe = Sensitive(os.urandom(32))
        root = self._deps.root_of_trust
        if root.unwrap(root.wrap(probe, _PROBE_AAD), _PROBE_AAD) != probe:
            raise RuntimeError("the root of trust unwrapped something else")

    async def _check(self) -> None:
        results = []
        for name, check in self._checks:
            try:
                await asyncio.wait_for(check(), CHECK_TIMEOUT)
                results.append((name, True))
            except Exception as exc:  # any failure is "not ready"; its text goes to the log only
                log.warning("readiness check %s failed: %s", name, type(exc).__name__)
                results.append((name, False))
        self._results = tuple(results)
        self._checked_at = self._clock()

    def _reply(self) -> Plain:
        ready = all(ok for _, ok in self._results)
        body = "".join(f"{name} {'ok' if ok else 'failed'}\n" for name, ok in self._results)
        return Plain(200 if ready else 503, _TEXT, body.encode())


def exposition(_request: object) -> Plain:
    """GET /metrics: every process's metrics in Prometheus's text format."""
    body, content_type = metrics.exposition()
    return Plain(200, (("content-type", content_type),), body)
