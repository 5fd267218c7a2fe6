"""The XKS proxy API front: one request in, one response out, one audit record (docs/xks.md).

Order: with mutual TLS, the client certificate's subject (AuthenticationFailedException) → the path's key
store (InvalidUriPathException) → SigV4 with service kms-xks-proxy and that store's
credential (AuthenticationFailedException) → the store enabled (InvalidStateException) → the path's operation
(InvalidUriPathException) → content type and JSON body, requestMetadata (ValidationException) → the operation
(ops/xks.py). Every answer waits until its audit record is durable; if it cannot be written, the answer is
InternalException (fail closed), as on the AWS JSON front.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from trent.auth.sigv4 import HttpRequest, header_map
from trent.auth.xks import XksAuthenticator
from trent.kms.errors import AuthError
from trent.kms.ids import unique_id
from trent.kms.sensitive import Sensitive
from trent.kms.xks import (
    AuthenticationFailedException,
    InternalException,
    InvalidStateException,
    InvalidUriPathException,
    ValidationException,
    XksError,
)
from trent.ops import xks as ops
from trent.ops.deps import Deps
from trent.protocol import wire
from trent.protocol.wire import WireResponse
from trent.protocol.xks import codec
from trent.protocol.xks.errors import REFUSALS, error_body, status_of

log = logging.getLogger("trent.request")
CONTENT_TYPE = "application/json"
_HEADERS = (("cache-control", "no-store"),)


class Incoming(wire.Incoming, Protocol):
    """What the front reads of a request (the server's `Request`, matched structurally): a client certificate too."""

    @property
    def client_cert_name(self) -> str: ...  # the subject CN of a verified client certificate, "" if none


class Pending(wire.Pending):
    """A response to send once `durable` (its audit record) completes; InternalException if that fails."""

    __slots__ = ()

    def internal_error(self) -> WireResponse:
        return _respond(self.request_id, 500, error_body(InternalException()))


def _respond(request_id: str, status: int, body: bytes) -> WireResponse:
    return WireResponse(status, [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id), *_HEADERS], body)


def _credential_parts(authorization: str) -> tuple[str, str]:
    """(access key id, region) from an Authorization header, as far as it can be read (for the audit record)."""
    _, _, credential = authorization.partition("Credential=")
    parts = credential.split(",")[0].split("/") + ["", "", ""]
    return parts[0][:128], parts[2][:32]


