"""Multi-Region keys through boto3 against a real `trent serve`: two clients of one endpoint, whose SigV4 scope
names two regions (docs/multi-region.md). CreateKey(MultiRegion), ReplicateKey, UpdatePrimaryRegion, the
MultiRegionConfiguration of DescribeKey, AWS's restrictions and errors, cryptography across related keys of
every kind, rotation driven by the primary, PendingReplicaDeletion, and imported material."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.importing import import_material, pkcs8
from tests.integration.principals import A, admin, user_client
from tests.postgres import url_of
from tests.support import TrentServer, error_of, trent_command

HERE, THERE, THIRD = "us-east-1", "eu-west-1", "ap-southeast-2"


@pytest.fixture
def here(server: TrentServer) -> Any:
    return server.client(region=HERE)


@pytest.fixture
def there(server: TrentServer) -> Any:
    return server.client(region=THERE)


def _fails(call: Any, **kw: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kw)
    return error_of(exc)


def _mrk(kms: Any, **kw: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = kms.create_key(MultiRegion=True, **kw)["KeyMetadata"]
    return metadata


def _replicate(kms: Any, key_id: str, region: str = THERE, **kw: Any) -> dict[str, Any]:
    done: dict[str, Any] = kms.replicate_key(KeyId=key_id, ReplicaRegion=region, **kw)
    return done


def test_a_multi_region_key_has_an_mrk_id_and_a_configuration(here: Any) -> None:
    key = _mrk(here, Description="primary")
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", key["KeyId"]) and key["MultiRegion"] is True
    assert key["Arn"] == key["Arn"].replace(":us-east-1:", f":{HERE}:")
    assert key["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": key["Arn"], "Region": HERE},
        "ReplicaKeys": [],
    }
    single = here.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single
    assert not single["KeyId"].startswith("mrk-")
    assert here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_replicate_key_answers_as_aws_and_the_replica_is_a_key_of_its_own(here: Any, there: Any) -> None:
    key = _mrk(here, Description="primary", Tags=[{"TagKey": "where", "TagValue": "primary"}])
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "replica",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    done = _replicate(
        here, key["KeyId"], Description="replica", Policy=policy, Tags=[{"TagKey": "where", "TagValue": "replica"}]
    )
    replica = done["ReplicaKeyMetadata"]
    replica_arn = key["Arn"].replace(f":{HERE}:", f":{THERE}:")
    # "When this operation completes, the new replica key has a transient key state of Creating."
    assert replica["KeyState"] == "Creating" and replica["Enabled"] is False
    assert replica["KeyId"] == key["KeyId"] and replica["Arn"] == replica_arn
    assert replica["Description"] == "replica" and replica["MultiRegion"] is True
    assert replica["KeySpec"] == key["KeySpec"] and replica["KeyUsage"] == key["KeyUsage"]
    assert replica["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": key["Arn"], "Region": HERE},
        "ReplicaKeys": [{"Arn": replica_arn, "Region": THERE}],
    }
    assert json.loads(done["ReplicaPolicy"]) == json.loads(policy)
    assert done["ReplicaTags"] == [{"TagKey": "where", "TagValue": "replica"}]
    # Trent finishes the replica within the request: DescribeKey right after shows it Enabled.
    shown = there.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert shown["KeyState"] == "Enabled" and shown["Enabled"] is True
    assert shown["CurrentKeyMaterialId"] == key["CurrentKeyMaterialId"]  # the same material
    primary = here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert primary["Description"] == "primary"
    assert primary["MultiRegionConfiguration"]["ReplicaKeys"] == [{"Arn": replica_arn, "Region": THERE}]
    # Its own policy, tags, state and aliases.
    assert json.loads(there.get_key_policy(KeyId=key["KeyId"])["Policy"]) == json.loads(policy)
    assert json.loads(here.get_key_policy(KeyId=key["KeyId"])["Policy"])["Id"] == "key-default-1"
    assert there.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "where", "TagValue": "replica"}]
    assert here.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "where", "TagValue": "primary"}]
    there.disable_key(KeyId=key["KeyId"])
    assert here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert _fails(there.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == (
        "DisabledException",
        f"{replica_arn} is disabled.",
    )
    there.enable_key(KeyId=key["KeyId"])
    alias = f"alias/replica-{key['KeyId']}"
    there.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    assert there.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == replica_arn
    assert _fails(here.describe_key, KeyId=alias)[0] == "NotFoundException"
    listed = [a for a in there.list_aliases(KeyId=key["KeyId"])["Aliases"] if a["AliasName"] == alias]
    assert listed[0]["TargetKeyId"] == key["KeyId"]
    assert {"KeyId": key["KeyId"], "KeyArn": replica_arn} in there.list_keys(Limit=1000)["Keys"]


def test_the_default_replica_policy_and_no_tags(here: Any) -> None:
    key = _mrk(here)
    done = _replicate(here, key["KeyId"], region=THIRD)
    assert json.loads(done["ReplicaPolicy"])["Id"] == "key-default-1" and done["ReplicaTags"] == []


def test_what_cannot_be_replicated(here: Any, there: Any, raw_kms: Any) -> None:
    key = _mrk(here)
    _replicate(here, key["KeyId"])
    replica_arn = key["Arn"].replace(f":{HERE}:", f":{THERE}:")
    # "You cannot create more than one replica of a primary key in any Region ... AlreadyExistsException"
    assert _fails(here.replicate_key, KeyId=key["KeyId"], ReplicaRegion=THERE)[0] == "AlreadyExistsException"
    # A replica cannot be replicated; only a primary key can ("It's the only key that can be replicated").
    assert _fails(there.replicate_key, KeyId=key["KeyId"], ReplicaRegion=THIRD) == (
        "UnsupportedOperationException",
        f"{replica_arn} is not a multi-Region primary key.",
    )
    # "The replica must be in a different Amazon Web Services Region than its primary key"
    assert _fails(here.replicate_key, KeyId=key["KeyId"], ReplicaRegion=HERE)[0] == "ValidationException"
    single = here.create_key()["KeyMetadata"]
    assert _fails(here.replicate_key, KeyId=single["KeyId"], ReplicaRegion=THERE) == (
        "UnsupportedOperationException",
        f"{single['Arn']} is not a multi-Region key.",
    )
    other = _mrk(here)
    here.disable_key(KeyId=other["KeyId"])
    assert _fails(here.replicate_key, KeyId=other["KeyId"], ReplicaRegion=THERE) == (
        "DisabledException",
        f"{other['Arn']} is disabled.",
    )
    assert _fails(here.replicate_key, KeyId="alias/aws/none", ReplicaRegion=THERE)[0] == "InvalidArnException"
    missing = "mrk-" + "0" * 32
    assert _fails(here.replicate_key, KeyId=missing, ReplicaRegion=THERE)[0] == "NotFoundException"
    # A key id names the key of the request's region: the replica region knows none before ReplicateKey.
    fresh = _mrk(here)
    assert _fails(there.describe_key, KeyId=fresh["KeyId"])[0] == "NotFoundException"


def _encrypt_decrypt_across(here: Any, there: Any, key_id: str) -> None:
    blob = here.encrypt(KeyId=key_id, Plaintext=b"made here", EncryptionContext={"a": "b"})["CiphertextBlob"]
    out = there.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"made here" and out["KeyId"].split(":")[3] == there.meta.region_name
    back = there.encrypt(KeyId=key_id, Plaintext=b"made there")["CiphertextBlob"]
    assert here.decrypt(CiphertextBlob=back, KeyId=key_id)["Plaintext"] == b"made there"
    data_key = there.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert here.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]


def test_symmetric_ciphertexts_decrypt_with_every_related_key(here: Any, there: Any) -> None:
    key = _mrk(here)
    old = here.encrypt(KeyId=key["KeyId"], Plaintext=b"before the replica")["CiphertextBlob"]
    _replicate(here, key["KeyId"])
    assert there.decrypt(CiphertextBlob=old)["Plaintext"] == b"before the replica"
    _encrypt_decrypt_across(here, there, key["KeyId"])
    # A single-Region key's ciphertext does not decrypt in another region.
    single = here.create_key()["KeyMetadata"]["KeyId"]
    blob = here.encrypt(KeyId=single, Plaintext=b"x")["CiphertextBlob"]
    assert _fails(there.decrypt, CiphertextBlob=blob)[0] == "AccessDeniedException"


def test_asymmetric_and_hmac_results_hold_with_every_related_key(here: Any, there: Any) -> None:
    rsa = _mrk(here, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyId"]
    signing = _mrk(here, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    rsa_signing = _mrk(here, KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY")["KeyId"]
    agreement = _mrk(here, KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyId"]
    mac = _mrk(here, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    for key_id in (rsa, signing, rsa_signing, agreement, mac):
        _replicate(here, key_id)
    for key_id in (rsa, signing, rsa_signing, agreement):
        assert here.get_public_key(KeyId=key_id)["PublicKey"] == there.get_public_key(KeyId=key_id)["PublicKey"]
    sealed = here.encrypt(KeyId=rsa, Plaintext=b"oaep", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    opened = there.decrypt(CiphertextBlob=sealed, KeyId=rsa, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert opened["Plaintext"] == b"oaep"
    for key_id, algorithm in ((signing, "ECDSA_SHA_256"), (rsa_signing, "RSASSA_PSS_SHA_384")):
        signed = there.sign(KeyId=key_id, Message=b"m", SigningAlgorithm=algorithm)["Signature"]
        ok = here.verify(KeyId=key_id, Message=b"m", Signature=signed, SigningAlgorithm=algorithm)
        assert ok["SignatureValid"] is True
    tag = here.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert there.verify_mac(KeyId=mac, Message=b"m", Mac=tag, MacAlgorithm="HMAC_SHA_256")["MacValid"] is True
    peer = ec.generate_private_key(ec.SECP384R1())
    der = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    secrets = [
        kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=der)["SharedSecret"]
        for kms in (here, there)
    ]
    assert secrets[0] == secrets[1]


def test_rotation_is_driven_by_the_primary(here: Any, there: Any) -> None:
    key = _mrk(here)
    _replicate(here, key["KeyId"])
    replica_arn = key["Arn"].replace(f":{HERE}:", f":{THERE}:")
    for call in (there.enable_key_rotation, there.disable_key_rotation, there.rotate_key_on_demand):
        code, message = _fails(call, KeyId=key["KeyId"])
        assert code == "UnsupportedOperationException" and message.startswith(f"{replica_arn} is a multi-Region")
    # The rotation status is shared: the replica shows the primary's.
    here.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=100)
    status = there.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 100
    assert status["KeyId"] == replica_arn
    old = there.encrypt(KeyId=key["KeyId"], Plaintext=b"v1")["CiphertextBlob"]
    here.rotate_key_on_demand(KeyId=key["KeyId"])
    primary = here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    replica = there.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert primary["CurrentKeyMaterialId"] != key["CurrentKeyMaterialId"]
    assert replica["CurrentKeyMaterialId"] == primary["CurrentKeyMaterialId"]  # the new version reached it
    rotations = there.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    assert rotations[0]["KeyMaterialId"] == primary["CurrentKeyMaterialId"]
    new = there.encrypt(KeyId=key["KeyId"], Plaintext=b"v2")["CiphertextBlob"]
    assert here.decrypt(CiphertextBlob=new)["KeyMaterialId"] == primary["CurrentKeyMaterialId"]
    assert here.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    here.disable_key_rotation(KeyId=key["KeyId"])
    assert there.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_update_primary_region_swaps_the_roles(here: Any, there: Any, server: TrentServer) -> None:
    key = _mrk(here)
    _replicate(here, key["KeyId"])
    replica_arn = key["Arn"].replace(f":{HERE}:", f":{THERE}:")
    assert _fails(there.update_primary_region, KeyId=key["KeyId"], PrimaryRegion=HERE) == (
        "UnsupportedOperationException",
        f"{replica_arn} is not a multi-Region primary key.",
    )
    assert _fails(here.update_primary_region, KeyId=key["KeyId"], PrimaryRegion=THIRD)[0] == "NotFoundException"
    assert here.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=THERE)["ResponseMetadata"]
    old = here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    new = there.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    assert old["MultiRegionKeyType"] == "REPLICA" and new["MultiRegionKeyType"] == "PRIMARY"
    assert old["PrimaryKey"] == new["PrimaryKey"] == {"Arn": replica_arn, "Region": THERE}
    assert old["ReplicaKeys"] == new["ReplicaKeys"] == [{"Arn": key["Arn"], "Region": HERE}]
    # Now only the new primary replicates and rotates.
    assert _fails(here.replicate_key, KeyId=key["KeyId"], ReplicaRegion=THIRD)[0] == "UnsupportedOperationException"
    assert _fails(here.rotate_key_on_demand, KeyId=key["KeyId"])[0] == "UnsupportedOperationException"
    _replicate(there, key["KeyId"], region=THIRD)
    third = server.client(region=THIRD)
    assert third.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["PrimaryKey"] == {
        "Arn": replica_arn,
        "Region": THERE,
    }
    there.rotate_key_on_demand(KeyId=key["KeyId"])
    current = {
        kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] for kms in (here, there, third)
    }
    assert len(current) == 1
    _encrypt_decrypt_across(third, here, key["KeyId"])
    # "Both the primary key and the replica key must be in the Enabled key state"
    here.disable_key(KeyId=key["KeyId"])
    code, _ = _fails(there.update_primary_region, KeyId=key["KeyId"], PrimaryRegion=HERE)
    assert code == "DisabledException"


def test_a_primary_with_replicas_waits_in_pending_replica_deletion(here: Any, there: Any) -> None:
    key = _mrk(here)
    _replicate(here, key["KeyId"])
    scheduled = here.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=9)
    assert scheduled["KeyState"] == "PendingReplicaDeletion" and scheduled["PendingWindowInDays"] == 9
    assert "DeletionDate" not in scheduled  # "The deletion date for the primary key isn't known until ..."
    shown = here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert shown["KeyState"] == "PendingReplicaDeletion" and shown["PendingDeletionWindowInDays"] == 9
    assert "DeletionDate" not in shown
    assert _fails(here.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending replica deletion.",
    )
    assert _fails(here.replicate_key, KeyId=key["KeyId"], ReplicaRegion=THIRD)[0] == "KMSInvalidStateException"
    assert there.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]  # the replica is not affected
    here.cancel_key_deletion(KeyId=key["KeyId"])
    assert here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    # A replica is deleted like any key; a primary without replicas too.
    replica = there.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert replica["KeyState"] == "PendingDeletion" and "DeletionDate" in replica
    alone = _mrk(here)
    assert here.schedule_key_deletion(KeyId=alone["KeyId"], PendingWindowInDays=7)["KeyState"] == "PendingDeletion"


def test_imported_material_is_imported_into_each_replica(here: Any, there: Any) -> None:
    key = _mrk(here, Origin="EXTERNAL")
    material = os.urandom(32)
    import_material(here, key["KeyId"], material)
    blob = here.encrypt(KeyId=key["KeyId"], Plaintext=b"byok")["CiphertextBlob"]
    done = _replicate(here, key["KeyId"])
    assert done["ReplicaKeyMetadata"]["Origin"] == "EXTERNAL"
    # "the replica key is created with no key material. You must import the same key material"
    replica = there.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert replica["KeyState"] == "PendingImport" and replica["Origin"] == "EXTERNAL"
    assert _fails(there.decrypt, CiphertextBlob=blob)[0] == "KMSInvalidStateException"
    code, _ = _fails(import_material, kms=there, key_id=key["KeyId"], material=os.urandom(32))
    assert code == "IncorrectKeyMaterialException"
    imported = import_material(there, key["KeyId"], material)
    assert imported["KeyMaterialId"] == here.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert there.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert there.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"
    # Asymmetric imported material too: the replica takes the primary's, and nothing else.
    signing = _mrk(here, Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    _replicate(here, signing)
    assert there.describe_key(KeyId=signing)["KeyMetadata"]["KeyState"] == "PendingImport"
    private = ec.generate_private_key(ec.SECP256R1())
    code, _ = _fails(import_material, kms=there, key_id=signing, material=pkcs8(private))
    assert code == "IncorrectKeyMaterialException"  # the primary has none yet: import into it first
    import_material(here, signing, pkcs8(private))
    other = pkcs8(ec.generate_private_key(ec.SECP256R1()))
    code, _ = _fails(import_material, kms=there, key_id=signing, material=other)
    assert code == "IncorrectKeyMaterialException"
    import_material(there, signing, pkcs8(private))
    signed = there.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    verified = here.verify(KeyId=signing, Message=b"m", Signature=signed, SigningAlgorithm="ECDSA_SHA_256")
    assert verified["SignatureValid"] is True


def test_new_imported_material_goes_to_the_primary_first_and_rotates_every_replica(here: Any, there: Any) -> None:
    key_id = _mrk(here, Origin="EXTERNAL")["KeyId"]
    first, second = os.urandom(32), os.urandom(32)
    import_material(here, key_id, first)
    _replicate(here, key_id)
    import_material(there, key_id, first)
    replica_arn = f"arn:aws:kms:{THERE}:111122223333:key/{key_id}"
    # "You cannot directly import new key material into the replica Region keys."
    code, message = _fails(import_material, kms=there, key_id=key_id, material=second, ImportType="NEW_KEY_MATERIAL")
    assert code == "UnsupportedOperationException" and message.startswith(f"{replica_arn} is a multi-Region replica")
    assert _fails(import_material, kms=there, key_id=key_id, material=second)[0] == "IncorrectKeyMaterialException"
    new_id = import_material(here, key_id, second, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    # The replica lacks the material pending rotation: the primary's rotation is refused, for both.
    code, message = _fails(here.rotate_key_on_demand, KeyId=key_id)
    assert code == "KMSInvalidStateException" and message.startswith(f"{replica_arn} has no key material pending")
    assert here.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] != new_id
    assert import_material(there, key_id, second, ImportType="EXISTING_KEY_MATERIAL")["KeyMaterialId"] == new_id
    here.rotate_key_on_demand(KeyId=key_id)
    for kms in (here, there):
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == new_id
    blob = there.encrypt(KeyId=key_id, Plaintext=b"second")["CiphertextBlob"]
    assert here.decrypt(CiphertextBlob=blob)["KeyMaterialId"] == new_id


def test_jobs_rotate_every_related_key_and_end_pending_replica_deletion(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env={"TRENT_JOB_INTERVAL": "0.2"}) as server:
        here, there = server.client(region=HERE), server.client(region=THERE)
        key = _mrk(here)
        key_id = key["KeyId"]
        _replicate(here, key_id)
        here.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        with sqlite3.connect(data_dir / "trent.db") as db:  # 90 days pass for the primary's schedule
            db.execute(
                "UPDATE keys SET next_rotation_date = next_rotation_date - 90 * 86400 - 60 WHERE key_id = ?",
                (f"{key_id}/{HERE}",),
            )
        deadline = time.monotonic() + 10
        while not there.list_key_rotations(KeyId=key_id)["Rotations"]:
            assert time.monotonic() < deadline, "the automatic rotation did not reach the replica"
            time.sleep(0.1)
        ids = {kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] for kms in (here, there)}
        assert len(ids) == 1 and key["CurrentKeyMaterialId"] not in ids
        # The primary waits for its replica's deletion, then its own window starts.
        here.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        there.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        with sqlite3.connect(data_dir / "trent.db") as db:  # the replica's window ends
            db.execute(
                "UPDATE keys SET deletion_date = deletion_date - 8 * 86400 WHERE key_id = ?", (f"{key_id}/{THERE}",)
            )
        deadline = time.monotonic() + 10
        while here.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] != "PendingDeletion":
            assert time.monotonic() < deadline, "the primary stayed in PendingReplicaDeletion"
            time.sleep(0.1)
        assert _fails(there.describe_key, KeyId=key_id)[0] == "NotFoundException"
        shown = here.describe_key(KeyId=key_id)["KeyMetadata"]
        days = (shown["DeletionDate"] - shown["CreationDate"]).total_seconds() / 86400
        assert 6.9 < days < 7.1 and shown["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_replicate_key_needs_replicate_key_on_the_primary_and_create_key_in_the_replica_region(
    server: TrentServer, here: Any
) -> None:
    """ "kms:ReplicateKey on the primary key ... kms:CreateKey in an IAM policy in the replica Region"; and
    UpdatePrimaryRegion needs its permission on both keys (KMS API)."""
    user = user_client(server, A, "mira", "mrk")
    user_arn = f"arn:aws:iam::{A}:user/mira"
    key = _mrk(here)  # the default key policy: the account's IAM policies decide

    def identity(*actions: str) -> None:
        document = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
        )
        admin(server.data_dir, "put-user-policy", "--account-id", A, "--user", "mira", "--policy-document", document)

    identity("kms:DescribeKey", "kms:CreateKey")
    code, message = _fails(user.replicate_key, KeyId=key["Arn"], ReplicaRegion=THERE)
    assert code == "AccessDeniedException" and "kms:ReplicateKey" in message and user_arn in message
    identity("kms:DescribeKey", "kms:ReplicateKey")
    code, message = _fails(user.replicate_key, KeyId=key["Arn"], ReplicaRegion=THERE)
    assert code == "AccessDeniedException" and "kms:CreateKey" in message
    assert _fails(there_of(server).describe_key, KeyId=key["KeyId"])[0] == "NotFoundException"  # nothing made
    identity(
        "kms:DescribeKey", "kms:ReplicateKey", "kms:CreateKey", "kms:PutKeyPolicy"
    )  # PutKeyPolicy: the lockout check
    deny = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": user_arn},
                    "Action": "kms:UpdatePrimaryRegion",
                    "Resource": "*",
                },
            ],
        }
    )
    done = user.replicate_key(KeyId=key["Arn"], ReplicaRegion=THERE, Policy=deny)
    assert done["ReplicaKeyMetadata"]["KeyId"] == key["KeyId"]
    identity("kms:UpdatePrimaryRegion")
    code, message = _fails(user.update_primary_region, KeyId=key["Arn"], PrimaryRegion=THERE)
    assert code == "AccessDeniedException" and "kms:UpdatePrimaryRegion" in message  # the replica's policy denies
    here.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=THERE)  # the root may
    assert (
        there_of(server).describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"][
            "MultiRegionKeyType"
        ]
        == "PRIMARY"
    )


def there_of(server: TrentServer) -> Any:
    return server.client(region=THERE)


def test_multi_region_keys_on_a_postgresql_store(postgres_url: str, tmp_path: Path) -> None:
    """The same on PostgreSQL, whose nodes read each batch of requests' keys together (store/prefetch.py): the
    batch names a multi-Region key by its regional id, in the region each request was signed for."""
    shared = {"TRENT_DATABASE_URL": url_of(postgres_url), "TRENT_ROOT_KEY_FILE": str(tmp_path / "root.key")}
    with TrentServer(tmp_path / "node", env=shared) as node:
        here, there = node.client(region=HERE), node.client(region=THERE)
        key_id = _mrk(here)["KeyId"]
        _replicate(here, key_id, Description="on postgresql")
        assert there.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "on postgresql"
        _encrypt_decrypt_across(here, there, key_id)
        here.rotate_key_on_demand(KeyId=key_id)
        ids = {kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] for kms in (here, there)}
        assert len(ids) == 1
        here.update_primary_region(KeyId=key_id, PrimaryRegion=THERE)
        assert (
            here.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == THERE
        )


def records_of(server: TrentServer, event: str, key_id: str) -> list[dict[str, Any]]:
    """The audit trail's records of one operation on one key, as `trent audit query` prints them."""
    query = ["audit", "query", "--event-name", event, "--key", key_id, "--data-dir", str(server.data_dir)]
    done = subprocess.run([*trent_command(), *query], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_the_audit_trail_records_the_replication_and_the_new_primary_region(server: TrentServer, here: Any) -> None:
    key = _mrk(here)
    _replicate(here, key["KeyId"], Description="audited")
    here.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=THERE)
    replica_arn = key["Arn"].replace(f":{HERE}:", f":{THERE}:")
    replicated = records_of(server, "ReplicateKey", key["KeyId"])
    assert replicated and replicated[-1]["requestParameters"] == {
        "keyId": key["KeyId"],
        "replicaRegion": THERE,
        "description": "audited",
    }
    assert {r["ARN"] for r in replicated[-1]["resources"]} == {key["Arn"], replica_arn}
    updated = records_of(server, "UpdatePrimaryRegion", key["KeyId"])
    assert updated and updated[-1]["requestParameters"] == {"keyId": key["KeyId"], "primaryRegion": THERE}


