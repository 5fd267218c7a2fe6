"""What both fronts (protocol/awsjson, protocol/xks) answer with: a response, and the audit record it waits for.

Every answer waits until its audit record is durable; if it cannot be written, the front's internal error is
sent instead (fail closed: the result is withheld).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Incoming(Protocol):
    """What a front reads of a request. The server's `Request` (server/types.py) has this shape; the server
    sits above this layer, so it is matched structurally, not imported."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...  # lowercase names
    @property
    def body(self) -> bytes: ...
    @property
    def client_ip(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = field(repr=False)


@dataclass(slots=True)
class Pending:
    """A response to send once `durable` (its audit record) completes; `internal_error()` if that fails."""

    response: WireResponse
    durable: asyncio.Future[None] | None
    request_id: str

    def final(self) -> WireResponse:
        if self.durable is None or (not self.durable.cancelled() and self.durable.exception() is None):
            return self.response
        return self.internal_error()

    def internal_error(self) -> WireResponse:
        """The front's InternalException-style answer (each front's subclass says which)."""
        raise NotImplementedError


class Served(Protocol):
    @property
    def durable(self) -> asyncio.Future[None] | None: ...

    def final(self) -> Any: ...


async def settled(pending: Served) -> Any:
    """Wait for the audit record (whatever becomes of it), then the response to send: `pending.final()`."""
    if pending.durable is not None:
        with contextlib.suppress(Exception):
            await pending.durable
    return pending.final()
