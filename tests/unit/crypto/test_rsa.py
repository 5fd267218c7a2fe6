"""crypto/rsa.py: RSAES-OAEP against Wycheproof (empty label, as KMS uses), one failure class, size limits."""

from __future__ import annotations

import functools
import os
import traceback

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.crypto.wycheproof import load
from trent.crypto import rsa as trent_rsa
from trent.kms.specs import EncryptionAlgorithm

SHA_1, SHA_256 = EncryptionAlgorithm.RSAES_OAEP_SHA_1, EncryptionAlgorithm.RSAES_OAEP_SHA_256
OTHER = {SHA_1: SHA_256, SHA_256: SHA_1}

WYCHEPROOF_OAEP = {
    "rsa_oaep_2048_sha1_mgf1sha1_test.json": SHA_1,
    "rsa_oaep_2048_sha256_mgf1sha256_test.json": SHA_256,
}
# Empty-label vectors per file (docs/aws-semantics.md, section D): 10 valid, 19 invalid (13 bad padding, 6 bad length).
EMPTY_LABEL_VALID, EMPTY_LABEL_INVALID = 10, 19


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    return {bits: rsa.generate_private_key(public_exponent=65537, key_size=bits) for bits in (2048, 3072, 4096)}


@functools.cache
def _private_key(pkcs8_hex: str) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(bytes.fromhex(pkcs8_hex), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _rendering(exc: BaseException) -> tuple[type[BaseException], str, tuple[object, ...], bool]:
    """Everything a caller, a log line or a traceback shows of a failure."""
    return type(exc), "".join(traceback.format_exception_only(exc)), exc.args, exc.__cause__ is None


@pytest.mark.parametrize(("name", "algorithm"), WYCHEPROOF_OAEP.items(), ids=list(WYCHEPROOF_OAEP))
def test_wycheproof_oaep(name: str, algorithm: EncryptionAlgorithm, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    valid = invalid = 0
    failures: set[tuple[type[BaseException], str, tuple[object, ...], bool]] = set()
    for group, test in load(name):
        if test["label"]:
            continue  # KMS's OAEP label is always empty
        key = _private_key(group["privateKeyPkcs8"])
        ciphertext = bytes.fromhex(test["ct"])
        if test["result"] == "valid":
            valid += 1
            assert trent_rsa.decrypt(key, algorithm, ciphertext) == bytes.fromhex(test["msg"]), test["tcId"]
            # The same ciphertext under the other hash, or under another key, is just another padding failure.
            for wrong_key, wrong_algorithm in ((key, OTHER[algorithm]), (rsa_keys[2048], algorithm)):
                with pytest.raises(trent_rsa.DecryptionFailed) as info:
                    trent_rsa.decrypt(wrong_key, wrong_algorithm, ciphertext)
                failures.add(_rendering(info.value))
        else:
            assert test["result"] == "invalid"
            invalid += 1
            with pytest.raises(trent_rsa.DecryptionFailed) as info:
                trent_rsa.decrypt(key, algorithm, ciphertext)
            failures.add(_rendering(info.value))

    assert (valid, invalid) == (EMPTY_LABEL_VALID, EMPTY_LABEL_INVALID)
    # Manger's attack needs two distinguishable failures; there must be exactly one rendering, with no cause.
    assert failures == {(trent_rsa.DecryptionFailed, "trent.crypto.rsa.DecryptionFailed\n", (), True)}


MAX_PLAINTEXT = [
    (2048, SHA_1, 214),
    (3072, SHA_1, 342),
    (4096, SHA_1, 470),
    (2048, SHA_256, 190),
    (3072, SHA_256, 318),
    (4096, SHA_256, 446),
]


@pytest.mark.parametrize(("bits", "algorithm", "expected"), MAX_PLAINTEXT)
def test_max_plaintext(bits: int, algorithm: EncryptionAlgorithm, expected: int) -> None:
    assert trent_rsa.max_plaintext(bits, algorithm) == expected


@pytest.mark.parametrize(("bits", "algorithm", "size"), MAX_PLAINTEXT)
def test_round_trip_at_max_size(
    bits: int, algorithm: EncryptionAlgorithm, size: int, rsa_keys: dict[int, rsa.RSAPrivateKey]
) -> None:
    key = rsa_keys[bits]
    plaintext = os.urandom(size)

    ciphertext = trent_rsa.encrypt(key.public_key(), algorithm, plaintext)

    assert len(ciphertext) == bits // 8
    assert trent_rsa.decrypt(key, algorithm, ciphertext) == plaintext
    with pytest.raises(ValueError):  # one byte more does not fit: the limit is exact
        trent_rsa.encrypt(key.public_key(), algorithm, plaintext + b"\x00")


@pytest.mark.parametrize("algorithm", [SHA_1, SHA_256])
def test_encryption_is_randomized(algorithm: EncryptionAlgorithm, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    public_key = rsa_keys[2048].public_key()

    assert trent_rsa.encrypt(public_key, algorithm, b"same") != trent_rsa.encrypt(public_key, algorithm, b"same")


@pytest.mark.parametrize("algorithm", [SHA_1, SHA_256])
def test_empty_plaintext_round_trips(algorithm: EncryptionAlgorithm, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    key = rsa_keys[2048]

    assert trent_rsa.decrypt(key, algorithm, trent_rsa.encrypt(key.public_key(), algorithm, b"")) == b""
