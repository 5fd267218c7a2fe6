"""Key lifecycle through boto3 against a real `trent serve`: CreateKey for every spec, DescribeKey, ListKeys,
Enable/Disable, deletion scheduling, descriptions, and the key-state table."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ACCOUNT, REGION, error_of
from trent.kms.specs import KEY_SPECS, KeySpec, KeyUsage

SUPPORTED = [(spec, usage) for spec, info in KEY_SPECS.items() if not info.unsupported for usage in sorted(info.usages)]
REJECTED = [
    (spec, usage)
    for spec, info in KEY_SPECS.items()
    if not info.unsupported
    for usage in KeyUsage
    if usage not in info.usages
]


@pytest.mark.parametrize(("spec", "usage"), SUPPORTED, ids=[f"{s}-{u}" for s, u in SUPPORTED])
def test_create_key_for_every_supported_spec_and_usage(kms: Any, spec: KeySpec, usage: KeyUsage) -> None:
    meta = kms.create_key(KeySpec=spec, KeyUsage=usage, Description=f"{spec} {usage}")["KeyMetadata"]
    info = KEY_SPECS[spec]
    assert meta["KeySpec"] == spec and meta["KeyUsage"] == usage
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{meta['KeyId']}"
    assert meta["AWSAccountId"] == ACCOUNT
    assert meta["Enabled"] is True and meta["KeyState"] == "Enabled"
    assert meta["Origin"] == "AWS_KMS" and meta["KeyManager"] == "CUSTOMER" and meta["MultiRegion"] is False
    assert meta["Description"] == f"{spec} {usage}"
    lists = info.algorithms_for(usage)
    assert meta.get("EncryptionAlgorithms", []) == list(lists.encryption)
    assert meta.get("SigningAlgorithms", []) == list(lists.signing)
    assert meta.get("MacAlgorithms", []) == list(lists.mac)
    assert meta.get("KeyAgreementAlgorithms", []) == list(lists.agreement)
    assert meta.get("EncapsulationAlgorithms", []) == list(lists.encapsulation)
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"] == meta
    if spec is not KeySpec.SYMMETRIC_DEFAULT and not spec.startswith("HMAC"):
        public = kms.get_public_key(KeyId=meta["KeyId"])
        assert public["KeyId"] == meta["Arn"] and public["KeySpec"] == spec and len(public["PublicKey"]) > 30


def test_symmetric_default_is_the_default(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT" and meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["Description"] == ""
    assert len(meta["CurrentKeyMaterialId"]) == 64
    assert "DeletionDate" not in meta and "SigningAlgorithms" not in meta


@pytest.mark.parametrize(("spec", "usage"), REJECTED[:12], ids=[f"{s}-{u}" for s, u in REJECTED[:12]])
def test_create_key_rejects_pairs_aws_does_not_allow(kms: Any, spec: KeySpec, usage: KeyUsage) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert error_of(exc) == ("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}")


def test_secp256k1_cannot_agree_keys(kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")
    assert error_of(exc)[0] == "ValidationException"


@pytest.mark.parametrize("spec", ["HMAC_256", "RSA_2048", "ECC_NIST_P256"])
def test_key_usage_is_required_except_for_symmetric_keys(kms: Any, spec: str) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec)
    assert error_of(exc) == (
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
    )


@pytest.mark.parametrize(("spec", "usage"), [("SM2", "SIGN_VERIFY"), ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE")])
def test_specs_without_material_answer_unsupported_operation(kms: Any, spec: str, usage: str) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    code, message = error_of(exc)
    assert code == "UnsupportedOperationException" and spec in message


def test_unknown_key_spec_is_a_validation_error(raw_kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        raw_kms.create_key(KeySpec="HMAC_random", KeyUsage="GENERATE_VERIFY_MAC")
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    )


def test_create_key_with_tags_and_policy(kms: Any) -> None:
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}'
    key_id = kms.create_key(Policy=policy, Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "red"}]


def test_describe_key_errors(kms: Any) -> None:
    missing = "0b5c4b2a-4b1a-4e2c-9a57-1c2d3e4f5a6b"
    cases = {
        "fake-key-id": "Invalid keyId 'fake-key-id'",
        "134f2428cec14b25a1ae9048164dba47": "Invalid keyId '134f2428cec14b25a1ae9048164dba47'",
        missing: f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}": f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist",
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{missing}": "Invalid arn eu-west-1",
        "alias/does-not-exist": f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/does-not-exist is not found.",
    }
    for key_id, message in cases.items():
        with pytest.raises(ClientError) as exc:
            kms.describe_key(KeyId=key_id)
        assert error_of(exc) == ("NotFoundException", message), key_id


def test_keys_live_in_the_region_of_the_request(server: Any) -> None:
    east, west = server.client(region="us-east-1"), server.client(region="eu-west-1")
    key_id = east.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        west.describe_key(KeyId=key_id)
    assert error_of(exc) == ("NotFoundException", f"Key 'arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}' does not exist")
    assert key_id not in {k["KeyId"] for k in west.list_keys(Limit=1000)["Keys"]}
    west_key = west.create_key()["KeyMetadata"]
    assert west_key["Arn"].startswith("arn:aws:kms:eu-west-1:")


def test_list_keys_pages_with_limit_and_marker(server: Any) -> None:
    kms = server.client(region="ap-south-2")  # a region of its own, so the count is exact
    created = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    seen: list[str] = []
    marker: dict[str, str] = {}
    while True:
        page = kms.list_keys(Limit=2, **marker)
        seen += [k["KeyId"] for k in page["Keys"]]
        assert all(k["KeyArn"].endswith(k["KeyId"]) for k in page["Keys"])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        assert len(page["Keys"]) == 2
        marker = {"Marker": page["NextMarker"]}
    assert sorted(seen) == sorted(created) and len(seen) == 5
    with pytest.raises(ClientError) as exc:
        kms.list_keys(Marker="not-a-marker-we-issued")
    assert error_of(exc)[0] == "InvalidMarkerException"


def test_enable_disable_and_the_state_table(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    kms.disable_key(KeyId=key_id)
    kms.disable_key(KeyId=key_id)  # idempotent
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Disabled" and described["Enabled"] is False
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(exc) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=key_id)
    assert kms.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == arn


def test_schedule_and_cancel_key_deletion(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    for bad in (6, 31):
        with pytest.raises(ClientError) as exc:
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=bad)
        assert error_of(exc) == ("ValidationException", "PendingWindowInDays must be between 7 and 30")
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyId"] == arn and scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion" and described["Enabled"] is False
    assert described["DeletionDate"] == scheduled["DeletionDate"]
    assert 6.9 < (described["DeletionDate"] - described["CreationDate"]).total_seconds() / 86400 < 7.1
    refusals = {
        "encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "schedule again": lambda: kms.schedule_key_deletion(KeyId=key_id),
        "enable": lambda: kms.enable_key(KeyId=key_id),
        "tag": lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "b"}]),
        "describe via alias": lambda: kms.create_alias(AliasName="alias/pending-" + key_id[:8], TargetKeyId=key_id),
    }
    for name, call in refusals.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion."), name
    assert kms.get_key_policy(KeyId=key_id)["PolicyName"] == "default"  # reading is allowed
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Disabled" and "DeletionDate" not in described
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=key_id)
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is not pending deletion.")
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_schedule_key_deletion_defaults_to_30_days(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.schedule_key_deletion(KeyId=key_id)["PendingWindowInDays"] == 30


def test_update_key_description(kms: Any) -> None:
    key_id = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="after")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "after"


def test_lifecycle_operations_do_not_take_aliases(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/no-alias-ops-" + key_id[:8], TargetKeyId=key_id)
    with pytest.raises(ClientError) as exc:
        kms.disable_key(KeyId="alias/no-alias-ops-" + key_id[:8])
    assert error_of(exc) == ("InvalidArnException", "Key Aliases are not supported for this operation.")


def test_get_public_key_of_a_symmetric_key_is_unsupported(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.get_public_key(KeyId=key_id)
    assert error_of(exc)[0] == "UnsupportedOperationException"
