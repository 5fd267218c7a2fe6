"""The edge's own vocabulary: what the HTTP server hands a front and what it expects back.

Starlette's `types.py` is the model: a few neutral names, no behaviour. Fronts (the AWS JSON API, health,
later readiness and metrics) sit below the server in the layers (pyproject's import-linter contract), so they
do not import these: their own request and response types satisfy the Protocols here structurally, and mypy
checks that where app/serving.py puts them in the route table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. `headers` maps lowercase names to values; a repeated header's values are joined
    by commas (RFC 9110 §5.3), as SigV4 canonicalizes them."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    client_ip: str = ""
    client_cert_name: str = ""  # the subject CN of the client's verified TLS certificate ("": none presented)


class Reply(Protocol):
    """A response as the server writes it; the server adds content-length and connection."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...

    @property
    def body(self) -> bytes: ...


class Answer(Protocol):
    """What a handler returns: a reply that may be sent only once `durable` (its audit record) is done;
    `final()` is then the reply to send (it may differ if `durable` failed: fail closed)."""

    @property
    def durable(self) -> asyncio.Future[None] | None: ...

    def final(self) -> Reply: ...


@dataclass(frozen=True, slots=True)
class Response:
    """A reply that is its own answer: nothing to wait for."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes = field(repr=False)
    durable: None = None

    def final(self) -> Response:
        return self


Handler = Callable[[Request], Answer]
# An answer the HTTP layer gives itself (400, 404, 405, 413) for a request read as far as `Request` shows
# (body empty; method and path empty if the request line was not read): the site renders it, so a request
# aimed at an API gets that API's error shape.
Refuse = Callable[[int, Request], Answer]


def plain(status: int, text: str = "") -> Response:
    return Response(status, (("content-type", "text/plain"),), text.encode("latin-1"))


@dataclass(frozen=True, slots=True)
class Site:
    """What a worker serves: routes by (method, path), how refusals are rendered, and `start`, run once in
    the worker's event loop before it accepts connections. Built by app/serving.py; the server knows no front."""

    routes: Mapping[tuple[str, str], Handler]
    refuse: Refuse = lambda status, _request: plain(status)
    start: Callable[[], Awaitable[None]] | None = None
    # (method, regular expression) → handler, for paths that carry values (the XKS proxy API's
    # /{prefix}/kms/xks/v1/...): a pattern must match the whole path; tried in order, after the exact `routes`.
    patterns: Mapping[tuple[str, str], Handler] = field(default_factory=dict)
