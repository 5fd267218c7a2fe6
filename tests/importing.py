"""The client side of importing key material, written from AWS's instructions with pyca alone (none of Trent's
code): wrap material under GetParametersForImport's public key, as the developer guide's "Encrypt the key
material" step does with OpenSSL, and PKCS #8 private keys to import."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1,
    "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256,
}
ALGORITHMS = tuple(OAEP_HASHES)
WRAPPING_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(),
    "ECC_NIST_P384": ec.SECP384R1(),
    "ECC_NIST_P521": ec.SECP521R1(),
    "ECC_SECG_P256K1": ec.SECP256K1(),
}


def oaep(algorithm: str) -> padding.OAEP:
    h = OAEP_HASHES[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """RSAES_OAEP_*: the material under RSA-OAEP. RSA_AES_KEY_WRAP_*: a fresh AES-256 key under RSA-OAEP, then the
    material under that key with AES key wrap with padding (RFC 5649), concatenated (CKM_RSA_AES_KEY_WRAP)."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep(algorithm))
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, oaep(algorithm)) + aes_key_wrap_with_padding(aes_key, material)


def pkcs8(private_key: Any) -> bytes:
    der: bytes = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return der


def spki(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    der: bytes = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def import_material(
    kms: Any,
    key_id: str,
    material: bytes,
    algorithm: str = "RSAES_OAEP_SHA_256",
    wrapping_spec: str = "RSA_2048",
    **extra: Any,
) -> Any:
    """GetParametersForImport, wrap, ImportKeyMaterial (does not expire unless `extra` says otherwise)."""
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec)
    extra.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
        **extra,
    )
