"""DeriveSharedSecret through boto3: the secret matches local ECDH, and every invalid Wycheproof public key
is refused with ValidationException, never answered with a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import error_of

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof"
CURVES = {"ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(), "ECC_NIST_P521": ec.SECP521R1()}
FILES = {
    "ECC_NIST_P256": "ecdh_secp256r1_test.json",
    "ECC_NIST_P384": "ecdh_secp384r1_test.json",
    "ECC_NIST_P521": "ecdh_secp521r1_test.json",
}


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("spec", sorted(CURVES))
def test_shared_secret_matches_local_ecdh(kms: Any, spec: str) -> None:
    key = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    assert isinstance(kms_public, ec.EllipticCurvePublicKey)
    for _ in range(3):
        mine = ec.generate_private_key(CURVES[spec])
        out = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=_spki(mine))
        assert out["SharedSecret"] == mine.exchange(ec.ECDH(), kms_public)
        assert out["KeyId"] == key["Arn"] and out["KeyAgreementAlgorithm"] == "ECDH" and out["KeyOrigin"] == "AWS_KMS"


@pytest.mark.parametrize("spec", sorted(CURVES))
def test_every_invalid_wycheproof_public_key_is_refused(kms: Any, spec: str) -> None:
    key_id = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    document = json.loads((VECTORS / FILES[spec]).read_text())
    invalid = [t for g in document["testGroups"] for t in g["tests"] if t["result"] == "invalid"]
    assert len(invalid) > 40
    for test in invalid:
        public = bytes.fromhex(test["public"])
        if not public:
            continue  # the model's min length stops an empty key before it reaches ECDH
        with pytest.raises(ClientError) as exc:
            kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=public)
        assert error_of(exc)[0] == "ValidationException", test["tcId"]


def test_peer_keys_of_other_kinds_are_refused(kms: Any) -> None:
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    others = [
        b"InvalidPublicKey",
        _spki(ec.generate_private_key(ec.SECP384R1())),
        _spki(ec.generate_private_key(ec.SECP256K1())),
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    ]
    for public in others:
        with pytest.raises(ClientError) as exc:
            kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=public)
        assert error_of(exc) == ("ValidationException", "")


def test_derive_needs_a_key_agreement_key(kms: Any, raw_kms: Any) -> None:
    mine = _spki(ec.generate_private_key(ec.SECP256R1()))
    for spec, usage in (("ECC_NIST_P256", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")):
        key = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        with pytest.raises(ClientError) as exc:
            kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=mine)
        assert error_of(exc) == (
            "InvalidKeyUsageException",
            f"{key['Arn']} key usage is {usage} which is not valid for DeriveSharedSecret.",
        )
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        raw_kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="INVALID", PublicKey=mine)
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ECDH]",
    )
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=mine)
    assert error_of(exc) == ("DisabledException", f"{key['Arn']} is disabled.")


def test_rsa_cannot_be_a_key_agreement_key(kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="RSA_2048", KeyUsage="KEY_AGREEMENT")
    assert error_of(exc) == ("ValidationException", "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048")
