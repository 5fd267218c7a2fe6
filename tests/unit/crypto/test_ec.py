"""crypto/ec.py: ECDH against Wycheproof, and peer keys that must be refused before any secret is computed."""

from __future__ import annotations

from collections import Counter

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from tests.unit.crypto.wycheproof import load
from trent.crypto import ec as trent_ec

CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
}

# (tests, valid, acceptable, invalid), counted independently (docs/aws-semantics.md, section D), so a loader that
# silently yields nothing, or a file swapped for another, fails instead of passing vacuously.
WYCHEPROOF_ECDH: dict[str, tuple[int, int, int, int]] = {
    "ecdh_secp256r1_test.json": (612, 330, 230, 52),
    "ecdh_secp384r1_test.json": (1047, 771, 230, 46),
    "ecdh_secp521r1_test.json": (916, 632, 228, 56),
}


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _outcome(private_key: ec.EllipticCurvePrivateKey, public: bytes, shared: bytes) -> str:
    try:
        secret = trent_ec.derive_shared_secret(private_key, public)
    except trent_ec.InvalidPeerKey:
        return "refused"
    return "secret" if secret == shared else "wrong secret"


@pytest.mark.parametrize(("name", "counts"), WYCHEPROOF_ECDH.items(), ids=list(WYCHEPROOF_ECDH))
def test_wycheproof_ecdh(name: str, counts: tuple[int, int, int, int]) -> None:
    """valid → the expected secret; invalid → InvalidPeerKey; acceptable → either. Anything else propagates."""
    total, valid, acceptable, invalid = counts
    seen: Counter[tuple[str, str]] = Counter()
    for group, test in load(name):
        private_key = ec.derive_private_key(int(test["private"], 16), CURVES[group["curve"]])
        outcome = _outcome(private_key, bytes.fromhex(test["public"]), bytes.fromhex(test["shared"]))
        seen[test["result"], outcome] += 1

    assert sum(seen.values()) == total
    assert seen["valid", "secret"] == valid, seen
    assert seen["invalid", "refused"] == invalid, seen
    assert seen["acceptable", "secret"] + seen["acceptable", "refused"] == acceptable, seen


@pytest.mark.parametrize("curve", CURVES.values(), ids=list(CURVES))
def test_shared_secret_agrees_both_ways(curve: ec.EllipticCurve) -> None:
    alice, bob = ec.generate_private_key(curve), ec.generate_private_key(curve)

    secret = trent_ec.derive_shared_secret(alice, _spki(bob.public_key()))

    assert secret == trent_ec.derive_shared_secret(bob, _spki(alice.public_key()))
    assert secret == alice.exchange(ec.ECDH(), bob.public_key())
    assert len(secret) == (curve.key_size + 7) // 8  # the raw x-coordinate (SP 800-56A 5.7.1.2)


def test_load_peer_key_returns_the_given_key() -> None:
    private_key, peer = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    loaded = trent_ec.load_peer_key(private_key, _spki(peer.public_key()))

    assert loaded.public_numbers() == peer.public_key().public_numbers()


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _p256_spki() -> bytes:
    return _spki(ec.generate_private_key(ec.SECP256R1()).public_key())


BAD_PEERS: dict[str, bytes] = {
    "P-384 (wrong curve)": _spki(ec.generate_private_key(ec.SECP384R1()).public_key()),
    "P-521 (wrong curve)": _spki(ec.generate_private_key(ec.SECP521R1()).public_key()),
    "secp256k1 (wrong curve, same size)": _spki(ec.generate_private_key(ec.SECP256K1()).public_key()),
    "RSA SPKI": _spki(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
    "Ed25519 SPKI": _spki(ed25519.Ed25519PrivateKey.generate().public_key()),
    "X25519 SPKI": _spki(x25519.X25519PrivateKey.generate().public_key()),
    "garbage": b"this is not a public key",
    "empty": b"",
    "trailing byte after the DER": _p256_spki() + b"\x00",
    "truncated DER": _p256_spki()[:-1],
    "raw uncompressed point, no SPKI": ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
    "PEM instead of DER": ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
}


@pytest.mark.parametrize("peer", BAD_PEERS.values(), ids=list(BAD_PEERS))
def test_bad_peer_key_is_refused(p256_key: ec.EllipticCurvePrivateKey, peer: bytes) -> None:
    with pytest.raises(trent_ec.InvalidPeerKey):
        trent_ec.derive_shared_secret(p256_key, peer)
    with pytest.raises(trent_ec.InvalidPeerKey):
        trent_ec.load_peer_key(p256_key, peer)
