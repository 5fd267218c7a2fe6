"""RSA: RSAES-OAEP encryption (RFC 8017 7.1) and, later, RSASSA signatures.

KMS's RSAES_OAEP_SHA_1/SHA_256 use the named hash for both OAEP and MGF1, and an empty label.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trent.kms.specs import EncryptionAlgorithm

OAEP_HASHES: Mapping[EncryptionAlgorithm, type[hashes.HashAlgorithm]] = MappingProxyType(
    {EncryptionAlgorithm.RSAES_OAEP_SHA_1: hashes.SHA1, EncryptionAlgorithm.RSAES_OAEP_SHA_256: hashes.SHA256}
)


class DecryptionFailed(ValueError):
    """Any OAEP failure. One class, one message: padding errors must be indistinguishable (Manger's attack)."""


def _oaep(algorithm: EncryptionAlgorithm) -> padding.OAEP:
    h = OAEP_HASHES[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def max_plaintext(key_bits: int, algorithm: EncryptionAlgorithm) -> int:
    """RFC 8017 7.1.1: mLen <= k - 2hLen - 2."""
    return key_bits // 8 - 2 * OAEP_HASHES[algorithm]().digest_size - 2


def encrypt(public_key: rsa.RSAPublicKey, algorithm: EncryptionAlgorithm, plaintext: bytes) -> bytes:
    return public_key.encrypt(plaintext, _oaep(algorithm))


def decrypt(private_key: rsa.RSAPrivateKey, algorithm: EncryptionAlgorithm, ciphertext: bytes) -> bytes:
    try:
        return private_key.decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise DecryptionFailed() from None
