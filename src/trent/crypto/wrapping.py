"""Unwrapping imported key material (ImportKeyMaterial) with the wrapping key pair of GetParametersForImport.

Two families (AWS KMS Developer Guide, "Select a wrapping algorithm"):
- RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256: the material itself is RSAES-OAEP encrypted (RFC 8017 7.1), the named
  hash for both OAEP and MGF1, an empty label; it must fit: mLen <= k - 2hLen - 2.
- RSA_AES_KEY_WRAP_SHA_1 / RSA_AES_KEY_WRAP_SHA_256: PKCS #11's CKM_RSA_AES_KEY_WRAP. An ephemeral AES key,
  RSAES-OAEP encrypted under the wrapping key, followed by the material wrapped under that AES key with AES
  key wrap with padding (RFC 5649), in one blob: the first k bytes (the modulus length) are the RSA part.

Every failure is the same UnwrapFailed, with one message: OAEP padding errors must be indistinguishable from
each other and from key-wrap integrity failures (Manger's attack).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from trent.kms.specs import WrappingAlgorithm, WrappingKeySpec

_W = WrappingAlgorithm
WRAPPING_KEY_BITS: Mapping[WrappingKeySpec, int] = MappingProxyType(
    {WrappingKeySpec.RSA_2048: 2048, WrappingKeySpec.RSA_3072: 3072, WrappingKeySpec.RSA_4096: 4096}
)
HASHES: Mapping[WrappingAlgorithm, type[hashes.HashAlgorithm]] = MappingProxyType(
    {
        _W.RSAES_OAEP_SHA_1: hashes.SHA1,
        _W.RSAES_OAEP_SHA_256: hashes.SHA256,
        _W.RSA_AES_KEY_WRAP_SHA_1: hashes.SHA1,
        _W.RSA_AES_KEY_WRAP_SHA_256: hashes.SHA256,
    }
)
HYBRID: frozenset[WrappingAlgorithm] = frozenset({_W.RSA_AES_KEY_WRAP_SHA_1, _W.RSA_AES_KEY_WRAP_SHA_256})
_AES_KEY_BYTES = frozenset({16, 24, 32})  # CKM_RSA_AES_KEY_WRAP's ephemeral key: AES-128, -192 or -256


class UnwrapFailed(ValueError):
    """The wrapped material could not be recovered; the one message says nothing of why."""

    def __init__(self) -> None:
        super().__init__("the key material could not be unwrapped")


def generate_wrapping_key(spec: WrappingKeySpec) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS[spec])


def private_der(private_key: rsa.RSAPrivateKey) -> bytes:
    """The wrapping private key as unencrypted PKCS #8 DER, for the root of trust to wrap."""
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def max_direct_bytes(spec: WrappingKeySpec, algorithm: WrappingAlgorithm) -> int:
    """The largest material an RSAES_OAEP_* algorithm can wrap under a wrapping key (RFC 8017 7.1.1)."""
    return WRAPPING_KEY_BITS[spec] // 8 - 2 * HASHES[algorithm]().digest_size - 2


def _oaep(algorithm: WrappingAlgorithm) -> padding.OAEP:
    h = HASHES[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def unwrap(private_key: rsa.RSAPrivateKey, algorithm: WrappingAlgorithm, wrapped: bytes) -> bytes:
    """The plaintext material; UnwrapFailed whatever went wrong."""
    k = private_key.key_size // 8
    try:
        if algorithm not in HYBRID:
            if len(wrapped) != k:
                raise UnwrapFailed()
            return private_key.decrypt(wrapped, _oaep(algorithm))
        if len(wrapped) <= k:
            raise UnwrapFailed()
        aes_key = private_key.decrypt(wrapped[:k], _oaep(algorithm))
        if len(aes_key) not in _AES_KEY_BYTES:
            raise UnwrapFailed()
        return aes_key_unwrap_with_padding(aes_key, wrapped[k:])
    except (ValueError, InvalidUnwrap):
        raise UnwrapFailed() from None
