"""Key material per spec family: generate it, load it into a pyca key object, and give its public key.

Serialized forms: raw bytes for AES and HMAC; unencrypted PKCS#8 DER for every private key (the root of
trust wraps it before it is stored). Dispatch is by Family through tables, never by spec name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

from trent.kms.specs import Family, SpecInfo

CURVES: Mapping[str, ec.EllipticCurve] = MappingProxyType(
    {
        "secp256r1": ec.SECP256R1(),
        "secp384r1": ec.SECP384R1(),
        "secp521r1": ec.SECP521R1(),
        "secp256k1": ec.SECP256K1(),
    }
)
_MLDSA: Mapping[int, Callable[[], Any]] = MappingProxyType(
    {
        44: mldsa.MLDSA44PrivateKey.generate,
        65: mldsa.MLDSA65PrivateKey.generate,
        87: mldsa.MLDSA87PrivateKey.generate,
    }
)
_MLKEM: Mapping[int, Callable[[], Any]] = MappingProxyType(
    {768: mlkem.MLKEM768PrivateKey.generate, 1024: mlkem.MLKEM1024PrivateKey.generate}
)


def _pkcs8(key: Any) -> bytes:
    der: bytes = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return der


_GENERATORS: Mapping[Family, Callable[[SpecInfo], bytes]] = MappingProxyType(
    {
        Family.AES: lambda info: os.urandom(info.bits // 8),
        Family.HMAC: lambda info: os.urandom(info.bits // 8),
        Family.RSA: lambda info: _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=info.bits)),
        Family.EC: lambda info: _pkcs8(ec.generate_private_key(CURVES[info.curve])),
        Family.ED25519: lambda info: _pkcs8(ed25519.Ed25519PrivateKey.generate()),
        Family.ML_DSA: lambda info: _pkcs8(_MLDSA[info.bits]()),
        Family.ML_KEM: lambda info: _pkcs8(_MLKEM[info.bits]()),
    }
)

SYMMETRIC_FAMILIES = frozenset({Family.AES, Family.HMAC})


def generate(info: SpecInfo) -> bytes:
    """Fresh material for a spec. KeyError for a family Trent cannot generate (SM2)."""
    return _GENERATORS[info.family](info)


def load_private(material: bytes) -> Any:
    """A pyca private key object from PKCS#8 DER this server generated or imported and then validated.

    RSA validation (about 40 ms a load) is skipped: the bytes were validated once when they entered, and
    they come back authenticated by the root of trust's AES-GCM tag, so they cannot have changed since.
    """
    return serialization.load_der_private_key(material, password=None, unsafe_skip_rsa_key_validation=True)


def public_key_der(private_key: Any) -> bytes:
    """DER SubjectPublicKeyInfo (RFC 5280), what GetPublicKey returns."""
    der: bytes = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der
