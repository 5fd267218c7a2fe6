"""AES-256-GCM as the XKS proxy API has it: a Trent key's material as the external key.

The specification (aws/aws-kms-xksproxy-api-spec, "Encrypt" and "Decrypt") asks for AES-GCM with the caller's
additionalAuthenticatedData, a 12-byte IV and a 16-byte tag returned apart from the ciphertext, and any
ciphertextMetadata (at most 20 bytes) bound into the AAD as

    2-byte big-endian length of AAD || AAD || 1-byte length of ciphertextMetadata || ciphertextMetadata

Trent's ciphertextMetadata (17 bytes) says which material version and which per-message key made the
ciphertext: format 1 || the version (4 bytes) || a 12-byte random derivation nonce. As SYMMETRIC_DEFAULT does
(crypto/symmetric.py), each message gets its own AES-256 key, derived from the material and the nonce (NIST
SP 800-108 counter mode with HMAC-SHA256, one block), here with a label of its own, so no GCM key nears the
2^32 random-IV limit (SP 800-38D 8.3) and no key is used by both formats. The Ciphertext Data Integrity Value
is SHA-256 over AAD || ciphertextMetadata || IV || ciphertext || tag (Appendix C).
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
FORMAT = 1
_METADATA = struct.Struct(">BI12s")
METADATA_SIZE = _METADATA.size  # 17
MAX_AAD = 0xFFFF  # the AAD's length must fit its 2 bytes
_LABEL = b"\x00\x00\x00\x01trent/xks/v1\x00"
_LENGTH = b"\x00\x00\x01\x00"


class XksDecryptError(ValueError):
    """The ciphertext, IV, tag, AAD or ciphertextMetadata is not what the key made (nothing more is said)."""


@dataclass(frozen=True, slots=True)
class Sealed:
    initialization_vector: bytes
    ciphertext: bytes = field(repr=False)
    authentication_tag: bytes
    ciphertext_metadata: bytes


def aad_input(aad: bytes, metadata: bytes) -> bytes:
    """The AAD given to AES-GCM: both lengths included, so AAD and metadata cannot trade bytes."""
    if len(aad) > MAX_AAD or len(metadata) > 0xFF:
        raise ValueError("the AAD or the ciphertext metadata is too long for its length prefix")
    return struct.pack(">H", len(aad)) + aad + bytes([len(metadata)]) + metadata


def _key(material: bytes, nonce: bytes) -> AESGCM:
    if len(material) != KEY_SIZE:
        raise ValueError("an external key's material must be 32 bytes")
    mac = hmac.HMAC(material, hashes.SHA256())
    mac.update(_LABEL + nonce + _LENGTH)
    return AESGCM(mac.finalize())


def material_version(metadata: bytes) -> int:
    """The material version a ciphertextMetadata of Trent's names; XksDecryptError if it is none of Trent's."""
    if len(metadata) != METADATA_SIZE or metadata[0] != FORMAT:
        raise XksDecryptError("not a ciphertext metadata of this proxy")
    return int(_METADATA.unpack(metadata)[1])


def seal(material: bytes, version: int, plaintext: bytes, aad: bytes) -> Sealed:
    metadata = _METADATA.pack(FORMAT, version, os.urandom(12))
    iv = os.urandom(IV_SIZE)
    out = _key(material, metadata[5:]).encrypt(iv, plaintext, aad_input(aad, metadata))
    return Sealed(iv, out[:-TAG_SIZE], out[-TAG_SIZE:], metadata)


def open_sealed(material: bytes, sealed: Sealed, aad: bytes) -> bytes:
    metadata = sealed.ciphertext_metadata
    material_version(metadata)
    if len(sealed.initialization_vector) not in (12, 16) or len(sealed.authentication_tag) != TAG_SIZE:
        raise XksDecryptError("the IV or the tag has the wrong length")
    try:
        return _key(material, metadata[5:]).decrypt(
            sealed.initialization_vector, sealed.ciphertext + sealed.authentication_tag, aad_input(aad, metadata)
        )
    except InvalidTag:
        raise XksDecryptError("the tag does not authenticate") from None


def integrity_value(aad: bytes, sealed: Sealed) -> bytes:
    """The Ciphertext Data Integrity Value (SHA_256) of an Encrypt answer."""
    return hashlib.sha256(
        aad + sealed.ciphertext_metadata + sealed.initialization_vector + sealed.ciphertext + sealed.authentication_tag
    ).digest()
