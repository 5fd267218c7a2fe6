"""The AWS JSON 1.1 front: one request in, one response out.

Order (KMS-SEMANTICS.md §B and A.4): authenticate (SigV4) → content type → X-Amz-Target → JSON →
model validation → typed binding → the operation → the response. Every failure is an AWS error body.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from trent.auth.principals import Authenticator
from trent.auth.sigv4 import HttpRequest
from trent.kms.errors import (
    AuthError,
    KmsError,
    KMSInternalException,
    SerializationException,
    UnknownOperationException,
)
from trent.kms.ids import Region
from trent.kms.principals import Principal
from trent.ops import dispatch
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.protocol.awsjson.binding import bind, operation_for
from trent.protocol.awsjson.codec import encode_response
from trent.protocol.awsjson.errors import error_body, status_of
from trent.protocol.awsjson.validate import decode_request

log = logging.getLogger("trent.request")
CONTENT_TYPE = "application/x-amz-json-1.1"
_ACCEPTED_TYPES = frozenset({"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json", ""})
_NO_CACHE = (
    ("cache-control", "no-cache, no-store, must-revalidate, private"),
    ("expires", "0"),
    ("pragma", "no-cache"),
)


@dataclass(frozen=True, slots=True)
class WireRequest:
    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]  # names in lowercase
    body: bytes = field(repr=False)
    client_ip: str = ""


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = field(repr=False)


class AwsJsonFront:
    def __init__(self, deps: Deps, authenticator: Authenticator, clock: Callable[[], datetime]) -> None:
        self._deps = deps
        self._authenticator = authenticator
        self._clock = clock

    def __repr__(self) -> str:
        return "AwsJsonFront()"

    def _respond(self, request_id: str, status: int, body: bytes) -> WireResponse:
        headers = [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id), *_NO_CACHE]
        return WireResponse(status, headers, body)

    async def handle(self, request: WireRequest) -> WireResponse:
        request_id = str(uuid.uuid4())
        try:
            return self._respond(request_id, 200, await self._serve(request, request_id))
        except KmsError as error:
            return self._respond(request_id, status_of(error), error_body(error))
        except Exception:
            log.exception("internal error serving request %s", request_id)
            internal = KMSInternalException()
            return self._respond(request_id, status_of(internal), error_body(internal))

    async def _authenticate(self, http: HttpRequest, request: WireRequest, request_id: str) -> tuple[Principal, str]:
        try:
            return self._authenticator.authenticate(http, self._clock())
        except AuthError as error:
            credential = _credential_parts(http.header("authorization") or "")
            await dispatch.reject(
                self._deps,
                event_name=_event_name(http.header("x-amz-target")),
                access_key_id=credential[0],
                region=credential[2],
                request_id=request_id,
                source_ip=request.client_ip,
                user_agent=http.header("user-agent") or "",
                error=error,
            )
            raise

    async def _serve(self, request: WireRequest, request_id: str) -> bytes:
        http = HttpRequest(request.method, request.path, request.query, request.headers, request.body)
        principal, region = await self._authenticate(http, request, request_id)
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
            await dispatch.refuse(self._deps, ctx, _event_name(target), error)
            raise
        result = await dispatch.invoke(self._deps, ctx, operation, params)
        return encode_response(operation.value, result)


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
