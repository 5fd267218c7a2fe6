"""Imported keys computed independently: what Trent does with a key it was given must be what pyca does with the
same key here. HMAC against Python's hmac, signatures verified locally, RSA-OAEP ciphertexts made locally and
decrypted by Trent, ECDH against local ECDH; and public keys that describe their curve by explicit parameters,
which RFC 5480 forbids, are refused wherever a key is accepted."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tests.importing import CURVES, OAEP_HASHES, import_material, pkcs8, spki
from tests.support import error_of

HMAC_SPECS = {
    "HMAC_224": hashlib.sha224,
    "HMAC_256": hashlib.sha256,
    "HMAC_384": hashlib.sha384,
    "HMAC_512": hashlib.sha512,
}
ECDSA = {
    "ECC_NIST_P256": ("ECDSA_SHA_256", hashes.SHA256()),
    "ECC_NIST_P384": ("ECDSA_SHA_384", hashes.SHA384()),
    "ECC_NIST_P521": ("ECDSA_SHA_512", hashes.SHA512()),
    "ECC_SECG_P256K1": ("ECDSA_SHA_256", hashes.SHA256()),
}


def _external(kms: Any, spec: str, usage: str) -> str:
    key_id: str = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    return key_id


@pytest.mark.parametrize("spec", sorted(HMAC_SPECS))
def test_generate_mac_with_an_imported_key_is_python_hmac(kms: Any, spec: str) -> None:
    digest = HMAC_SPECS[spec]
    shortest, longest = digest().digest_size, digest().block_size  # the lengths AWS accepts for imported HMAC keys
    message = os.urandom(100)
    algorithm = "HMAC_SHA_" + spec.split("_")[1]
    for length in (shortest, longest):
        key_id = _external(kms, spec, "GENERATE_VERIFY_MAC")
        secret = os.urandom(length)
        import_material(kms, key_id, secret, "RSAES_OAEP_SHA_1")
        mac = kms.generate_mac(KeyId=key_id, MacAlgorithm=algorithm, Message=message)["Mac"]
        assert mac == hmac.new(secret, message, digest).digest()
        assert kms.verify_mac(KeyId=key_id, MacAlgorithm=algorithm, Message=message, Mac=mac)["MacValid"] is True


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_signatures_of_an_imported_rsa_key_verify_locally(kms: Any, bits: int) -> None:
    private = rsa.generate_private_key(65537, bits)
    key_id = _external(kms, f"RSA_{bits}", "SIGN_VERIFY")
    import_material(kms, key_id, pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)
    message = os.urandom(64)
    for algorithm, pad, h in (
        ("RSASSA_PSS_SHA_256", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()),
        ("RSASSA_PSS_SHA_512", padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512()),
        ("RSASSA_PKCS1_V1_5_SHA_384", padding.PKCS1v15(), hashes.SHA384()),
    ):
        signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
        private.public_key().verify(signature, message, pad, h)  # raises InvalidSignature if Trent used another key


def test_ciphertexts_made_locally_for_an_imported_rsa_key_decrypt(kms: Any) -> None:
    private = rsa.generate_private_key(65537, 2048)
    key_id = _external(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    import_material(kms, key_id, pkcs8(private), "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        h = OAEP_HASHES[algorithm]()
        blob = private.public_key().encrypt(b"offline", padding.OAEP(padding.MGF1(h), h, None))
        out = kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=algorithm)
        assert out["Plaintext"] == b"offline"
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"online", EncryptionAlgorithm=algorithm)["CiphertextBlob"]
        assert private.decrypt(blob, padding.OAEP(padding.MGF1(h), h, None)) == b"online"


@pytest.mark.parametrize("spec", sorted(ECDSA))
def test_signatures_of_an_imported_ecc_key_verify_locally(kms: Any, spec: str) -> None:
    algorithm, h = ECDSA[spec]
    private = ec.generate_private_key(CURVES[spec])
    key_id = _external(kms, spec, "SIGN_VERIFY")
    import_material(kms, key_id, pkcs8(private), "RSAES_OAEP_SHA_256", "RSA_3072")
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)
    message = os.urandom(70)
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    private.public_key().verify(signature, message, ec.ECDSA(h))
    digest = hashes.Hash(h)
    digest.update(message)
    prehashed = digest.finalize()
    signature = kms.sign(KeyId=key_id, Message=prehashed, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
    private.public_key().verify(signature, prehashed, ec.ECDSA(utils.Prehashed(h)))


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"])
def test_derive_shared_secret_with_an_imported_key_is_local_ecdh(kms: Any, spec: str) -> None:
    private = ec.generate_private_key(CURVES[spec])
    key_id = _external(kms, spec, "KEY_AGREEMENT")
    import_material(kms, key_id, pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256")
    for _ in range(3):
        peer = ec.generate_private_key(CURVES[spec])
        out = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=spki(peer))
        assert out["SharedSecret"] == private.exchange(ec.ECDH(), peer.public_key())
        assert out["SharedSecret"] == peer.exchange(ec.ECDH(), private.public_key())
        assert out["KeyOrigin"] == "EXTERNAL"


def _openssl(tmp_path: Path, private: ec.EllipticCurvePrivateKey, *args: str) -> bytes:
    """What `openssl ec -param_enc explicit` writes: the key with its curve spelled out as ECParameters."""
    source = tmp_path / "key.pem"
    source.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    done = subprocess.run(
        ["openssl", "ec", "-in", str(source), "-param_enc", "explicit", "-outform", "DER", *args],
        capture_output=True,
        check=True,
    )
    return done.stdout


def test_explicit_curve_parameters_are_refused(kms: Any, tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    agreement = _external(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    import_material(kms, agreement, pkcs8(private), "RSAES_OAEP_SHA_256")
    peer = ec.generate_private_key(ec.SECP256R1())
    explicit = _openssl(tmp_path, peer, "-pubout")
    assert serialization.load_der_public_key(explicit).public_numbers() == peer.public_key().public_numbers()
    with pytest.raises(ClientError) as exc:  # the same point, its curve spelled out instead of named
        kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=explicit)
    assert error_of(exc) == ("ValidationException", "")
    named = kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=spki(peer))
    assert named["SharedSecret"] == peer.exchange(ec.ECDH(), private.public_key())
    # The same rule for a private key brought in: its PKCS #8 must name the curve.
    sec1 = _openssl(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    done = subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER"],
        input=sec1,
        capture_output=True,
        check=True,
    )
    assert isinstance(
        serialization.load_der_private_key(done.stdout, None), ec.EllipticCurvePrivateKey
    )  # pyca takes it
    signing = _external(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        import_material(kms, signing, done.stdout, "RSA_AES_KEY_WRAP_SHA_256")
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
