"""HMAC (RFC 2104, FIPS 198-1) with SHA-224/256/384/512 for GenerateMac and VerifyMac.

Verification is pyca's HMAC.verify, a constant-time comparison; a mismatch raises InvalidSignature.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes, hmac

from trent.kms.specs import MacAlgorithm

MAC_HASHES: Mapping[MacAlgorithm, type[hashes.HashAlgorithm]] = MappingProxyType(
    {
        MacAlgorithm.HMAC_SHA_224: hashes.SHA224,
        MacAlgorithm.HMAC_SHA_256: hashes.SHA256,
        MacAlgorithm.HMAC_SHA_384: hashes.SHA384,
        MacAlgorithm.HMAC_SHA_512: hashes.SHA512,
    }
)


def _hmac(key: bytes, algorithm: MacAlgorithm, message: bytes) -> hmac.HMAC:
    h = hmac.HMAC(key, MAC_HASHES[algorithm]())
    h.update(message)
    return h


def generate(key: bytes, algorithm: MacAlgorithm, message: bytes) -> bytes:
    return _hmac(key, algorithm, message).finalize()


def verify(key: bytes, algorithm: MacAlgorithm, message: bytes, mac: bytes) -> None:
    """Raises cryptography.exceptions.InvalidSignature unless `mac` is the HMAC of `message`."""
    _hmac(key, algorithm, message).verify(mac)
