"""KMS tests as written for moto (server mode) and LocalStack: nothing here knows Trent."""

import base64
import json

import pytest
from botocore.exceptions import ClientError


def test_create_key_and_describe(kms):
    key = kms.create_key(Description="my key", Tags=[{"TagKey": "team", "TagValue": "payments"}])["KeyMetadata"]
    assert key["Description"] == "my key"
    assert key["KeyState"] == "Enabled"
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["Arn"] == key["Arn"]
    tags = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "payments"}]


def test_encrypt_decrypt_roundtrip(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"hello world", EncryptionContext={"purpose": "test"})
    assert encrypted["KeyId"].endswith(key_id)
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"purpose": "test"})
    assert decrypted["Plaintext"] == b"hello world"
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"purpose": "other"})


def test_aliases(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/my-app", TargetKeyId=key_id)
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/my-app"] == key_id
    blob = kms.encrypt(KeyId="alias/my-app", Plaintext=b"via alias")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"via alias"
    kms.delete_alias(AliasName="alias/my-app")
    assert "alias/my-app" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]


def test_list_keys(kms):
    made = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)}
    listed = {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert made <= listed


def test_generate_data_key(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    without = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=64)
    assert "Plaintext" not in without


def test_sign_and_verify(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=key_id, Message=b"message", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    verified = kms.verify(KeyId=key_id, Message=b"message", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
    assert verified["SignatureValid"] is True
    public = kms.get_public_key(KeyId=key_id)
    assert public["PublicKey"]


def test_disable_and_schedule_deletion(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=key_id)
    deletion = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert deletion["DeletionDate"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_key_policy(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"]
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))


def test_generate_random(kms):
    assert len(kms.generate_random(NumberOfBytes=32)["Plaintext"]) == 32


def test_localstack_client(localstack_kms):
    key_id = localstack_kms.create_key()["KeyMetadata"]["KeyId"]
    blob = localstack_kms.encrypt(KeyId=key_id, Plaintext=base64.b64encode(b"data"))["CiphertextBlob"]
    assert base64.b64decode(localstack_kms.decrypt(CiphertextBlob=blob)["Plaintext"]) == b"data"
