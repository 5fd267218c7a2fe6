"""crypto/material.py: fresh material for every supported KeySpec, and PKCS#8 / SPKI round trips."""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa

from trent.crypto import material
from trent.kms.specs import KEY_SPECS, KeySpec

SUPPORTED = [spec for spec, info in KEY_SPECS.items() if not info.unsupported]
UNSUPPORTED = [spec for spec, info in KEY_SPECS.items() if info.unsupported]
SYMMETRIC = [spec for spec in SUPPORTED if KEY_SPECS[spec].family in material.SYMMETRIC_FAMILIES]
ASYMMETRIC = [spec for spec in SUPPORTED if spec not in SYMMETRIC]

# Raw key lengths in bytes (AWS key spec reference: a 256-bit AES key; HMAC keys as long as the spec's digest).
SYMMETRIC_SIZES: dict[KeySpec, int] = {
    KeySpec.SYMMETRIC_DEFAULT: 32,
    KeySpec.HMAC_224: 28,
    KeySpec.HMAC_256: 32,
    KeySpec.HMAC_384: 48,
    KeySpec.HMAC_512: 64,
}


def _describe(key: Any) -> tuple[str, object]:
    """What kind of private key this is, independent of how material.py dispatches."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa", (key.key_size, key.private_numbers().public_numbers.e)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ec", key.curve.name
    kinds = {
        ed25519.Ed25519PrivateKey: "ed25519",
        mldsa.MLDSA44PrivateKey: "ml-dsa-44",
        mldsa.MLDSA65PrivateKey: "ml-dsa-65",
        mldsa.MLDSA87PrivateKey: "ml-dsa-87",
        mlkem.MLKEM768PrivateKey: "ml-kem-768",
        mlkem.MLKEM1024PrivateKey: "ml-kem-1024",
    }
    return next(name for cls, name in kinds.items() if isinstance(key, cls)), None


ASYMMETRIC_KINDS: dict[KeySpec, tuple[str, object]] = {
    KeySpec.RSA_2048: ("rsa", (2048, 65537)),
    KeySpec.RSA_3072: ("rsa", (3072, 65537)),
    KeySpec.RSA_4096: ("rsa", (4096, 65537)),
    KeySpec.ECC_NIST_P256: ("ec", "secp256r1"),
    KeySpec.ECC_NIST_P384: ("ec", "secp384r1"),
    KeySpec.ECC_NIST_P521: ("ec", "secp521r1"),
    KeySpec.ECC_SECG_P256K1: ("ec", "secp256k1"),
    KeySpec.ECC_NIST_EDWARDS25519: ("ed25519", None),
    KeySpec.ML_DSA_44: ("ml-dsa-44", None),
    KeySpec.ML_DSA_65: ("ml-dsa-65", None),
    KeySpec.ML_DSA_87: ("ml-dsa-87", None),
    KeySpec.ML_KEM_768: ("ml-kem-768", None),
    KeySpec.ML_KEM_1024: ("ml-kem-1024", None),
}


@functools.cache
def _generated(spec: KeySpec) -> bytes:
    """One generation per spec for the whole module (RSA-4096 keygen is slow)."""
    return material.generate(KEY_SPECS[spec])


def test_tables_cover_every_supported_spec() -> None:
    """A new KeySpec must be added to one of the expectation tables, not silently skipped."""
    assert set(SYMMETRIC_SIZES) == set(SYMMETRIC)
    assert set(ASYMMETRIC_KINDS) == set(ASYMMETRIC)


@pytest.mark.parametrize("spec", SYMMETRIC)
def test_symmetric_material_size(spec: KeySpec) -> None:
    first, second = _generated(spec), material.generate(KEY_SPECS[spec])

    assert len(first) == len(second) == SYMMETRIC_SIZES[spec]
    assert first != second


@pytest.mark.parametrize("spec", ASYMMETRIC)
def test_asymmetric_material_loads_as_the_right_key(spec: KeySpec) -> None:
    assert _describe(material.load_private(_generated(spec))) == ASYMMETRIC_KINDS[spec]


@pytest.mark.parametrize("spec", ASYMMETRIC)
def test_private_key_pkcs8_round_trip(spec: KeySpec) -> None:
    der = _generated(spec)
    key = material.load_private(der)

    reencoded = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert reencoded == der


def _check_pair(private_key: Any, public_key: Any) -> None:
    """Use the public key against the private one, so a public key of another key pair fails."""
    message = os.urandom(32)
    if isinstance(private_key, rsa.RSAPrivateKey):
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        assert private_key.decrypt(public_key.encrypt(message, oaep), oaep) == message
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        public_key.verify(private_key.sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(private_key, mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey):
        shared_secret, ciphertext = public_key.encapsulate()
        assert private_key.decapsulate(ciphertext) == shared_secret
    else:  # Ed25519, ML-DSA
        public_key.verify(private_key.sign(message), message)


@pytest.mark.parametrize("spec", ASYMMETRIC)
def test_public_key_der_is_the_spki_of_the_same_key_pair(spec: KeySpec) -> None:
    key = material.load_private(_generated(spec))

    der = material.public_key_der(key)

    public_key = serialization.load_der_public_key(der)
    assert public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == der
    _check_pair(key, public_key)


def test_asymmetric_generation_is_fresh() -> None:
    info = KEY_SPECS[KeySpec.ECC_NIST_P256]

    assert material.generate(info) != material.generate(info)


@pytest.mark.parametrize("spec", UNSUPPORTED)
def test_unsupported_spec_cannot_be_generated(spec: KeySpec) -> None:
    with pytest.raises(KeyError):
        material.generate(KEY_SPECS[spec])


@pytest.mark.parametrize(
    "data", [b"", b"garbage", _generated(KeySpec.SYMMETRIC_DEFAULT)], ids=["empty", "garbage", "aes"]
)
def test_load_private_rejects_non_pkcs8(data: bytes) -> None:
    with pytest.raises(ValueError):
        material.load_private(data)
