"""Readiness: each check's failure is a 503 naming it, a hung check is bounded, and probes within the reuse
window share one check (what keeps a flood of unauthenticated probes from reaching the audit writer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from trent.kms.sensitive import Sensitive
from trent.protocol import probes
from trent.rootoftrust.base import WrappedMaterial


class _Store:
    def __init__(self) -> None:
        self.reads = 0
        self.fail = False

    def is_empty(self) -> bool:
        self.reads += 1
        if self.fail:
            raise OSError("disk I/O error")
        return False


class _Root:
    def __init__(self, broken: bool = False) -> None:
        self.broken = broken

    def wrap(self, material: Sensitive, aad: bytes) -> WrappedMaterial:
        return WrappedMaterial("r", "test", material.reveal() + aad)

    def unwrap(self, wrapped: WrappedMaterial, aad: bytes) -> Sensitive:
        return Sensitive(b"other" if self.broken else wrapped.blob[: -len(aad)])


class _Audit:
    def __init__(self) -> None:
        self.calls = 0
        self.hang = False

    async def writable(self) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)


class _Deps:
    def __init__(self) -> None:
        self.store, self.root_of_trust, self.audit = _Store(), _Root(), _Audit()


async def _answer(readiness: probes.Readiness) -> tuple[int, str]:
    answer = readiness(None)
    await answer.durable
    reply = answer.final()
    return reply.status, reply.body.decode()


def _readiness(deps: _Deps, now: list[float]) -> probes.Readiness:
    fake: Any = deps
    return probes.Readiness(fake, clock=lambda: now[0])


def test_ready_then_each_failure_named() -> None:
    deps, now = _Deps(), [100.0]
    readiness = _readiness(deps, now)

    async def scenario() -> list[tuple[int, str]]:
        seen = [await _answer(readiness)]
        deps.store.fail = True
        now[0] += probes.READY_TTL
        seen.append(await _answer(readiness))
        deps.store.fail, deps.root_of_trust.broken = False, True
        now[0] += probes.READY_TTL
        seen.append(await _answer(readiness))
        return seen

    assert asyncio.run(scenario()) == [
        (200, "store ok\nroot_of_trust ok\naudit ok\n"),
        (503, "store failed\nroot_of_trust ok\naudit ok\n"),
        (503, "store ok\nroot_of_trust failed\naudit ok\n"),
    ]


def test_a_hung_audit_writer_is_a_bounded_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "CHECK_TIMEOUT", 0.05)
    deps, now = _Deps(), [0.0]
    deps.audit.hang = True
    assert asyncio.run(_answer(_readiness(deps, now))) == (503, "store ok\nroot_of_trust ok\naudit failed\n")


def test_probes_within_the_window_share_one_check() -> None:
    deps, now = _Deps(), [0.0]
    readiness = _readiness(deps, now)

    async def flood() -> list[int]:
        statuses = [status for status, _ in await asyncio.gather(*(_answer(readiness) for _ in range(100)))]
        statuses += [(await _answer(readiness))[0] for _ in range(100)]  # after the first check finished
        now[0] += probes.READY_TTL
        statuses.append((await _answer(readiness))[0])
        return statuses

    assert asyncio.run(flood()) == [200] * 201
    assert (deps.audit.calls, deps.store.reads) == (2, 2)