def test_a_root_key_rotation_rewraps_every_related_keys_material(tmp_path: Path) -> None:
    """Each related key's copy of the material is wrapped for it (AAD: its regional id): a root key rotation
    re-wraps every copy, and each still opens in its own region, before and after a restart."""
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        here, there = server.client(region=HERE), server.client(region=THERE)
        key_id = _mrk(here)["KeyId"]
        _replicate(here, key_id)
        here.rotate_key_on_demand(KeyId=key_id)
        blob = here.encrypt(KeyId=key_id, Plaintext=b"rewrapped")["CiphertextBlob"]
        external = _mrk(here, Origin="EXTERNAL")["KeyId"]
        _replicate(here, external)
        there.get_parameters_for_import(
            KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
        rotated = subprocess.run(
            [*trent_command(), "admin", "rotate-root-key", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rotated.returncode == 0, rotated.stderr
        assert re.search(
            r"re-wrapped [4-9] key material version\(s\), \d+ access key secret\(s\), 1 import", rotated.stdout
        )
        assert there.decrypt(CiphertextBlob=blob)["Plaintext"] == b"rewrapped"
        import_material(here, external, os.urandom(32))
    with TrentServer(data_dir) as restarted:
        there = restarted.client(region=THERE)
        assert there.decrypt(CiphertextBlob=blob)["Plaintext"] == b"rewrapped"
        assert restarted.client(region=HERE).decrypt(CiphertextBlob=blob, KeyId=key_id)["Plaintext"] == b"rewrapped"
