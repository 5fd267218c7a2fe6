"""Elliptic curves: ECDH key agreement with a validated peer key, and ECDSA.

DeriveSharedSecret is ECC CDH (NIST SP 800-56A rev 3, 5.7.1.2): the raw x-coordinate of the shared point,
what `openssl pkeyutl -derive` prints. The peer key must be DER SubjectPublicKeyInfo on the key's own
named curve with a valid point; pyca checks the point when it loads the key, and we check the curve,
because loading alone accepts a valid point on another curve (Wycheproof WrongCurve vectors). The curve must
be named, as RFC 5480 2.1.1 requires (crypto/keyinfo.py): pyca would load explicit parameters that equal a
named curve.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trent.crypto import keyinfo


class InvalidPeerKey(ValueError):
    """The peer public key is not usable for ECDH with this key; no secret may be computed."""


def load_peer_key(private_key: ec.EllipticCurvePrivateKey, peer_spki: bytes) -> ec.EllipticCurvePublicKey:
    try:
        named = keyinfo.spki_curve(peer_spki)
    except keyinfo.NotNamedCurve as exc:
        raise InvalidPeerKey("not a DER SubjectPublicKeyInfo on a named curve") from exc
    if named != private_key.curve.name:
        raise InvalidPeerKey("public key is on another curve")
    try:
        peer = serialization.load_der_public_key(peer_spki)
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise InvalidPeerKey("not a DER SubjectPublicKeyInfo on a named curve") from exc
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise InvalidPeerKey("not an elliptic-curve public key")
    if peer.curve.name != private_key.curve.name:
        raise InvalidPeerKey("public key is on another curve")
    return peer


def derive_shared_secret(private_key: ec.EllipticCurvePrivateKey, peer_spki: bytes) -> bytes:
    peer = load_peer_key(private_key, peer_spki)
    try:
        return private_key.exchange(ec.ECDH(), peer)
    except ValueError as exc:
        raise InvalidPeerKey("key agreement failed") from exc
