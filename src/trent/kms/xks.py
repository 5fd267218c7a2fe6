"""The External Key Store (XKS) proxy vocabulary: logical key stores, exposures of Trent keys, and the errors.

Trent serves the AWS KMS External Key Store Proxy API Specification (aws/aws-kms-xksproxy-api-spec; docs/xks.md,
docs/decisions/0015-xks-proxy.md). A logical key store is one URI path prefix with its SigV4 credential; an
exposure makes one Trent key (SYMMETRIC_DEFAULT) reachable as an external key of that store. Stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from trent.kms.ids import KeyId

# The specification's "XKS Proxy configuration file": AccessKeyId "20-30 characters, 'A' through 'Z' and '2'
# through '7' only"; RawSecretAccessKey "43-64 characters, a-z, A-Z, 0-9, /, +, and =" (Appendix A).
ACCESS_KEY_ID = re.compile(r"[A-Z2-7]{20,30}")
SECRET_ACCESS_KEY = re.compile(r"[A-Za-z0-9/+=]{43,64}")
# XksProxyUriPath: at most 128 characters of a-z, A-Z, 0-9, /, - and _, ending in /kms/xks/v1 (11 of them).
URI_PREFIX = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")
MAX_URI_PREFIX = 128 - len("//kms/xks/v1")
# externalKeyId: at most 128 characters of letters, digits, hyphen, period and underscore.
EXTERNAL_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

ENCRYPT, DECRYPT = "ENCRYPT", "DECRYPT"
USAGES: dict[str, frozenset[str]] = {
    "ENCRYPT,DECRYPT": frozenset({ENCRYPT, DECRYPT}),
    "DECRYPT,ENCRYPT": frozenset({ENCRYPT, DECRYPT}),
    "ENCRYPT": frozenset({ENCRYPT}),
    "DECRYPT": frozenset({DECRYPT}),
    "NONE": frozenset(),
}


def usage_text(usage: frozenset[str]) -> str:
    return ",".join(u for u in (ENCRYPT, DECRYPT) if u in usage) or "NONE"


def normal_prefix(text: str) -> str | None:
    """`keystores/a` from `/keystores/a/` (slashes at either end dropped); None when it is no valid prefix."""
    prefix = text.strip("/")
    if len(prefix) > MAX_URI_PREFIX or URI_PREFIX.fullmatch(prefix) is None:
        return None
    return prefix


@dataclass(frozen=True, slots=True)
class XksKeyStore:
    """A logical key store: its URI path prefix (without slashes at the ends), its SigV4 credential (the
    secret wrapped by the root of trust, bound to the prefix and access key id) and whether it is enabled. A
    rotated credential stays valid as `previous_*` until it is retired (the specification's SigV4 credentials
    rotation: two credentials at once per path prefix)."""

    uri_prefix: str
    access_key_id: str
    wrapped_secret: bytes = field(repr=False)
    enabled: bool
    created: datetime
    previous_access_key_id: str | None = None
    previous_wrapped_secret: bytes | None = field(default=None, repr=False)

    @property
    def uri_path(self) -> str:
        """The XksProxyUriPath to give AWS KMS."""
        return f"/{self.uri_prefix}/kms/xks/v1"


@dataclass(frozen=True, slots=True)
class XksExposure:
    """A Trent key exposed to a logical key store as external key `key_id` (the external key id is the Trent
    key id), for `usage` (ENCRYPT, DECRYPT, both or none), with an optional allow-list: when non-empty, only
    those awsPrincipalArn values and only those kmsOperation values are served (else AccessDeniedException)."""

    uri_prefix: str
    key_id: KeyId
    usage: frozenset[str]
    created: datetime
    allowed_principals: tuple[str, ...] = ()
    allowed_operations: tuple[str, ...] = ()


class XksError(Exception):
    """An error of the XKS Proxy API, named as the specification's Error Codes table names it. `message` is
    printable ASCII, under 512 characters, and never holds a secret or a plaintext."""

    def __init__(self, message: str = "") -> None:
        message = "".join(c if " " <= c <= "~" else "?" for c in message)[:511]
        super().__init__(message)
        self.message = message

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.name}({self.message!r})"


class ValidationException(XksError):
    pass


class InvalidStateException(XksError):
    pass


class InvalidCiphertextException(XksError):
    pass


class InvalidKeyUsageException(XksError):
    pass


class AuthenticationFailedException(XksError):
    pass


class AccessDeniedException(XksError):
    pass


class KeyNotFoundException(XksError):
    pass


class InvalidUriPathException(XksError):
    pass


class ThrottlingException(XksError):
    pass


class UnsupportedOperationException(XksError):
    pass


class DependencyTimeoutException(XksError):
    pass


class InternalException(XksError):
    pass


# Not in the specification's table: a method other than POST ("it MUST reject the request with a 405 Method Not
# Allowed error"), answered with an errorName of its own.
class MethodNotAllowedException(XksError):
    pass
