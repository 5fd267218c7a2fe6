"""The XKS proxy API's errors on the wire: the HTTP status of each errorName (the specification's "Error codes"
table) and the body, `{"errorName": ..., "errorMessage": ...}`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson

from trent.kms import xks
from trent.kms.xks import XksError

STATUS: Mapping[type[XksError], int] = {
    xks.ValidationException: 400,
    xks.InvalidStateException: 400,
    xks.InvalidCiphertextException: 400,
    xks.InvalidKeyUsageException: 400,
    xks.AuthenticationFailedException: 401,
    xks.AccessDeniedException: 403,
    xks.KeyNotFoundException: 404,
    xks.InvalidUriPathException: 404,
    xks.MethodNotAllowedException: 405,  # "it MUST reject the request with a 405 Method Not Allowed error"
    xks.ThrottlingException: 429,
    xks.InternalException: 500,
    xks.UnsupportedOperationException: 501,
    xks.DependencyTimeoutException: 503,
}

# What the HTTP layer refused (it read no body), as an XKS error.
REFUSALS: Mapping[int, Callable[[], XksError]] = {
    400: lambda: xks.ValidationException("The request is not valid HTTP/1.1."),
    404: lambda: xks.InvalidUriPathException("The request was rejected because the specified URI path is not valid."),
    405: lambda: xks.MethodNotAllowedException("XKS proxy API requests are POST requests."),
    413: lambda: xks.UnsupportedOperationException("The request is larger than this proxy accepts."),
}


def status_of(error: XksError) -> int:
    return STATUS.get(type(error), 500)


def error_body(error: XksError) -> bytes:
    body = {"errorName": error.name}
    if error.message:
        body["errorMessage"] = error.message
    return orjson.dumps(body)
