"""The AWS JSON 1.1 front: one request in, one response out.

Order (docs/aws-semantics.md §B and A.4): authenticate (SigV4) → content type → X-Amz-Target → JSON →
model validation → typed binding → the operation → the response. Every failure is an AWS error body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from trent.auth.principals import Authenticates
from trent.auth.sigv4 import HttpRequest, header_map
from trent.kms.errors import (
    AuthError,
    KmsError,
    KMSInternalException,
    SerializationException,
    UnknownOperationException,
)
from trent.kms.ids import Region, unique_id
from trent.ops import dispatch
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.protocol import wire
from trent.protocol.awsjson.batch import Batcher, Queued
from trent.protocol.awsjson.binding import bind, operation_for
from trent.protocol.awsjson.codec import encode_response
from trent.protocol.awsjson.errors import (
    MalformedHttpRequestException,
    RequestEntityTooLargeException,
    error_body,
    status_of,
)
from trent.protocol.awsjson.validate import decode_request
from trent.protocol.wire import Incoming, WireResponse
from trent.store.prefetch import Prefetching

log = logging.getLogger("trent.request")
new_request_id = unique_id
CONTENT_TYPE = "application/x-amz-json-1.1"
_ACCEPTED_TYPES = frozenset({"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json", ""})
_NO_CACHE = (
    ("cache-control", "no-cache, no-store, must-revalidate, private"),
    ("expires", "0"),
    ("pragma", "no-cache"),
)


# What the HTTP layer refused, as the AWS front end names it (AWS's Common Errors page: "Problems with the
# request at the HTTP level", MalformedHttpRequestException 400, RequestEntityTooLargeException 413). A path or
# method that is not the API's is an operation that does not exist (KMS-SEMANTICS.md A.7).
_REFUSALS: Mapping[int, Callable[[], KmsError]] = {
    400: lambda: MalformedHttpRequestException("Problems with the request at the HTTP level."),
    404: UnknownOperationException,
    405: UnknownOperationException,
    413: lambda: RequestEntityTooLargeException(
        "Problems with the request at the HTTP level. The request entity is too large."
    ),
}


@dataclass(frozen=True, slots=True)
class WireRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lowercase names → values (pairs are accepted and merged)
    body: bytes = field(repr=False)
    client_ip: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", header_map(self.headers))


class Pending(wire.Pending):
    """A response that may be sent once `durable` (its request's audit event) completes without error; if it
    fails, `failed()` is what must be sent instead (fail closed: the result is withheld)."""

    __slots__ = ()

    def internal_error(self) -> WireResponse:
        return _respond(self.request_id, 500, error_body(KMSInternalException()))


def _respond(request_id: str, status: int, body: bytes) -> WireResponse:
    return WireResponse(status, [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id), *_NO_CACHE], body)


class AwsJsonFront:
    def __init__(self, deps: Deps, authenticator: Authenticates, clock: Callable[[], datetime]) -> None:
        self._deps = deps
        self._authenticator = authenticator
        self._clock = clock
        # A store whose reads are round trips (PostgreSQL) gets the requests of each loop iteration together,
        # with what they read prefetched (batch.py); the embedded store's reads are cheaper than a batch.
        store = deps.store
        self._batcher = Batcher(store, self._prepare, _credential_parts) if isinstance(store, Prefetching) else None

    def __repr__(self) -> str:
        return "AwsJsonFront()"

    async def start(self) -> None:
        """Run once in the event loop that will serve: connects the audit log."""
        await self._deps.audit.start()

    def prepare(self, request: Incoming) -> Pending | Queued:
        """Everything but waiting: the response, and the audit event it must wait for. Never raises."""
        request_id = new_request_id()
        if self._batcher is not None:
            return self._batcher.submit(request, request_id)
        return self._prepare(request, request_id)

    def _prepare(self, request: Incoming, request_id: str) -> Pending:
        try:
            return self._serve(request, request_id)
        except Exception:
            log.exception("internal error serving request %s", request_id)
            return self._unauthenticated(request, request_id, KMSInternalException(), 500)

    def refuse(self, status: int, request: Incoming) -> Pending:
        """The answer to a request the HTTP layer refused (`status`: 400, 404, 405, 413), as an AWS error, with
        its audit record. The body was not read, so the caller is not authenticated. Never raises."""
        request_id = new_request_id()
        error = _REFUSALS.get(status, MalformedHttpRequestException)()
        try:
            return self._unauthenticated(request, request_id, error, status)
        except Exception:
            log.exception("internal error refusing request %s", request_id)
            return Pending(_respond(request_id, 500, error_body(KMSInternalException())), None, request_id)

    def _unauthenticated(self, request: Incoming, request_id: str, error: KmsError, status: int) -> Pending:
        headers = request.headers
        credential = _credential_parts(headers.get("authorization") or "")
        durable = dispatch.reject(
            self._deps,
            event_name=_event_name(headers.get("x-amz-target")),
            access_key_id=credential[0],
            region=credential[2],
            request_id=request_id,
            source_ip=request.client_ip,
            user_agent=headers.get("user-agent") or "",
            error=error,
        )
        return Pending(_respond(request_id, status, error_body(error)), durable, request_id)

    async def handle(self, request: Incoming) -> WireResponse:
        """prepare(), then wait for the audit event; the response to send."""
        response: WireResponse = await wire.settled(self.prepare(request))
        return response

    def _failure(self, request_id: str, error: KmsError, durable: asyncio.Future[None]) -> Pending:
        return Pending(_respond(request_id, status_of(error), error_body(error)), durable, request_id)

    def _serve(self, request: Incoming, request_id: str) -> Pending:
        http = HttpRequest(request.method, request.path, request.query, request.headers, request.body)
        try:
            principal, region = self._authenticator.authenticate(http, self._clock())
        except AuthError as error:
            return self._unauthenticated(request, request_id, error, status_of(error))
        ctx = RequestContext(
            principal=principal,
            region=Region(region),
            request_id=request_id,
            source_ip=request.client_ip,
            user_agent=http.header("user-agent") or "",
        )
        target = http.header("x-amz-target")
        try:
            content_type = (http.header("content-type") or "").split(";")[0].strip().lower()
            if content_type not in _ACCEPTED_TYPES:
                raise UnknownOperationException()
            operation = operation_for(target)
            try:
                document = orjson.loads(request.body) if request.body.strip() else {}
            except orjson.JSONDecodeError:
                raise SerializationException("The request body is not valid JSON.") from None
            params = bind(operation, decode_request(operation.value, document))
        except KmsError as error:
            return self._failure(request_id, error, dispatch.refuse(self._deps, ctx, _event_name(target), error))
        outcome = dispatch.run(self._deps, ctx, operation, params)
        if outcome.error is not None:
            return self._failure(request_id, outcome.error, outcome.durable)
        body = encode_response(operation.value, outcome.result)
        return Pending(_respond(request_id, 200, body), outcome.durable, request_id)


def _event_name(target: str | None) -> str:
    """The operation a request named, for its audit event, even when it names none that exists."""
    name = (target or "").rpartition(".")[2]
    return name[:64] if name.isalnum() else "Unknown"


def _credential_parts(authorization: str) -> tuple[str, str, str]:
    """(access key id, date, region) from an Authorization header, as far as it can be read."""
    _, _, credential = authorization.partition("Credential=")
    parts = credential.split(",")[0].split("/")
    parts += [""] * (3 - len(parts))
    return parts[0][:128], parts[1][:8], parts[2][:32]
