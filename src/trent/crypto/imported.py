"""Imported key material: what a key spec accepts, the form Trent keeps it in, and its KeyMaterialId.

AWS KMS Developer Guide, "Requirements for imported key material": a symmetric encryption key takes 256 bits
of binary data; an HMAC key a binary key from the length of its hash's output to its hash's block size
(HMAC_224 and HMAC_256: 28 or 32 to 64 bytes; HMAC_384 and HMAC_512: 48 or 64 to 128 bytes); an asymmetric key
its private key, DER-encoded PKCS #8 (RFC 5208), of the key spec's size or curve. An elliptic-curve key must
name its curve (RFC 5915 3, crypto/keyinfo.py).

Trent keeps what generated material it keeps (crypto/material.py): the raw bytes of AES and HMAC keys; a
private key re-encoded as PKCS #8 by pyca, so one key always has one encoding, whatever encoding came in:
a re-import of the same key is recognised, and the stored form is the one every load expects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping
from functools import cache
from types import MappingProxyType

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trent.crypto import keyinfo
from trent.crypto.material import CURVES
from trent.kms.specs import Family, SpecInfo

_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"  # RFC 8017 A.1 rsaEncryption
# (hash output, hash block size) in bytes: the shortest and longest HMAC key AWS imports for each key spec.
HMAC_KEY_BYTES: Mapping[int, tuple[int, int]] = MappingProxyType(
    {224: (28, 64), 256: (32, 64), 384: (48, 128), 512: (64, 128)}
)


class InvalidMaterial(ValueError):
    """The material does not fit the key spec. The message names what is wrong, never the material."""


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _aes(info: SpecInfo, material: bytes) -> bytes:
    if len(material) != info.bits // 8:
        raise InvalidMaterial(f"symmetric key material must be {info.bits // 8} bytes")
    return material


def _hmac(info: SpecInfo, material: bytes) -> bytes:
    shortest, longest = HMAC_KEY_BYTES[info.bits]
    if not shortest <= len(material) <= longest:
        raise InvalidMaterial(f"HMAC_{info.bits} key material must be {shortest} to {longest} bytes")
    return material


def _load(material: bytes) -> object:
    try:
        return serialization.load_der_private_key(material, password=None)  # RSA keys are checked here, once
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidMaterial("the key material is not a DER private key of a supported kind") from exc


def _rsa(info: SpecInfo, material: bytes) -> bytes:
    try:
        algorithm = keyinfo.pkcs8_algorithm(material)
    except ValueError as exc:
        raise InvalidMaterial("RSA key material must be a DER PKCS #8 private key") from exc
    if algorithm.dotted_string != _RSA_ENCRYPTION:
        raise InvalidMaterial("the key material is not an RSA private key")
    key = _load(material)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidMaterial("the key material is not an RSA private key")
    if key.key_size != info.bits:
        raise InvalidMaterial(f"the key material is a {key.key_size}-bit RSA key, not {info.bits}-bit")
    return _pkcs8(key)


def _ec(info: SpecInfo, material: bytes) -> bytes:
    try:
        curve = keyinfo.pkcs8_curve(material)
    except keyinfo.NotNamedCurve as exc:
        raise InvalidMaterial("ECC key material must be a DER PKCS #8 private key on a named curve") from exc
    if curve != info.curve:
        raise InvalidMaterial(f"the key material is on {curve}, not {info.curve}")
    key = _load(material)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != info.curve:
        raise InvalidMaterial(f"the key material is not a private key on {info.curve}")
    # Rebuilt from the private value alone: a public key stored beside it is not trusted to match it.
    try:
        rebuilt = ec.derive_private_key(key.private_numbers().private_value, CURVES[info.curve])
    except ValueError as exc:
        raise InvalidMaterial("the private value is out of range for the curve") from exc
    return _pkcs8(rebuilt)


_CANONICAL: Mapping[Family, Callable[[SpecInfo, bytes], bytes]] = MappingProxyType(
    {Family.AES: _aes, Family.HMAC: _hmac, Family.RSA: _rsa, Family.EC: _ec}
)


def canonical(info: SpecInfo, material: bytes) -> bytes:
    """The material as Trent keeps it, if it fits the key spec; InvalidMaterial if not."""
    return _CANONICAL[info.family](info, material)


def from_text(info: SpecInfo, text: str) -> bytes:
    """Material written as text (a seed file, docs/seeds.md), as Trent keeps it: base64 of the raw bytes of an
    AES or HMAC key; for an RSA or ECC key a PEM private key (RFC 7468: PKCS #8 "PRIVATE KEY", or the
    traditional "RSA PRIVATE KEY" / "EC PRIVATE KEY", unencrypted) or base64 of its DER PKCS #8."""
    if info.family not in _CANONICAL:
        raise InvalidMaterial("key material can be given only for symmetric, HMAC, RSA and ECC keys")
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        if info.family in (Family.AES, Family.HMAC):
            raise InvalidMaterial("symmetric and HMAC key material is base64 of its bytes, not PEM")
        try:
            key = serialization.load_pem_private_key(stripped.encode(), password=None)
        except TypeError as exc:
            raise InvalidMaterial("the PEM private key is encrypted; give it unencrypted") from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidMaterial("the PEM text is not a private key of a supported kind") from exc
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise InvalidMaterial("the PEM private key is neither an RSA nor an ECC key")
        return canonical(info, _pkcs8(key))
    try:
        raw = base64.b64decode("".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMaterial("the key material is not base64 (nor PEM)") from None
    return canonical(info, raw)


def material_id(key_id: str, stored: bytes) -> str:
    """The KeyMaterialId of imported material: "KMS assigns a unique identifier to the key material based on the
    KMS key ID and the imported key material" (KMS API, ImportKeyMaterial). A SHA-256 over both, domain
    separated: of key material (high-entropy by nature) it reveals nothing usable (decision 0012)."""
    digest = hashlib.sha256(b"trent:imported-key-material-id:v1\x00" + key_id.encode() + b"\x00" + stored)
    return digest.hexdigest()


@cache
def largest(info: SpecInfo) -> int:
    """The longest material of a key spec, as it is wrapped: what decides whether RSAES-OAEP can carry it.
    For an EC key, the PKCS #8 pyca writes (with the public key), measured once on a fresh key."""
    if info.family is Family.AES:
        return info.bits // 8
    if info.family is Family.HMAC:
        return HMAC_KEY_BYTES[info.bits][1]
    if info.family is Family.EC:
        return len(_pkcs8(ec.generate_private_key(CURVES[info.curve])))
    raise ValueError(f"no single size for {info.family.value} material")
