"""crypto/symmetric.py (with ciphertext.py and context.py): SYMMETRIC_DEFAULT and pyca's negative checklist."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto import symmetric
from trent.crypto.ciphertext import MalformedBlob, unpack
from trent.crypto.context import to_aad

MATERIAL = bytes(range(32))
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
CONTEXT = to_aad({"Purpose": "Test", "Department": "10"})


def _decrypt(data: bytes, material: bytes = MATERIAL, context_aad: bytes = CONTEXT) -> bytes:
    return symmetric.decrypt(material, unpack(data), context_aad)


def _encrypt(plaintext: bytes, context_aad: bytes = CONTEXT) -> bytes:
    return symmetric.encrypt(MATERIAL, KEY_ID, 7, plaintext, context_aad)


# A v1 blob frozen when the format shipped; readers must accept it forever. Inputs: material bytes(0..31),
# key id KEY_ID, material version 7, nonce bytes(0x40..0x4f), IV bytes(0x80..0x8b), plaintext b"Hello, Trent!",
# context {"Department": "10", "Purpose": "Test"}; computed with stdlib hmac and AESGCM, not with trent.
V1_NONCE, V1_IV, V1_PLAINTEXT = bytes(range(0x40, 0x50)), bytes(range(0x80, 0x8C)), b"Hello, Trent!"
V1_BLOB = bytes.fromhex(
    "544b"  # magic "TK"
    + "01"  # format version
    + "24"  # key id length, 36
    + KEY_ID.encode().hex()
    + "00000007"  # material version
    + V1_NONCE.hex()
    + V1_IV.hex()
    + "0ee2123a4d30e7d1fc1a1c0887"  # ciphertext
    + "a7282ff679d96e11c480a9b670bf01d9"  # tag
)


def test_frozen_v1_blob_decrypts() -> None:
    blob = unpack(V1_BLOB)

    assert (blob.key_id, blob.material_version) == (KEY_ID, 7)
    assert symmetric.decrypt(MATERIAL, blob, CONTEXT) == V1_PLAINTEXT


def test_writer_emits_v1_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    randomness: Iterator[bytes] = iter([V1_NONCE, V1_IV])
    monkeypatch.setattr("trent.crypto.symmetric.os.urandom", lambda n: next(randomness))

    assert symmetric.encrypt(MATERIAL, KEY_ID, 7, V1_PLAINTEXT, CONTEXT) == V1_BLOB


def test_documented_derivation_decrypts_fresh_blobs() -> None:
    """The module docstring's formula, reimplemented with the stdlib, opens what encrypt writes."""
    plaintext = os.urandom(100)
    blob = unpack(_encrypt(plaintext))
    label = b"\x00\x00\x00\x01" + b"trent/symmetric/v1" + b"\x00" + blob.nonce + (256).to_bytes(4, "big")
    key = hmac.new(MATERIAL, label, hashlib.sha256).digest()

    assert AESGCM(key).decrypt(blob.iv, blob.body, blob.header + CONTEXT) == plaintext


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096, 65536])
def test_round_trip(size: int) -> None:
    plaintext = os.urandom(size)

    data = _encrypt(plaintext)

    assert len(data) == 4 + len(KEY_ID) + 4 + 16 + 12 + size + 16
    blob = unpack(data)
    assert (blob.key_id, blob.material_version) == (KEY_ID, 7)
    assert _decrypt(data) == plaintext


def test_round_trip_without_context() -> None:
    assert _decrypt(_encrypt(b"x", context_aad=b""), context_aad=b"") == b"x"


def test_plaintext_does_not_appear_in_the_blob() -> None:
    plaintext = b"a very recognisable plaintext!!!" * 4

    assert plaintext[:16] not in _encrypt(plaintext)


def test_two_encryptions_of_the_same_input_differ() -> None:
    first, second = unpack(_encrypt(b"same")), unpack(_encrypt(b"same"))

    assert first.nonce != second.nonce
    assert first.iv != second.iv
    assert first.body != second.body


def test_wrong_key() -> None:
    data = _encrypt(b"secret")

    with pytest.raises(InvalidTag):
        _decrypt(data, material=os.urandom(32))
    with pytest.raises(InvalidTag):
        _decrypt(data, material=MATERIAL[:-1] + bytes([MATERIAL[-1] ^ 1]))


