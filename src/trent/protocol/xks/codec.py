"""The XKS proxy API's requests and responses: paths, JSON bodies, base64 fields (RFC 4648 section 4).

Shapes and limits are the specification's (aws/aws-kms-xksproxy-api-spec, "API operations"): every body is a
JSON object with a `requestMetadata` object whose required members are strings (members it does not name are
accepted: AWS KMS may add some, Appendix B); binary fields are standard base64. A missing or mistyped member is
ValidationException; a value past what this proxy supports (beyond the minimum the specification requires) is
UnsupportedOperationException, as the Error codes table has it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from trent.crypto.xks import MAX_AAD, Sealed
from trent.kms.xks import (
    EXTERNAL_KEY_ID,
    InvalidUriPathException,
    UnsupportedOperationException,
    ValidationException,
)

ROOT = "/kms/xks/v1/"
# The route: any path with the API's root after a prefix (app/serving.py; the prefix is checked here).
ROUTE = r"/.+/kms/xks/v1/.*"
OPERATIONS = {"metadata": "GetKeyMetadata", "encrypt": "Encrypt", "decrypt": "Decrypt"}
# Required requestMetadata members per operation (kmsKeyArn is optional for GetKeyMetadata: CreateKey has none).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "GetKeyMetadata": ("awsPrincipalArn", "kmsOperation", "kmsRequestId"),
    "Encrypt": ("awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"),
    "Decrypt": ("awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"),
    "GetHealthStatus": ("kmsOperation", "kmsRequestId"),
}
OPTIONAL = ("awsSourceVpc", "awsSourceVpce", "kmsKeyArn", "kmsViaService")
MAX_METADATA_CHARS = 4096  # the specification requires ARNs of 2048
MAX_DATA_BYTES = 64 * 1024  # plaintext and ciphertext; the specification requires 4300
ALGORITHM = "AES_GCM"
INTEGRITY_ALGORITHM = "SHA_256"


@dataclass(frozen=True, slots=True)
class Target:
    """What a path names: the key store's prefix, the operation (None: no operation of the API) and the key."""

    uri_prefix: str
    operation: str | None
    external_key_id: str | None = None


def target_of(path: str) -> Target:
    """InvalidUriPathException if the path is not under /{prefix}/kms/xks/v1/."""
    head, found, rest = path.rpartition(ROOT)
    prefix = head.strip("/")
    if not found or not prefix:
        raise InvalidUriPathException("The request was rejected because the specified URI path is not valid.")
    if rest == "health":
        return Target(prefix, "GetHealthStatus")
    parts = rest.split("/")
    if len(parts) == 3 and parts[0] == "keys" and parts[2] in OPERATIONS and parts[1]:
        return Target(prefix, OPERATIONS[parts[2]], parts[1])
    return Target(prefix, None)


def check_key_id(external_key_id: str) -> None:
    if EXTERNAL_KEY_ID.fullmatch(external_key_id) is None:
        raise ValidationException(
            "An externalKeyId is 1-128 characters of letters, digits, hyphen, period and underscore."
        )


@dataclass(frozen=True, slots=True)
class Body:
    """A decoded request body: its requestMetadata and its other members."""

    metadata: Mapping[str, str]
    members: Mapping[str, Any] = field(repr=False)


def decode(operation: str, raw: bytes) -> Body:
    try:
        document = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise ValidationException("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise ValidationException("The request body must be a JSON object.")
    metadata = document.get("requestMetadata")
    if not isinstance(metadata, dict):
        raise ValidationException("The request must have a requestMetadata object.")
    for name in REQUIRED[operation]:
        if name not in metadata:
            raise ValidationException(f"The requestMetadata must have {name}.")
    for name in (*REQUIRED[operation], *OPTIONAL):
        value = metadata.get(name)
        if name in metadata and not isinstance(value, str):
            raise ValidationException(f"The requestMetadata member {name} must be a string.")
        if isinstance(value, str) and len(value) > MAX_METADATA_CHARS:
            raise UnsupportedOperationException(f"The requestMetadata member {name} is longer than supported.")
    known = {name: metadata[name] for name in (*REQUIRED[operation], *OPTIONAL) if name in metadata}
    return Body(known, document)


def _string(body: Body, name: str, required: bool) -> str | None:
    value = body.members.get(name)
    if value is None:
        if required:
            raise ValidationException(f"The request must have {name}.")
        return None
    if not isinstance(value, str):
        raise ValidationException(f"The member {name} must be a string.")
    return value


def binary(body: Body, name: str, *, required: bool, limit: int) -> bytes | None:
    """A base64 member decoded; ValidationException if it is not base64, Unsupported... past `limit` bytes."""
    value = _string(body, name, required)
    if value is None:
        return None
    if len(value) > (limit + 2) // 3 * 4:
        raise UnsupportedOperationException(f"The member {name} is larger than this proxy supports.")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationException(f"The member {name} is not valid base64.") from None
    if len(decoded) > limit:
        raise UnsupportedOperationException(f"The member {name} is larger than this proxy supports.")
    return decoded


def algorithm(body: Body) -> str:
    value = _string(body, "encryptionAlgorithm", True)
    if value != ALGORITHM:
        raise UnsupportedOperationException(f"The encryptionAlgorithm must be {ALGORITHM}.")
    return ALGORITHM


def integrity_algorithm(body: Body) -> str | None:
    value = _string(body, "ciphertextDataIntegrityValueAlgorithm", False)
    if value is not None and value != INTEGRITY_ALGORITHM:
        raise UnsupportedOperationException(f"The ciphertextDataIntegrityValueAlgorithm must be {INTEGRITY_ALGORITHM}.")
    return value


def aad(body: Body) -> bytes:
    return binary(body, "additionalAuthenticatedData", required=False, limit=MAX_AAD) or b""


def sealed(body: Body) -> Sealed:
    """Decrypt's ciphertext, IV, tag and ciphertextMetadata (their lengths are checked as the tag is)."""
    ciphertext = binary(body, "ciphertext", required=True, limit=MAX_DATA_BYTES)
    # Wrong lengths (an IV not of 12 or 16 bytes, a tag not of 16, metadata not Trent's) are an invalid
    # ciphertext, found as the key opens it; past 64 bytes they are more than any valid one.
    iv = binary(body, "initializationVector", required=True, limit=64)
    tag = binary(body, "authenticationTag", required=True, limit=64)
    metadata = binary(body, "ciphertextMetadata", required=False, limit=64)
    assert ciphertext is not None and iv is not None and tag is not None
    return Sealed(iv, ciphertext, tag, metadata or b"")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document)


def encrypt_response(sealed_: Sealed, integrity_value: bytes | None) -> bytes:
    out = {
        "ciphertext": _b64(sealed_.ciphertext),
        "ciphertextMetadata": _b64(sealed_.ciphertext_metadata),
        "initializationVector": _b64(sealed_.initialization_vector),
        "authenticationTag": _b64(sealed_.authentication_tag),
    }
    if integrity_value is not None:
        out["ciphertextDataIntegrityValue"] = _b64(integrity_value)
    return encode(out)


def decrypt_response(plaintext: bytes) -> bytes:
    return encode({"plaintext": _b64(plaintext)})
