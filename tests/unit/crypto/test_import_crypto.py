"""crypto/keyinfo.py, crypto/wrapping.py and crypto/imported.py: named curves only (RFC 5480, RFC 5915), both
wrapping families against a wrapper written with pyca alone, one indistinguishable failure, and what each key
spec accepts as imported material."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.importing import ALGORITHMS, pkcs8, spki, wrap
from trent.crypto import imported, keyinfo, wrapping
from trent.crypto.ec import InvalidPeerKey, load_peer_key
from trent.kms.specs import KEY_SPECS, KeySpec, WrappingAlgorithm, WrappingKeySpec

VECTORS = Path(__file__).parents[2] / "vectors" / "wycheproof"


def _explicit(tmp_path: Path, key: ec.EllipticCurvePrivateKey, *args: str) -> bytes:
    pem = tmp_path / "k.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    command = ["openssl", "ec", "-in", str(pem), "-param_enc", "explicit", "-outform", "DER", *args]
    return subprocess.run(command, capture_output=True, check=True).stdout


def test_named_curves_pass_and_explicit_parameters_do_not(tmp_path: Path) -> None:
    for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1()):
        key = ec.generate_private_key(curve)
        assert keyinfo.spki_curve(spki(key)) == curve.name
        assert keyinfo.pkcs8_curve(pkcs8(key)) == curve.name
    key = ec.generate_private_key(ec.SECP256R1())
    explicit = _explicit(tmp_path, key, "-pubout")
    assert serialization.load_der_public_key(explicit).public_numbers() == key.public_key().public_numbers()  # pyca
    with pytest.raises(keyinfo.NotNamedCurve):
        keyinfo.spki_curve(explicit)
    with pytest.raises(InvalidPeerKey):
        load_peer_key(key, explicit)
    explicit_pkcs8 = subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER"],
        input=_explicit(tmp_path, key),
        capture_output=True,
        check=True,
    ).stdout
    with pytest.raises(keyinfo.NotNamedCurve):
        keyinfo.pkcs8_curve(explicit_pkcs8)
    for other in (spki(ed25519.Ed25519PrivateKey.generate()), spki(rsa.generate_private_key(65537, 2048)), b"junk"):
        with pytest.raises(keyinfo.NotNamedCurve):
            keyinfo.spki_curve(other)
    with pytest.raises(keyinfo.NotNamedCurve):
        keyinfo.spki_curve(spki(key) + b"\x00")  # trailing data


def test_wycheproof_unnamed_curves_are_refused_before_any_computation() -> None:
    document = json.loads((VECTORS / "ecdh_secp256r1_test.json").read_text())
    unnamed = [t for g in document["testGroups"] for t in g["tests"] if "UnnamedCurve" in t["flags"]]
    assert len(unnamed) == 14
    peer = ec.generate_private_key(ec.SECP256R1())
    for test in unnamed:
        with pytest.raises(InvalidPeerKey):
            load_peer_key(peer, bytes.fromhex(test["public"]))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("spec", [WrappingKeySpec.RSA_2048, WrappingKeySpec.RSA_3072])
def test_unwrap_reads_what_a_pyca_client_wrapped(algorithm: str, spec: WrappingKeySpec) -> None:
    private = wrapping.generate_wrapping_key(spec)
    public = spki(private)
    for material in (os.urandom(32), os.urandom(1), pkcs8(ec.generate_private_key(ec.SECP384R1()))):
        assert wrapping.unwrap(private, WrappingAlgorithm(algorithm), wrap(public, algorithm, material)) == material


def test_every_unwrap_failure_is_one_error() -> None:
    private = wrapping.generate_wrapping_key(WrappingKeySpec.RSA_2048)
    other = spki(wrapping.generate_wrapping_key(WrappingKeySpec.RSA_2048))
    material = os.urandom(32)
    hybrid = wrap(spki(private), "RSA_AES_KEY_WRAP_SHA_256", material)
    bad = {
        WrappingAlgorithm.RSAES_OAEP_SHA_256: [
            b"",
            os.urandom(256),
            wrap(spki(private), "RSAES_OAEP_SHA_1", material),
            wrap(other, "RSAES_OAEP_SHA_256", material),
            hybrid,
        ],
        WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256: [
            hybrid[:256],
            hybrid[:-1],
            hybrid[:256] + os.urandom(40),
            wrap(spki(private), "RSA_AES_KEY_WRAP_SHA_1", material),
            wrap(spki(private), "RSAES_OAEP_SHA_256", material) + os.urandom(40),
        ],
    }
    messages = set()
    for algorithm, blobs in bad.items():
        for blob in blobs:
            with pytest.raises(wrapping.UnwrapFailed) as exc:
                wrapping.unwrap(private, algorithm, blob)
            messages.add(str(exc.value))
    assert len(messages) == 1


def test_oaep_limits_are_rfc_8017s() -> None:
    limits = {(s, a): wrapping.max_direct_bytes(s, a) for s in wrapping.WRAPPING_KEY_BITS for a in wrapping.HASHES}
    assert limits[(WrappingKeySpec.RSA_2048, WrappingAlgorithm.RSAES_OAEP_SHA_256)] == 190
    assert limits[(WrappingKeySpec.RSA_2048, WrappingAlgorithm.RSAES_OAEP_SHA_1)] == 214
    assert limits[(WrappingKeySpec.RSA_4096, WrappingAlgorithm.RSAES_OAEP_SHA_256)] == 446
    # AWS's documented exception: P-521 material does not fit RSA_2048 under OAEP; P-384 does.
    assert imported.largest(KEY_SPECS[KeySpec.ECC_NIST_P521]) > 214
    assert imported.largest(KEY_SPECS[KeySpec.ECC_NIST_P384]) <= 190


def test_symmetric_and_hmac_material_lengths() -> None:
    aes = KEY_SPECS[KeySpec.SYMMETRIC_DEFAULT]
    assert imported.canonical(aes, b"k" * 32) == b"k" * 32
    for wrong in (b"k" * 16, b"k" * 31, b"k" * 33):
        with pytest.raises(imported.InvalidMaterial):
            imported.canonical(aes, wrong)
    for spec, (shortest, longest) in (
        (KeySpec.HMAC_224, (28, 64)),
        (KeySpec.HMAC_256, (32, 64)),
        (KeySpec.HMAC_384, (48, 128)),
        (KeySpec.HMAC_512, (64, 128)),
    ):
        info = KEY_SPECS[spec]
        for length in (shortest, longest):
            assert imported.canonical(info, b"h" * length) == b"h" * length
        for length in (shortest - 1, longest + 1):
            with pytest.raises(imported.InvalidMaterial):
                imported.canonical(info, b"h" * length)


def test_private_keys_are_checked_and_kept_in_one_encoding() -> None:
    p256 = KEY_SPECS[KeySpec.ECC_NIST_P256]
    key = ec.generate_private_key(ec.SECP256R1())
    without_public = ec.derive_private_key(key.private_numbers().private_value, ec.SECP256R1())
    assert imported.canonical(p256, pkcs8(key)) == imported.canonical(p256, pkcs8(without_public)) == pkcs8(key)
    for wrong in (
        pkcs8(ec.generate_private_key(ec.SECP384R1())),
        pkcs8(rsa.generate_private_key(65537, 2048)),
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        os.urandom(138),
    ):
        with pytest.raises(imported.InvalidMaterial):
            imported.canonical(p256, wrong)
    rsa_2048 = KEY_SPECS[KeySpec.RSA_2048]
    private = rsa.generate_private_key(65537, 2048)
    assert imported.canonical(rsa_2048, pkcs8(private)) == pkcs8(private)
    for wrong in (
        pkcs8(rsa.generate_private_key(65537, 3072)),
        private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        pkcs8(key),
    ):
        with pytest.raises(imported.InvalidMaterial):
            imported.canonical(rsa_2048, wrong)


def test_material_ids_depend_on_the_key_and_the_material() -> None:
    material = os.urandom(32)
    a = imported.material_id("key-a", material)
    assert a == imported.material_id("key-a", material) and len(a) == 64 and a == a.lower()
    assert a != imported.material_id("key-b", material) and a != imported.material_id("key-a", os.urandom(32))
