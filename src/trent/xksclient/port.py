"""The port through which ops reach an external key store's XKS proxy, and what it answers.

The calls are the AWS KMS External Key Store Proxy API Specification's (aws/aws-kms-xksproxy-api-spec):
GetHealthStatus, GetKeyMetadata, Encrypt, Decrypt. A failure is a ProxyFailure with a neutral `kind`; ops map
each kind onto the KMS API's answer for the operation at hand (ops/extstores.py), since AWS answers the same
proxy failure with an XksProxy*/XksKey* exception in a management operation, a ConnectionErrorCode on Connect,
and KMSInvalidStateException in a cryptographic operation (Developer Guide, "Troubleshooting external key
stores").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from trent.kms.sensitive import Sensitive


class FailureKind(StrEnum):
    NOT_REACHABLE = "NOT_REACHABLE"  # no connection, a refused one, or a proxy reporting no healthy manager
    TIMED_OUT = "TIMED_OUT"  # no complete answer within the timeout (250 ms by the specification)
    INVALID_TLS = "INVALID_TLS"  # the TLS handshake failed (an untrusted certificate, another name)
    ACCESS_DENIED = "ACCESS_DENIED"  # AuthenticationFailedException (401), AccessDeniedException (403)
    INVALID_RESPONSE = "INVALID_RESPONSE"  # not the specification's answer, too large, InternalException
    INVALID_CONFIGURATION = "INVALID_CONFIGURATION"  # InvalidUriPathException, ValidationException, Unsupported...
    KEY_NOT_FOUND = "KEY_NOT_FOUND"  # KeyNotFoundException
    KEY_STATE = "KEY_STATE"  # InvalidStateException: the external key (or its key store) is not enabled
    KEY_USAGE = "KEY_USAGE"  # InvalidKeyUsageException
    INVALID_CIPHERTEXT = "INVALID_CIPHERTEXT"  # InvalidCiphertextException


class ProxyFailure(Exception):
    """A call to the proxy failed. `detail` is safe to log and to show (no secret, no data)."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """Where a proxy is and how to sign for it: the key store's URL (endpoint + path), SigV4 credential and
    region (the key store's: AWS KMS signs with the region of the external key store)."""

    url: str
    access_key_id: str
    secret: Sensitive = field(repr=False)
    region: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """GetKeyMetadata's answer."""

    key_spec: str
    key_usage: tuple[str, ...]
    key_status: str


@dataclass(frozen=True, slots=True)
class ProxySealed:
    """Encrypt's answer (and Decrypt's input): the external key's ciphertext and what opens it."""

    ciphertext: bytes
    initialization_vector: bytes
    authentication_tag: bytes
    ciphertext_metadata: bytes = b""


class XksProxy(Protocol):
    """The calls; `metadata` is the request's requestMetadata (awsPrincipalArn, kmsOperation, ...)."""

    def health(self, target: ProxyTarget, metadata: Mapping[str, str]) -> None: ...

    def key_metadata(self, target: ProxyTarget, key_id: str, metadata: Mapping[str, str]) -> KeyInfo: ...

    def encrypt(
        self, target: ProxyTarget, key_id: str, plaintext: bytes, aad: bytes, metadata: Mapping[str, str]
    ) -> ProxySealed: ...

    def decrypt(
        self, target: ProxyTarget, key_id: str, sealed: ProxySealed, aad: bytes, metadata: Mapping[str, str]
    ) -> bytes: ...
