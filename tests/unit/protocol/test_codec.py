"""encode_response: result dataclasses → AWS JSON 1.1 bodies, checked byte-level and through botocore's parser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import botocore.parsers
import orjson
import pytest

from trent.kms.results import (
    DecryptResult,
    DescribeKeyResult,
    Empty,
    EncryptResult,
    GetPublicKeyResult,
    KeyMetadata,
)
from trent.kms.sensitive import Sensitive
from trent.kms.specs import (
    EncryptionAlgorithm,
    KeyManager,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
    SigningAlgorithm,
)
from trent.protocol.awsjson.codec import encode_response
from trent.protocol.awsjson.model import operation_model

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}"
CREATED = datetime(2025, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)  # 1735732800.5
DELETES = datetime(2025, 1, 31, tzinfo=UTC)  # 1738281600


def metadata(**overrides: Any) -> KeyMetadata:
    fields: dict[str, Any] = {
        "aws_account_id": "111122223333",
        "key_id": KEY_ID,
        "arn": ARN,
        "creation_date": CREATED,
        "enabled": True,
        "description": "",
        "key_usage": KeyUsage.ENCRYPT_DECRYPT,
        "key_state": KeyState.ENABLED,
        "origin": Origin.AWS_KMS,
        "key_manager": KeyManager.CUSTOMER,
        "customer_master_key_spec": KeySpec.SYMMETRIC_DEFAULT,
        "key_spec": KeySpec.SYMMETRIC_DEFAULT,
        "multi_region": False,
        "encryption_algorithms": (EncryptionAlgorithm.SYMMETRIC_DEFAULT,),
    }
    return KeyMetadata(**{**fields, **overrides})


def encoded(operation: str, result: Any) -> dict[str, Any]:
    body = encode_response(operation, result)
    assert isinstance(body, bytes)
    document: dict[str, Any] = orjson.loads(body)
    return document


def parsed_by_botocore(operation: str, body: bytes) -> dict[str, Any]:
    parser = botocore.parsers.create_parser("json")
    response = {"body": body, "headers": {}, "status_code": 200}
    result: dict[str, Any] = parser.parse(response, operation_model(operation).output_shape)
    result.pop("ResponseMetadata", None)
    return result


def test_describe_key_exact_body() -> None:
    assert encoded("DescribeKey", DescribeKeyResult(metadata())) == {
        "KeyMetadata": {
            "AWSAccountId": "111122223333",
            "KeyId": KEY_ID,
            "Arn": ARN,
            "CreationDate": 1735732800.5,
            "Enabled": True,
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled",
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": False,
        }
    }


def test_none_members_are_absent_and_false_and_empty_are_present() -> None:
    body = encoded("DescribeKey", DescribeKeyResult(metadata(customer_master_key_spec=None)))["KeyMetadata"]
    for absent in (
        "CustomerMasterKeySpec",
        "DeletionDate",
        "PendingDeletionWindowInDays",
        "ValidTo",
        "ExpirationModel",
        "SigningAlgorithms",
        "MacAlgorithms",
        "KeyAgreementAlgorithms",
        "EncapsulationAlgorithms",
        "CurrentKeyMaterialId",
    ):
        assert absent not in body
    assert body["MultiRegion"] is False
    assert body["Description"] == ""
    assert None not in body.values()


def test_timestamps_are_epoch_seconds() -> None:
    body = encoded(
        "DescribeKey",
        DescribeKeyResult(
            metadata(
                key_state=KeyState.PENDING_DELETION,
                enabled=False,
                deletion_date=DELETES,
                pending_deletion_window_in_days=30,
            )
        ),
    )["KeyMetadata"]
    assert body["CreationDate"] == 1735732800.5
    assert body["DeletionDate"] == 1738281600
    assert body["PendingDeletionWindowInDays"] == 30
    assert body["KeyState"] == "PendingDeletion"


def test_enums_are_their_aws_strings() -> None:
    body = encoded(
        "DescribeKey",
        DescribeKeyResult(
            metadata(
                key_usage=KeyUsage.SIGN_VERIFY,
                key_spec=KeySpec.ECC_NIST_P256,
                customer_master_key_spec=KeySpec.ECC_NIST_P256,
                encryption_algorithms=None,
                signing_algorithms=(SigningAlgorithm.ECDSA_SHA_256,),
            )
        ),
    )["KeyMetadata"]
    assert body["KeyUsage"] == "SIGN_VERIFY"
    assert body["KeySpec"] == "ECC_NIST_P256"
    assert body["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    assert "EncryptionAlgorithms" not in body


def test_body_is_compact_json() -> None:
    body = encode_response("Encrypt", EncryptResult(b"\x01", KEY_ID, EncryptionAlgorithm.SYMMETRIC_DEFAULT))
    assert body.startswith(b'{"CiphertextBlob":"AQ==",')


def test_blobs_are_base64() -> None:
    blob = bytes(range(256))
    body = encoded("Encrypt", EncryptResult(blob, ARN, EncryptionAlgorithm.SYMMETRIC_DEFAULT))
    assert body == {
        "CiphertextBlob": base64.b64encode(blob).decode(),
        "KeyId": ARN,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }


def test_sensitive_blobs_are_revealed_only_on_the_wire() -> None:
    result = DecryptResult(ARN, Sensitive(b"secret data"), EncryptionAlgorithm.SYMMETRIC_DEFAULT)
    body = encoded("Decrypt", result)
    assert base64.b64decode(body["Plaintext"]) == b"secret data"
    assert "KeyMaterialId" not in body


def test_empty_tuple_is_an_empty_list() -> None:
    result = GetPublicKeyResult(
        key_id=ARN,
        public_key=b"\x30\x59",
        customer_master_key_spec=None,
        key_spec=KeySpec.RSA_2048,
        key_usage=KeyUsage.SIGN_VERIFY,
        signing_algorithms=(),
    )
    body = encoded("GetPublicKey", result)
    assert body["SigningAlgorithms"] == []
    assert body["PublicKey"] == "MFk="
    assert "EncryptionAlgorithms" not in body
    assert "CustomerMasterKeySpec" not in body


def test_empty_result() -> None:
    assert encode_response("EnableKey", Empty()) == b"{}"


def test_mapping_results_are_read_by_member_name() -> None:
    body = encoded("GenerateRandom", {"plaintext": b"\x00\x01", "ciphertext_for_recipient": None})
    assert body == {"Plaintext": "AAE="}


@pytest.mark.parametrize("spec", [KeySpec.SYMMETRIC_DEFAULT, KeySpec.RSA_4096, KeySpec.HMAC_512])
def test_botocore_parses_the_body_back(spec: KeySpec) -> None:
    body = encode_response(
        "DescribeKey",
        DescribeKeyResult(
            metadata(key_spec=spec, deletion_date=DELETES, key_state=KeyState.PENDING_DELETION, enabled=False)
        ),
    )
    parsed = parsed_by_botocore("DescribeKey", body)["KeyMetadata"]
    assert parsed["KeyId"] == KEY_ID
    assert parsed["KeySpec"] == spec.value
    assert parsed["CreationDate"] == CREATED
    assert parsed["DeletionDate"] == DELETES
    assert parsed["Enabled"] is False


def test_botocore_decodes_blobs_back_to_the_same_bytes() -> None:
    blob = b"\x00\xff" * 100
    parsed = parsed_by_botocore(
        "Encrypt", encode_response("Encrypt", EncryptResult(blob, ARN, EncryptionAlgorithm.SYMMETRIC_DEFAULT))
    )
    assert parsed == {"CiphertextBlob": blob, "KeyId": ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
