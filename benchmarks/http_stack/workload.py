"""Per-request work shared by every candidate: a simulated KMS Encrypt call.

Steps: SigV4-style check (sha256 of the body, HMAC-SHA256 over a ~300-byte
canonical string with a cached key), JSON decode, base64 decode, AES-256-GCM
encrypt with a fresh 12-byte nonce, JSON encode.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
import uuid

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET = "TrentService.Encrypt"
AMZ_DATE = "20260101T000000Z"
SCOPE = "20260101/us-east-1/kms/aws4_request"
SIGNED_HEADERS = "content-type;x-amz-date;x-amz-target"
ARN_PREFIX = "arn:aws:kms:us-east-1:111122223333:key/"

# Cached secrets (a real server derives the signing key once per date/region).
_SIGNING_KEY = hashlib.sha256(b"bench-signing-key").digest()
_AEAD = AESGCM(hashlib.sha256(b"bench-data-key").digest())


def canonical_string(content_type: str, amz_date: str, target: str, body: bytes) -> bytes:
    """Return the ~300-byte string that SigV4 would sign for this request."""
    return (
        f"AWS4-HMAC-SHA256\n{amz_date}\n{SCOPE}\n"
        f"POST\n/\n\ncontent-type:{content_type}\nx-amz-date:{amz_date}\n"
        f"x-amz-target:{target}\n\n{SIGNED_HEADERS}\n{hashlib.sha256(body).hexdigest()}"
    ).encode()


def sign(content_type: str, amz_date: str, target: str, body: bytes) -> str:
    msg = canonical_string(content_type, amz_date, target, body)
    return hmac.new(_SIGNING_KEY, msg, hashlib.sha256).hexdigest()


def make_request() -> tuple[dict[str, str], bytes]:
    """Return the fixed, correctly signed request that the load generator sends."""
    rng = random.Random(0)
    key_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    body = orjson.dumps({"KeyId": key_id, "Plaintext": base64.b64encode(rng.randbytes(1024)).decode()})
    signature = sign(CONTENT_TYPE, AMZ_DATE, TARGET, body)
    headers = {
        "Content-Type": CONTENT_TYPE,
        "X-Amz-Target": TARGET,
        "X-Amz-Date": AMZ_DATE,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{SCOPE}, "
            f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
        ),
    }
    return headers, body


def handle(authorization: str, target: str, amz_date: str, content_type: str, body: bytes) -> tuple[int, bytes, str]:
    """Process one Encrypt request; return (status, response body, request id)."""
    request_id = str(uuid.uuid4())
    expected = sign(content_type, amz_date, target, body)
    if not hmac.compare_digest(authorization.rpartition("Signature=")[2], expected):
        return 403, b'{"__type":"IncompleteSignatureException"}', request_id
    try:
        req = orjson.loads(body)
        plaintext = base64.b64decode(req["Plaintext"], validate=True)
        key_id = req["KeyId"]
    except (ValueError, KeyError, TypeError):
        return 400, b'{"__type":"ValidationException"}', request_id
    nonce = os.urandom(12)
    blob = nonce + _AEAD.encrypt(nonce, plaintext, None)
    out = orjson.dumps(
        {
            "CiphertextBlob": base64.b64encode(blob).decode(),
            "KeyId": ARN_PREFIX + key_id,
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }
    )
    return 200, out, request_id
