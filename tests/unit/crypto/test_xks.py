"""crypto/xks.py: the XKS proxy's AES-256-GCM, its AAD framing, metadata and integrity value."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import replace

import pytest

from trent.crypto import xks

MATERIAL = os.urandom(32)


def test_a_round_trip_with_the_specifications_sizes() -> None:
    sealed = xks.seal(MATERIAL, 7, b"Hello World!", b"project=nile")
    assert len(sealed.initialization_vector) == 12 and len(sealed.authentication_tag) == 16
    assert len(sealed.ciphertext) == 12 and len(sealed.ciphertext_metadata) <= 20
    assert xks.material_version(sealed.ciphertext_metadata) == 7
    assert xks.open_sealed(MATERIAL, sealed, b"project=nile") == b"Hello World!"


def test_each_message_has_its_own_key_and_iv() -> None:
    one, two = xks.seal(MATERIAL, 1, b"same", b""), xks.seal(MATERIAL, 1, b"same", b"")
    assert one.ciphertext_metadata != two.ciphertext_metadata and one.initialization_vector != two.initialization_vector


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: replace(s, ciphertext=bytes([s.ciphertext[0] ^ 1]) + s.ciphertext[1:]),
        lambda s: replace(s, authentication_tag=bytes(16)),
        lambda s: replace(s, initialization_vector=bytes(12)),
        lambda s: replace(s, ciphertext_metadata=s.ciphertext_metadata[:-1] + b"\x00"),
        lambda s: replace(s, ciphertext_metadata=s.ciphertext_metadata[:5] + bytes(12)),
        lambda s: replace(s, ciphertext_metadata=b""),
        lambda s: replace(s, ciphertext_metadata=b"\x02" + s.ciphertext_metadata[1:]),
        lambda s: replace(s, authentication_tag=s.authentication_tag[:15]),
    ],
)
def test_any_change_fails(tamper: object) -> None:
    sealed = xks.seal(MATERIAL, 1, b"secret", b"aad")
    with pytest.raises(xks.XksDecryptError):
        xks.open_sealed(MATERIAL, tamper(sealed), b"aad")  # type: ignore[operator]


@pytest.mark.parametrize("aad", [b"", b"aad!", b"other"])
def test_the_aad_must_be_the_same(aad: bytes) -> None:
    sealed = xks.seal(MATERIAL, 1, b"secret", b"aad")
    with pytest.raises(xks.XksDecryptError):
        xks.open_sealed(MATERIAL, sealed, aad)
    with pytest.raises(xks.XksDecryptError):
        xks.open_sealed(os.urandom(32), sealed, b"aad")


def test_the_aad_framing_includes_both_lengths() -> None:
    # The specification's example of why: no AAD and some metadata must differ from that metadata as AAD.
    assert xks.aad_input(b"", b"meta") != xks.aad_input(b"meta", b"")
    assert xks.aad_input(b"ab", b"c") == struct.pack(">H", 2) + b"ab" + b"\x01c"
    with pytest.raises(ValueError):
        xks.aad_input(bytes(65536), b"")


def test_the_integrity_value_is_appendix_cs_example() -> None:
    # aws/aws-kms-xksproxy-api-spec, Appendix C: the Encrypt response example and its CDIV.
    sealed = xks.Sealed(
        base64.b64decode("HMrlRw85cAJUd5Ax"),
        base64.b64decode("ghxkK1txeDNn3q8Y"),
        base64.b64decode("vBxN2ncH1oEkR8WVXpmyYQ=="),
        base64.b64decode("a2V5X3ZlcnNpb249MQ=="),
    )
    value = xks.integrity_value(b"project=nile,department=marketing", sealed)
    assert base64.b64encode(value) == b"qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="
    assert (
        value
        == hashlib.sha256(
            b"project=nile,department=marketing"
            + b"key_version=1"
            + sealed.initialization_vector
            + sealed.ciphertext
            + sealed.authentication_tag
        ).digest()
    )
