"""Signing schemes as data (crypto/signatures.py): Wycheproof ECDSA P-256/SHA-256 verification, round trips
for every algorithm on the keys Trent generates, and pyca's negative checklist for sign, verify, MAC and KEM."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.unit.crypto.wycheproof import load
from trent.crypto import mac, material, mlkem
from trent.crypto.signatures import SCHEMES
from trent.kms.specs import KEY_SPECS, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm


def test_wycheproof_ecdsa_p256_sha256_verify() -> None:
    scheme = SCHEMES[SigningAlgorithm.ECDSA_SHA_256]
    outcomes = {"valid": [0, 0], "invalid": [0, 0]}
    for group, test in load("ecdsa_secp256r1_sha256_test.json"):
        public = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
        try:
            scheme.verify(public, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]), MessageType.RAW)
            accepted = True
        except InvalidSignature:
            accepted = False
        outcomes[test["result"]][0 if accepted else 1] += 1
    assert outcomes == {"valid": [174, 0], "invalid": [0, 310]}  # every valid accepted, every invalid refused


_PAIRS = [(spec, alg) for spec, info in KEY_SPECS.items() if not info.unsupported for alg in info.signing]


@pytest.fixture(scope="module")
def private_keys() -> dict[KeySpec, Any]:
    return {spec: material.load_private(material.generate(KEY_SPECS[spec])) for spec in {s for s, _ in _PAIRS}}


@pytest.mark.parametrize(("spec", "algorithm"), _PAIRS, ids=[f"{s}-{a}" for s, a in _PAIRS])
def test_round_trip_and_negative_checklist(
    private_keys: dict[KeySpec, Any], spec: KeySpec, algorithm: SigningAlgorithm
) -> None:
    scheme = SCHEMES[algorithm]
    key = private_keys[spec]
    public = key.public_key()
    message_type = MessageType.RAW if MessageType.RAW in scheme.message_types else next(iter(scheme.message_types))
    for message in (b"m", os.urandom(4096)):
        signature = scheme.sign(key, message, message_type)
        scheme.verify(public, message, signature, message_type)
        with pytest.raises(InvalidSignature):  # bit flip in the message
            scheme.verify(public, bytes([message[0] ^ 1]) + message[1:], signature, message_type)
        with pytest.raises((InvalidSignature, ValueError)):  # bit flip in the signature
            scheme.verify(public, message, signature[:-1] + bytes([signature[-1] ^ 1]), message_type)
        with pytest.raises((InvalidSignature, ValueError)):  # truncated signature
            scheme.verify(public, message, signature[:-4], message_type)
        with pytest.raises((InvalidSignature, ValueError)):  # empty signature
            scheme.verify(public, message, b"", message_type)
    other = material.load_private(material.generate(KEY_SPECS[spec])).public_key()
    with pytest.raises(InvalidSignature):  # another key
        scheme.verify(other, b"m", scheme.sign(key, b"m", message_type), message_type)


# Ed25519ph hashes a DIGEST once more, as AWS documents: see test_ed25519ph_rfc8032_vector.
_DIGESTS = [
    a
    for a, scheme in SCHEMES.items()
    if MessageType.DIGEST in scheme.message_types and a is not SigningAlgorithm.ED25519_PH_SHA_512
]


@pytest.mark.parametrize("algorithm", _DIGESTS)
def test_digest_is_signed_without_hashing_again(private_keys: dict[KeySpec, Any], algorithm: SigningAlgorithm) -> None:
    scheme = SCHEMES[algorithm]
    spec = next(s for s, a in _PAIRS if a is algorithm)
    key = private_keys[spec]
    message = b"the message"
    digest = hashlib.new({32: "sha256", 48: "sha384", 64: "sha512"}[scheme.digest_size], message).digest()
    signature = scheme.sign(key, digest, MessageType.DIGEST)
    scheme.verify(key.public_key(), message, signature, MessageType.RAW)  # same as signing the message RAW


def test_ed25519ph_rfc8032_vector() -> None:
    # RFC 8032 7.3, "TEST abc": HashEdDSA with SHA-512 and an empty context over the message "abc".
    key = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
    )
    expected = bytes.fromhex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    )
    scheme = SCHEMES[SigningAlgorithm.ED25519_PH_SHA_512]
    assert scheme.sign(key, b"abc", MessageType.DIGEST) == expected
    scheme.verify(key.public_key(), b"abc", expected, MessageType.DIGEST)
    with pytest.raises(InvalidSignature):  # pure Ed25519 over the same message is a different signature
        scheme.verify(key.public_key(), b"abc", key.sign(b"abc"), MessageType.DIGEST)


@pytest.mark.parametrize("algorithm", list(MacAlgorithm))
def test_mac_negative_checklist(algorithm: MacAlgorithm) -> None:
    key = os.urandom(64)
    for message in (b"", b"m", os.urandom(4096)):
        tag = mac.generate(key, algorithm, message)
        mac.verify(key, algorithm, message, tag)
        for bad_key, bad_message, bad_tag in (
            (os.urandom(64), message, tag),  # wrong key
            (key, message + b"x", tag),  # other message
            (key, message, tag[:-1]),  # truncated
            (key, message, bytes([tag[0] ^ 1]) + tag[1:]),  # bit flip
            (key, message, b""),  # empty
        ):
            with pytest.raises(InvalidSignature):
                mac.verify(bad_key, algorithm, bad_message, bad_tag)


@pytest.mark.parametrize("spec", [KeySpec.ML_KEM_768, KeySpec.ML_KEM_1024])
def test_mlkem_negative_checklist(spec: KeySpec) -> None:
    key = material.load_private(material.generate(KEY_SPECS[spec]))
    shared, ciphertext = mlkem.encapsulate(key.public_key())
    assert mlkem.decapsulate(key, ciphertext) == shared and len(shared) == 32
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    assert mlkem.decapsulate(key, flipped) != shared  # implicit rejection: another, unrelated secret
    other = material.load_private(material.generate(KEY_SPECS[spec]))
    assert mlkem.decapsulate(other, ciphertext) != shared
    for bad in (ciphertext[:-1], ciphertext + b"\x00", b""):
        with pytest.raises(mlkem.InvalidEncapsulation):
            mlkem.decapsulate(key, bad)
