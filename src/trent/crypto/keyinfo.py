"""The AlgorithmIdentifier of DER-encoded keys, read before a key is loaded: elliptic-curve keys must name their
curve.

RFC 5480 2.1.1: in a SubjectPublicKeyInfo of id-ecPublicKey the parameters "MUST" be namedCurve (an OID);
implicitCurve and specifiedCurve "MUST NOT be used in PKIX". RFC 5915 3 says the same of private keys
("parameters ... MUST be namedCurve"). pyca/cryptography loads a key whose explicit parameters equal a named
curve as that curve, so the rule is checked here, on the DER itself (pyca's own ASN.1 decoder, which also
refuses trailing data and non-DER encodings).
"""

from __future__ import annotations

import typing

from cryptography.hazmat import asn1

# cryptography.x509.ObjectIdentifier is this class (tests/unit/crypto/test_keyinfo.py), imported here from where
# pyca defines it: the cryptography.x509 package costs a server ~13 ms at start and it reads no certificate.
from cryptography.hazmat._oid import ObjectIdentifier
from cryptography.hazmat.primitives.asymmetric import ec

_OID_TAG = b"\x06"
_EC_PUBLIC_KEY = ObjectIdentifier("1.2.840.10045.2.1")  # RFC 5480 2.1.1 id-ecPublicKey


class NotNamedCurve(ValueError):
    """Not a DER elliptic-curve key that names its curve (explicit or implicit parameters, or not EC at all)."""


@asn1.sequence
class _AlgorithmIdentifier:
    algorithm: ObjectIdentifier
    parameters: asn1.TLV


@asn1.sequence
class _SubjectPublicKeyInfo:
    algorithm: _AlgorithmIdentifier
    subject_public_key: asn1.BitString


@asn1.sequence
class _OneAsymmetricKey:
    """PKCS #8 PrivateKeyInfo (RFC 5208), or its version 2 (RFC 5958)."""

    version: int
    private_key_algorithm: _AlgorithmIdentifier
    private_key: bytes
    attributes: typing.Annotated[asn1.SetOf[asn1.TLV] | None, asn1.Implicit(0)]
    public_key: typing.Annotated[asn1.BitString | None, asn1.Implicit(1)]


@asn1.sequence
class _EcPrivateKey:
    """RFC 5915 ECPrivateKey, the private key inside an EC PKCS #8: its parameters, if any, must be an OID."""

    version: int
    private_key: bytes
    parameters: typing.Annotated[ObjectIdentifier | None, asn1.Explicit(0)]
    public_key: typing.Annotated[asn1.BitString | None, asn1.Explicit(1)]


def _named(oid: ObjectIdentifier) -> str:
    try:
        return ec.get_curve_for_oid(oid)().name
    except LookupError as exc:
        raise NotNamedCurve("not a curve this server knows") from exc


def _curve_of(algorithm: _AlgorithmIdentifier) -> str:
    if algorithm.algorithm != _EC_PUBLIC_KEY:
        raise NotNamedCurve("not an id-ecPublicKey key")
    if algorithm.parameters.tag_bytes != _OID_TAG:
        raise NotNamedCurve("the curve is given by explicit or implicit parameters, not by name")
    try:
        oid = algorithm.parameters.parse(ObjectIdentifier)
    except ValueError as exc:
        raise NotNamedCurve("malformed curve name") from exc
    return _named(oid)


def spki_curve(spki: bytes) -> str:
    """The curve a DER SubjectPublicKeyInfo names (pyca's name, e.g. "secp256r1"); NotNamedCurve otherwise."""
    try:
        info = asn1.decode_der(_SubjectPublicKeyInfo, spki)
    except ValueError as exc:
        raise NotNamedCurve("not a DER SubjectPublicKeyInfo") from exc
    return _curve_of(info.algorithm)


def pkcs8_algorithm(der: bytes) -> ObjectIdentifier:
    """The algorithm OID of a DER PKCS #8 private key; ValueError if it is not PKCS #8 at all (PKCS #1, SEC 1)."""
    return asn1.decode_der(_OneAsymmetricKey, der).private_key_algorithm.algorithm


def pkcs8_curve(der: bytes) -> str:
    """The curve a DER PKCS #8 elliptic-curve private key names, outside and inside; NotNamedCurve otherwise."""
    try:
        info = asn1.decode_der(_OneAsymmetricKey, der)
    except ValueError as exc:
        raise NotNamedCurve("not a DER PKCS #8 private key") from exc
    curve = _curve_of(info.private_key_algorithm)
    try:
        inner = asn1.decode_der(_EcPrivateKey, info.private_key)
    except ValueError as exc:
        raise NotNamedCurve("not an RFC 5915 ECPrivateKey with a named curve") from exc
    if inner.parameters is not None and _named(inner.parameters) != curve:
        raise NotNamedCurve("the private key names two curves")
    return curve
