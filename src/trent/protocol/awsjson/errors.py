"""KmsError → the AWS JSON 1.1 error response: HTTP status, `__type`, and `message` or `Message`.

Statuses are what AWS sends on the wire, not the Smithy model's httpError codes: KMS answers its client
errors with 400 (docs/aws-semantics.md A.1). Anything that is not a KmsError is our fault: a 500
KMSInternalException with no detail (the request id in the headers ties it to the server log).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import orjson

from trent.kms.errors import KmsError


class MalformedHttpRequestException(KmsError):
    """The HTTP layer could not read the request (AWS Common Errors); the wire's concern, not the domain's."""


class RequestEntityTooLargeException(KmsError):
    """The request is larger than the HTTP layer accepts (AWS Common Errors: 413)."""


_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "KMSInternalException": 500,
        "KeyUnavailableException": 500,
        "DependencyTimeoutException": 503,
        "RequestEntityTooLargeException": 413,
    }
)
# Coral framework errors use "Message"; the service's own (modeled) errors use "message".
_CAPITAL_MESSAGE = frozenset(
    {
        "SerializationException",
        "UnknownOperationException",
        "MalformedHttpRequestException",
        "RequestEntityTooLargeException",
    }
)


def status_of(error: KmsError) -> int:
    return _STATUS.get(error.code, 400)


def error_body(error: KmsError) -> bytes:
    body: dict[str, str] = {"__type": error.code}
    if error.message:
        body["Message" if error.code in _CAPITAL_MESSAGE else "message"] = error.message
    return orjson.dumps(body)