@pytest.mark.parametrize(
    ("encrypted_with", "decrypted_with"),
    [
        ({"a": "b"}, {}),
        ({}, {"a": "b"}),
        ({"a": "b"}, {"a": "c"}),
        ({"a": "b"}, {"A": "b"}),
        ({"a": "b"}, {"a": "b", "c": "d"}),
        ({"a": "b", "c": "d"}, {"a": "b"}),
        ({"ab": "c"}, {"a": "bc"}),
    ],
)
def test_wrong_context(encrypted_with: dict[str, str], decrypted_with: dict[str, str]) -> None:
    data = _encrypt(b"secret", context_aad=to_aad(encrypted_with))

    with pytest.raises(InvalidTag):
        _decrypt(data, context_aad=to_aad(decrypted_with))


SAMPLE = _encrypt(os.urandom(32))
N = len(KEY_ID)
HEADER = 4 + N + 4 + 16 + 12
# Byte ranges of each field in SAMPLE, and what a flipped bit there may raise. A flip in magic or version makes
# the blob unreadable; in the key id length or key id it can either misparse or fail authentication; anywhere
# else, the header is AAD and the body is authenticated, so GCM must refuse it.
FIELDS: dict[str, tuple[range, tuple[type[Exception], ...]]] = {
    "magic": (range(0, 2), (MalformedBlob,)),
    "format version": (range(2, 3), (MalformedBlob,)),
    "key id length": (range(3, 4), (MalformedBlob, InvalidTag)),
    "key id": (range(4, 4 + N), (MalformedBlob, InvalidTag)),
    "material version": (range(4 + N, 8 + N), (InvalidTag,)),
    "derivation nonce": (range(8 + N, 24 + N), (InvalidTag,)),
    "IV": (range(24 + N, HEADER), (InvalidTag,)),
    "ciphertext": (range(HEADER, len(SAMPLE) - 16), (InvalidTag,)),
    "tag": (range(len(SAMPLE) - 16, len(SAMPLE)), (InvalidTag,)),
}


def test_fields_cover_the_whole_blob() -> None:
    assert [i for positions, _ in FIELDS.values() for i in positions] == list(range(len(SAMPLE)))


@pytest.mark.parametrize(("positions", "allowed"), FIELDS.values(), ids=list(FIELDS))
def test_every_bit_flip_is_refused(positions: range, allowed: tuple[type[Exception], ...]) -> None:
    for position in positions:
        for bit in range(8):
            tampered = bytearray(SAMPLE)
            tampered[position] ^= 1 << bit
            with pytest.raises(allowed):
                _decrypt(bytes(tampered))


def test_every_truncation_is_refused() -> None:
    for length in range(len(SAMPLE)):
        # Shorter than header + tag cannot even be parsed; longer parses but fails authentication.
        with pytest.raises(MalformedBlob if length < HEADER + 16 else InvalidTag):
            _decrypt(SAMPLE[:length])


def test_appended_bytes_are_refused() -> None:
    with pytest.raises(InvalidTag):
        _decrypt(SAMPLE + b"\x00")


@pytest.mark.parametrize(
    "change",
    [
        {"key_id": "1234abcd-12ab-34cd-56ef-1234567890ac"},
        {"key_id": "alias/other"},
        {"material_version": 6},
        {"material_version": 8},
        {"nonce": bytes(16)},
        {"iv": bytes(12)},
    ],
    ids=["other key id", "shorter key id", "material version - 1", "material version + 1", "nonce", "iv"],
)
def test_header_is_bound(change: dict[str, object]) -> None:
    """A blob re-packed with another key id or material version is well formed, but must not decrypt."""
    repacked = dataclasses.replace(unpack(SAMPLE), **change).pack()  # type: ignore[arg-type]

    with pytest.raises(InvalidTag):
        _decrypt(repacked)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_material_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError):
        symmetric.encrypt(bytes(size), KEY_ID, 1, b"x", b"")


def test_generate_key() -> None:
    first, second = symmetric.generate_key(), symmetric.generate_key()

    assert len(first) == len(second) == 32
    assert first != second
