"""Encrypt and Decrypt through boto3: symmetric blobs with encryption context, and RSAES-OAEP."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.integration.principals import CIPHERTEXT_RESOURCE, unseen
from tests.support import ACCOUNT, error_of

OAEP = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}
LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
    ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
    ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
    ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}


@pytest.fixture(scope="module")
def symmetric_key(server: Any) -> dict[str, Any]:
    meta: dict[str, Any] = server.client().create_key()["KeyMetadata"]
    return meta


@pytest.fixture(scope="module")
def rsa_keys(server: Any) -> dict[str, dict[str, Any]]:
    kms = server.client()
    return {
        spec: kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
        for spec in ("RSA_2048", "RSA_3072", "RSA_4096")
    }


def test_symmetric_round_trip_with_context(kms: Any, symmetric_key: dict[str, Any]) -> None:
    context = {"purpose": "test", "tenant": "ü-42"}
    for size in (1, 100, 4096):
        plaintext = bytes(range(256)) * (size // 256) + bytes(size % 256)
        out = kms.encrypt(KeyId=symmetric_key["KeyId"], Plaintext=plaintext, EncryptionContext=context)
        assert out["KeyId"] == symmetric_key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert len(out["CiphertextBlob"]) <= size + 200
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=dict(reversed(context.items())))
        assert back["Plaintext"] == plaintext and back["KeyId"] == symmetric_key["Arn"]
        assert back["KeyMaterialId"] == symmetric_key["CurrentKeyMaterialId"]


def test_symmetric_decrypt_failures_are_invalid_ciphertext(kms: Any, symmetric_key: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=symmetric_key["KeyId"], Plaintext=b"secret", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    bad_inputs = [
        {"CiphertextBlob": blob},  # context missing
        {"CiphertextBlob": blob, "EncryptionContext": {"a": "B"}},  # case-sensitive
        {"CiphertextBlob": blob, "EncryptionContext": {"a": "b", "c": "d"}},
        {"CiphertextBlob": bytes(flipped), "EncryptionContext": {"a": "b"}},
        {"CiphertextBlob": blob[:-5], "EncryptionContext": {"a": "b"}},
        {"CiphertextBlob": b"garbage that is not a blob", "EncryptionContext": {"a": "b"}},
    ]
    for params in bad_inputs:
        with pytest.raises(ClientError) as exc:
            kms.decrypt(**params)
        assert error_of(exc) == ("InvalidCiphertextException", "")
        assert "message" not in exc.value.response


def test_decrypt_with_another_key_id_is_incorrect_key(kms: Any, symmetric_key: dict[str, Any]) -> None:
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=symmetric_key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    for key_id in (other, hmac_key):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, KeyId=key_id)
        assert error_of(exc) == (
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        )
    assert kms.decrypt(CiphertextBlob=blob, KeyId=symmetric_key["Arn"])["Plaintext"] == b"x"


def test_ciphertext_of_another_region_is_access_denied(server: Any, symmetric_key: dict[str, Any]) -> None:
    blob = server.client().encrypt(KeyId=symmetric_key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        server.client(region="eu-central-1").decrypt(CiphertextBlob=blob)
    assert error_of(exc) == unseen(f"arn:aws:iam::{ACCOUNT}:root", "kms:Decrypt", CIPHERTEXT_RESOURCE)


def test_plaintext_size_limits(raw_kms: Any, symmetric_key: dict[str, Any]) -> None:
    for size, message in (
        (
            4097,
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            "Member must have length less than or equal to 4096",
        ),
        (
            0,
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            raw_kms.encrypt(KeyId=symmetric_key["KeyId"], Plaintext=b"x" * size)
        assert error_of(exc) == ("ValidationException", message)


@pytest.mark.parametrize(("spec", "algorithm"), sorted(LIMITS))
def test_rsa_encrypt_decrypt_and_limits(
    kms: Any, rsa_keys: dict[str, dict[str, Any]], spec: str, algorithm: str
) -> None:
    key = rsa_keys[spec]
    limit = LIMITS[(spec, algorithm)]
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"k" * limit, EncryptionAlgorithm=algorithm)
    assert len(out["CiphertextBlob"]) == int(spec.split("_")[1]) // 8 and out["EncryptionAlgorithm"] == algorithm
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=key["Arn"], EncryptionAlgorithm=algorithm)
    assert back["Plaintext"] == b"k" * limit and back["EncryptionAlgorithm"] == algorithm
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"k" * (limit + 1), EncryptionAlgorithm=algorithm)
    assert error_of(exc) == (
        "ValidationException",
        f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.",
    )


def test_rsa_ciphertext_made_offline_decrypts(kms: Any, rsa_keys: dict[str, dict[str, Any]]) -> None:
    key = rsa_keys["RSA_2048"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    for algorithm, hash_cls in OAEP.items():
        wrapped = public.encrypt(  # type: ignore[union-attr]
            b"data key", padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)
        )
        plain = kms.decrypt(CiphertextBlob=wrapped, KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)["Plaintext"]
        assert plain == b"data key"


def test_rsa_decrypt_failures_are_indistinguishable(kms: Any, rsa_keys: dict[str, dict[str, Any]]) -> None:
    key = rsa_keys["RSA_2048"]
    good = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    answers = set()
    for blob, algorithm in (
        (good, "RSAES_OAEP_SHA_1"),  # wrong hash
        (bytes(256), "RSAES_OAEP_SHA_256"),
        (good[:-1], "RSAES_OAEP_SHA_256"),
        (good + b"\x00", "RSAES_OAEP_SHA_256"),
        (bytes([good[0] ^ 0x40]) + good[1:], "RSAES_OAEP_SHA_256"),
    ):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
        answers.add((error_of(exc), exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert answers == {(("InvalidCiphertextException", ""), 400)}
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=good, EncryptionAlgorithm="RSAES_OAEP_SHA_256")  # no KeyId
    assert error_of(exc) == ("InvalidCiphertextException", "")


def test_algorithm_must_suit_the_key(
    kms: Any, symmetric_key: dict[str, Any], rsa_keys: dict[str, dict[str, Any]]
) -> None:
    rsa = rsa_keys["RSA_3072"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=rsa["KeyId"], Plaintext=b"x")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_3072.",
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=symmetric_key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(exc)[0] == "InvalidKeyUsageException"
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=signer["KeyId"], Plaintext=b"x")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"{signer['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.",
    )


def test_blob_is_self_describing(kms: Any, symmetric_key: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=symmetric_key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert symmetric_key["KeyId"].encode() in blob  # the key id travels in the header, in the clear
    assert base64.b64encode(blob)  # opaque bytes, any length up to 6144