class XksFront:
    def __init__(
        self,
        deps: Deps,
        authenticator: XksAuthenticator,
        clock: Callable[[], datetime],
        peers: frozenset[str] | None = None,
    ) -> None:
        """`peers`: None, no mutual TLS; else every request needs a verified client certificate, whose subject
        CN must be one of `peers` unless it is empty (the specification's "Authentication": mTLS SHOULD be
        supported, with both the subject name and the root CA configurable)."""
        self._deps = deps
        self._peers = peers
        self._authenticator = authenticator
        self._clock = clock
        self._operations: Mapping[str, Callable[[ops.XksContext, codec.Body], bytes]] = {
            "GetKeyMetadata": self._get_key_metadata,
            "Encrypt": self._encrypt,
            "Decrypt": self._decrypt,
            "GetHealthStatus": self._get_health_status,
        }

    def __repr__(self) -> str:
        return "XksFront()"

    @staticmethod
    def claims(path: str) -> bool:
        """Whether a path is one of this API's (for the site's refusals)."""
        return codec.ROOT in path

    def _context(self, request: Incoming) -> ops.XksContext:
        headers = request.headers
        access_key_id, region = _credential_parts(headers.get("authorization") or "")
        return ops.XksContext(
            store=None,
            operation="Unknown",
            request_id=unique_id(),
            region=region,
            access_key_id=access_key_id,
            source_ip=request.client_ip,
            user_agent=(headers.get("user-agent") or "")[:256],
        )

    def prepare(self, request: Incoming) -> Pending:
        """The response and the audit record it waits for. Never raises."""
        started = ops.now()
        ctx = self._context(request)
        error: XksError | None = None
        try:
            body = self._serve(request, ctx)
        except XksError as exc:
            error = exc
        except Exception:
            log.exception("internal error serving XKS request %s", ctx.request_id)
            error = InternalException()
        try:
            durable = ops.record(self._deps, ctx, error, started)
        except Exception:
            log.exception("cannot record XKS request %s", ctx.request_id)
            return Pending(_respond(ctx.request_id, 500, error_body(InternalException())), None, ctx.request_id)
        if error is not None:
            return Pending(_respond(ctx.request_id, status_of(error), error_body(error)), durable, ctx.request_id)
        return Pending(_respond(ctx.request_id, 200, body), durable, ctx.request_id)

    def refuse(self, status: int, request: Incoming) -> Pending:
        """What the HTTP layer refused (a GET: 405), as an XKS error with its audit record. Never raises."""
        ctx = self._context(request)
        error = REFUSALS.get(status, REFUSALS[400])()
        try:
            target = codec.target_of(request.path)
            ctx.uri_prefix, ctx.operation = target.uri_prefix[:256], target.operation or "Unknown"
            durable = ops.record(self._deps, ctx, error, ops.now())
        except Exception:
            durable = None
        return Pending(_respond(ctx.request_id, status_of(error), error_body(error)), durable, ctx.request_id)

    async def handle(self, request: Incoming) -> WireResponse:
        response: WireResponse = await wire.settled(self.prepare(request))
        return response

    def _serve(self, request: Incoming, ctx: ops.XksContext) -> bytes:
        target = codec.target_of(request.path)
        ctx.uri_prefix = target.uri_prefix[:256]
        ctx.operation = target.operation or "Unknown"
        ctx.external_key_id = None if target.external_key_id is None else target.external_key_id[:256]
        self._check_peer(request.client_cert_name)
        store = self._deps.store.get_xks_store(target.uri_prefix)
        if store is None:
            raise InvalidUriPathException("The request was rejected because the specified URI path is not valid.")
        ctx.store = store
        http = HttpRequest(request.method, request.path, request.query, header_map(request.headers), request.body)
        try:
            verified = self._authenticator.authenticate(http, store, self._clock())
        except AuthError as exc:
            raise AuthenticationFailedException(exc.message) from None
        ctx.authenticated, ctx.region = True, verified.region
        if not store.enabled:
            raise InvalidStateException(f"The key store {store.uri_prefix} is disabled.")
        if target.operation is None:
            raise InvalidUriPathException("The request was rejected because the specified URI path is not valid.")
        if target.external_key_id is not None:
            codec.check_key_id(target.external_key_id)
        content_type = (http.header("content-type") or "").split(";")[0].strip().lower()
        if content_type not in (CONTENT_TYPE, ""):
            raise ValidationException(f"The content type must be {CONTENT_TYPE}.")
        body = codec.decode(target.operation, request.body)
        ctx.metadata = body.metadata
        return self._operations[target.operation](ctx, body)

    def _check_peer(self, name: str) -> None:
        if self._peers is None:
            return
        if not name:
            raise AuthenticationFailedException("This proxy requires a TLS client certificate (mutual TLS).")
        if self._peers and name not in self._peers:
            raise AuthenticationFailedException("The TLS client certificate's subject is not one this proxy accepts.")

    def _get_key_metadata(self, ctx: ops.XksContext, body: codec.Body) -> bytes:
        found = ops.get_key_metadata(self._deps, ctx)
        return codec.encode(
            {"keySpec": found.key_spec, "keyUsage": list(found.key_usage), "keyStatus": found.key_status}
        )

    def _encrypt(self, ctx: ops.XksContext, body: codec.Body) -> bytes:
        ctx.parameters["encryptionAlgorithm"] = codec.algorithm(body)
        integrity = codec.integrity_algorithm(body)
        if integrity is not None:
            ctx.parameters["ciphertextDataIntegrityValueAlgorithm"] = integrity
        plaintext = codec.binary(body, "plaintext", required=True, limit=codec.MAX_DATA_BYTES)
        assert plaintext is not None
        done = ops.encrypt(self._deps, ctx, Sensitive(plaintext), codec.aad(body), integrity is not None)
        return codec.encrypt_response(done.sealed, done.integrity_value)

    def _decrypt(self, ctx: ops.XksContext, body: codec.Body) -> bytes:
        ctx.parameters["encryptionAlgorithm"] = codec.algorithm(body)
        plaintext = ops.decrypt(self._deps, ctx, codec.sealed(body), codec.aad(body))
        return codec.decrypt_response(plaintext.reveal())

    def _get_health_status(self, ctx: ops.XksContext, body: codec.Body) -> bytes:
        found = ops.health(self._deps, ctx)
        return codec.encode(
            {
                "xksProxyFleetSize": found.fleet_size,
                "xksProxyVendor": found.vendor,
                "xksProxyModel": found.model,
                "ekmVendor": found.vendor,
                "ekmFleetDetails": [{"id": found.ekm_id, "model": found.ekm_model, "healthStatus": found.status}],
            }
        )
