"""Who may do what, end to end through boto3 against a real `trent serve`: key policies, IAM identity policies
(attached with `trent admin`), explicit denies, conditions, cross-account access and policy validation.

Account A (111122223333, the server's) has users alice and bob; account B (444455556666) has users carol and
dave. Each rule is shown with an allowed and a denied request.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.principals import (
    A_ROOT,
    ALICE,
    B_ROOT,
    BOB,
    CAROL,
    CIPHERTEXT_RESOURCE,
    DAVE,
    DENY_IN_IDENTITY,
    DENY_IN_RESOURCE,
    NO_IDENTITY_ALLOW,
    NO_RESOURCE_ALLOW,
    A,
    B,
    admin,
    denied,
    unseen,
    user_client,
)
from tests.support import REGION, TrentServer, error_of, kms_client, trent_command

B_ROOT_KEY = ("AKIAACCESSBROOT00001", "access-b-root-secret-0001")

# What a key administrator may do (no cryptographic operation): keeps the account root able to manage a test key
# (and so passes the lockout check) without the key policy allowing any user of A a cryptographic operation.
ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
ADMIN = {"Sid": "KeyAdministrators", "Effect": "Allow", "Principal": {"AWS": A_ROOT}, "Action": ADMIN_ACTIONS}


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: str | list[str], actions: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*", **extra}


@dataclass(frozen=True)
class World:
    server: TrentServer
    root: Any  # account A's root (the admin key of TrentServer)
    b_root: Any
    alice: Any
    bob: Any
    carol: Any
    dave: Any
    alice_policy: str  # alice's identity policy as the module set it up
    key2: dict[str, Any]  # alice may Decrypt with this key only
    identity_denied: dict[str, Any]  # alice's identity policy denies Encrypt with this key

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def put_alice_policy(self, document: str) -> None:
        admin(self.data_dir, "put-user-policy", "--account-id", A, "--user", "alice", "--policy-document", document)


def alice_identity_policy(key2_arn: str, identity_denied_arn: str) -> str:
    return policy(
        {"Sid": "Use", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"},
        {"Sid": "DecryptWithKey2", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key2_arn},
        {"Sid": "NoEncryptHere", "Effect": "Deny", "Action": "kms:Encrypt", "Resource": identity_denied_arn},
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with TrentServer(tmp_path_factory.mktemp("access")) as server:
        created = json.loads(
            admin(
                server.data_dir,
                "create-account",
                B,
                "--access-key-id",
                B_ROOT_KEY[0],
                "--secret-access-key",
                B_ROOT_KEY[1],
            ).stdout
        )
        assert created == {
            "Account": B,
            "Principal": B_ROOT,
            "AccessKeyId": B_ROOT_KEY[0],
            "SecretAccessKey": B_ROOT_KEY[1],
        }
        alice, bob = user_client(server, A, "alice", "access"), user_client(server, A, "bob", "access")
        carol, dave = user_client(server, B, "carol", "access"), user_client(server, B, "dave", "access")
        root = server.client()
        key2 = root.create_key(Description="alice may decrypt with this one")["KeyMetadata"]
        identity_denied = root.create_key(
            Description="alice's identity policy denies Encrypt",
            Policy=policy(ADMIN, allow([ALICE, BOB], "kms:Encrypt")),
        )["KeyMetadata"]
        alice_policy = alice_identity_policy(key2["Arn"], identity_denied["Arn"])
        admin(
            server.data_dir, "put-user-policy", "--account-id", A, "--user", "alice", "--policy-document", alice_policy
        )
        carol_policy = policy(
            {
                "Effect": "Allow",
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:ScheduleKeyDeletion",
                    "kms:PutKeyPolicy",
                ],
                "Resource": f"arn:aws:kms:{REGION}:{A}:key/*",
            }
        )
        admin(
            server.data_dir, "put-user-policy", "--account-id", B, "--user", "carol", "--policy-document", carol_policy
        )
        b_root = kms_client(server.endpoint, access_key=B_ROOT_KEY[0], secret=B_ROOT_KEY[1])
        yield World(server, root, b_root, alice, bob, carol, dave, alice_policy, key2, identity_denied)


def _key(world: World, *statements: dict[str, Any], **create: Any) -> dict[str, Any]:
    """A key of A whose policy is ADMIN plus `statements`."""
    meta: dict[str, Any] = world.root.create_key(Policy=policy(ADMIN, *statements), **create)["KeyMetadata"]
    return meta


# -- 1. the default key policy -------------------------------------------------------------------------------------


def test_default_key_policy_lets_the_root_do_everything(world: World) -> None:
    root = world.root
    key = root.create_key(Description="default policy")["KeyMetadata"]
    arn = key["Arn"]
    blob = root.encrypt(KeyId=arn, Plaintext=b"root", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert root.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"root"
    assert len(root.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]) == 32
    root.put_key_policy(KeyId=arn, PolicyName="default", Policy=root.get_key_policy(KeyId=arn)["Policy"])
    root.tag_resource(KeyId=arn, Tags=[{"TagKey": "owner", "TagValue": "root"}])
    root.create_alias(AliasName="alias/access-default", TargetKeyId=key["KeyId"])
    root.enable_key_rotation(KeyId=arn)
    assert root.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is True
    root.disable_key(KeyId=arn)
    root.enable_key(KeyId=arn)
    root.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    root.cancel_key_deletion(KeyId=arn)
    root.enable_key(KeyId=arn)
    assert root.describe_key(KeyId="alias/access-default")["KeyMetadata"]["KeyState"] == "Enabled"
    assert arn in [k["KeyArn"] for k in root.list_keys(Limit=1000)["Keys"]]


def test_default_key_policy_lets_users_do_what_their_identity_policy_allows(world: World) -> None:
    key = world.root.create_key()["KeyMetadata"]
    arn = key["Arn"]
    encrypted = world.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"alice")
    assert encrypted["KeyId"] == arn
    assert world.alice.describe_key(KeyId=arn)["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(ClientError) as exc:
        world.alice.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    assert error_of(exc) == denied(ALICE, "kms:Decrypt", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:  # no identity policy at all
        world.bob.encrypt(KeyId=arn, Plaintext=b"bob")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", arn, NO_IDENTITY_ALLOW)


def test_operations_on_no_key_need_an_identity_policy(world: World) -> None:
    assert world.root.list_keys(Limit=1000)["Keys"]
    with pytest.raises(ClientError) as exc:
        world.bob.create_key()
    assert error_of(exc) == denied(BOB, "kms:CreateKey", "*", NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.bob.list_keys()
    assert error_of(exc) == denied(BOB, "kms:ListKeys", "*", NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:  # alice's identity policy allows Encrypt and DescribeKey, not ListKeys
        world.alice.list_keys()
    assert error_of(exc) == denied(ALICE, "kms:ListKeys", "*", NO_IDENTITY_ALLOW)


# -- 2. a key policy naming a user ---------------------------------------------------------------------------------


def test_a_key_policy_naming_a_user_needs_no_identity_policy(world: World) -> None:
    key = _key(world, allow(BOB, "kms:Encrypt"))
    encrypted = world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"bob")
    assert encrypted["KeyId"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        world.bob.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], KeyId=key["Arn"])
    assert error_of(exc) == denied(BOB, "kms:Decrypt", key["Arn"], NO_RESOURCE_ALLOW)
    with pytest.raises(ClientError) as exc:  # the policy names bob, not alice (whose IAM policy allows Encrypt)
        world.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"alice")
    assert error_of(exc) == denied(ALICE, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW)


# -- 3. explicit denies --------------------------------------------------------------------------------------------


def test_an_explicit_deny_in_the_key_policy_beats_an_identity_allow(world: World) -> None:
    key = world.root.create_key(
        Policy=policy(
            allow(A_ROOT, "kms:*"),
            {"Effect": "Deny", "Principal": {"AWS": ALICE}, "Action": "kms:Encrypt", "Resource": "*"},
        )
    )["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        world.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"alice")
    assert error_of(exc) == denied(ALICE, "kms:Encrypt", key["Arn"], DENY_IN_RESOURCE)
    assert world.alice.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]  # not denied
    assert world.root.encrypt(KeyId=key["KeyId"], Plaintext=b"root")["KeyId"] == key["Arn"]  # names alice only


def test_an_explicit_deny_in_an_identity_policy_beats_the_key_policy(world: World) -> None:
    key = world.identity_denied  # its key policy allows alice and bob to Encrypt
    assert world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"bob")["KeyId"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        world.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"alice")
    assert error_of(exc) == denied(ALICE, "kms:Encrypt", key["Arn"], DENY_IN_IDENTITY)


# -- 4. conditions through real requests ---------------------------------------------------------------------------


def test_condition_on_an_encryption_context_value(world: World) -> None:
    key = _key(
        world,
        allow(
            BOB,
            ["kms:Encrypt", "kms:Decrypt"],
            Condition={"StringEquals": {"kms:EncryptionContext:app": "x"}},
        ),
    )
    blob = world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext={"app": "x", "other": "1"})
    assert (
        world.bob.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"app": "x", "other": "1"})[
            "Plaintext"
        ]
        == b"ctx"
    )
    for context in ({}, {"app": "y"}, {"app": "X"}, {"application": "x"}):
        with pytest.raises(ClientError) as exc:
            world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext=context)
        assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW), context


def test_condition_on_encryption_context_keys_for_all_values(world: World) -> None:
    key = _key(
        world,
        allow(
            BOB, "kms:Encrypt", Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app", "env"]}}
        ),
    )
    for context in ({"app": "1"}, {"app": "1", "env": "2"}, {"env": "2"}, {}):
        # ForAllValues holds for a request without any context key, as IAM documents.
        assert world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"k", EncryptionContext=context)["KeyId"] == key["Arn"]
    for context in ({"app": "1", "other": "3"}, {"other": "3"}, {"App": "1"}):
        with pytest.raises(ClientError) as exc:
            world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"k", EncryptionContext=context)
        assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW), context


def test_condition_on_the_caller_account(world: World) -> None:
    key = _key(
        world,
        allow("*", "kms:Encrypt", Condition={"StringEquals": {"kms:CallerAccount": A}}),
        allow("*", "kms:DescribeKey", Condition={"StringEquals": {"kms:CallerAccount": B}}),
    )
    assert world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"a")["KeyId"] == key["Arn"]
    assert world.b_root.describe_key(KeyId=key["Arn"])["KeyMetadata"]["Arn"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        world.b_root.encrypt(KeyId=key["Arn"], Plaintext=b"b")
    assert error_of(exc) == unseen(B_ROOT, "kms:Encrypt")
    with pytest.raises(ClientError) as exc:
        world.bob.describe_key(KeyId=key["KeyId"])
    # ADMIN names A's root for kms:Describe*: bob's account may delegate, bob has no identity policy
    assert error_of(exc) == denied(BOB, "kms:DescribeKey", key["Arn"], NO_IDENTITY_ALLOW)


def test_condition_on_the_encryption_algorithm(world: World) -> None:
    key = _key(
        world,
        allow(BOB, "kms:Encrypt", Condition={"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}),
        KeySpec="RSA_2048",
        KeyUsage="ENCRYPT_DECRYPT",
    )
    done = world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"rsa", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert done["EncryptionAlgorithm"] == "RSAES_OAEP_SHA_256" and len(done["CiphertextBlob"]) == 256
    with pytest.raises(ClientError) as exc:
        world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"rsa", EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW)


def test_condition_on_the_signing_algorithm(world: World) -> None:
    key = _key(
        world,
        allow(BOB, "kms:Sign", Condition={"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}}),
        allow(BOB, "kms:Verify", Condition={"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_384"}}),
        KeySpec="ECC_NIST_P256",
        KeyUsage="SIGN_VERIFY",
    )
    signature = world.bob.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    with pytest.raises(ClientError) as exc:
        world.bob.verify(KeyId=key["KeyId"], Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(exc) == denied(BOB, "kms:Verify", key["Arn"], NO_RESOURCE_ALLOW)


def test_condition_on_the_source_ip(world: World) -> None:
    key = _key(
        world,
        allow(BOB, "kms:Encrypt", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
        allow(BOB, "kms:Decrypt", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    )
    assert world.server.endpoint.startswith("http://127.0.0.1:")
    blob = world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"ip")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        world.bob.decrypt(CiphertextBlob=blob)
    assert error_of(exc) == denied(BOB, "kms:Decrypt", key["Arn"], NO_RESOURCE_ALLOW)


def test_condition_on_the_alias_in_the_request(world: World) -> None:
    key = _key(world, allow(BOB, "kms:Encrypt", Condition={"StringEquals": {"kms:RequestAlias": "alias/access-ra"}}))
    world.root.create_alias(AliasName="alias/access-ra", TargetKeyId=key["KeyId"])
    world.root.create_alias(AliasName="alias/access-ra-other", TargetKeyId=key["KeyId"])
    for name in ("alias/access-ra", f"arn:aws:kms:{REGION}:{A}:alias/access-ra"):
        assert world.bob.encrypt(KeyId=name, Plaintext=b"alias")["KeyId"] == key["Arn"]
    for name in (key["KeyId"], key["Arn"], "alias/access-ra-other"):
        with pytest.raises(ClientError) as exc:
            world.bob.encrypt(KeyId=name, Plaintext=b"alias")
        assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW), name


def test_condition_on_a_resource_tag(world: World) -> None:
    key = _key(
        world,
        allow(BOB, "kms:Encrypt", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}}),
        Tags=[{"TagKey": "team", "TagValue": "blue"}],
    )
    assert world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"tag")["KeyId"] == key["Arn"]
    world.root.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "red"}])
    with pytest.raises(ClientError) as exc:  # the key's tags are read on every request
        world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"tag")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW)
    world.root.untag_resource(KeyId=key["KeyId"], TagKeys=["team"])
    with pytest.raises(ClientError) as exc:
        world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"tag")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW)


def test_not_action(world: World) -> None:
    key = _key(world, {"Effect": "Allow", "Principal": {"AWS": BOB}, "NotAction": "kms:Decrypt", "Resource": "*"})
    blob = world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"not")["CiphertextBlob"]
    assert world.bob.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        world.bob.decrypt(CiphertextBlob=blob)
    assert error_of(exc) == denied(BOB, "kms:Decrypt", key["Arn"], NO_RESOURCE_ALLOW)


def test_null_condition(world: World) -> None:
    key = _key(world, allow(BOB, "kms:Encrypt", Condition={"Null": {"kms:EncryptionContextKeys": "false"}}))
    assert (
        world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"n", EncryptionContext={"any": "thing"})["KeyId"]
        == (key["Arn"])
    )
    with pytest.raises(ClientError) as exc:
        world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"n")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", key["Arn"], NO_RESOURCE_ALLOW)


def test_condition_in_an_identity_policy(world: World) -> None:
    """Conditions hold in identity policies too: alice may GenerateDataKey only with context purpose=backup."""
    key = world.root.create_key()["KeyMetadata"]
    conditional = json.loads(world.alice_policy)
    conditional["Statement"].append(
        {
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": key["Arn"],
            "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "backup"}},
        }
    )
    world.put_alice_policy(json.dumps(conditional))
    try:
        made = world.alice.generate_data_key(
            KeyId=key["Arn"], KeySpec="AES_128", EncryptionContext={"purpose": "backup"}
        )
        assert len(made["Plaintext"]) == 16
        with pytest.raises(ClientError) as exc:
            world.alice.generate_data_key(KeyId=key["Arn"], KeySpec="AES_128", EncryptionContext={"purpose": "x"})
        assert error_of(exc) == denied(ALICE, "kms:GenerateDataKey", key["Arn"], NO_IDENTITY_ALLOW)
    finally:
        world.put_alice_policy(world.alice_policy)


# -- 5. cross-account ----------------------------------------------------------------------------------------------


def test_cross_account_use_by_key_arn(world: World) -> None:
    key = _key(world, allow(B_ROOT, ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]))
    arn = key["Arn"]
    blob = world.carol.encrypt(KeyId=arn, Plaintext=b"carol", EncryptionContext={"c": "1"})
    assert blob["KeyId"] == arn
    assert world.carol.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"c": "1"})["Plaintext"] == (
        b"carol"
    )
    assert world.carol.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"c": "1"}, KeyId=arn)[
        "KeyId"
    ] == (arn)
    assert world.carol.describe_key(KeyId=arn)["KeyMetadata"]["AWSAccountId"] == A
    with pytest.raises(ClientError) as exc:  # a bare key id names a key of the caller's own account
        world.carol.encrypt(KeyId=key["KeyId"], Plaintext=b"carol")
    assert error_of(exc) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:{REGION}:{B}:key/{key['KeyId']}' does not exist",
    )
    assert world.b_root.encrypt(KeyId=arn, Plaintext=b"b-root")["KeyId"] == arn  # the root needs no IAM policy
    with pytest.raises(ClientError) as exc:
        world.dave.encrypt(KeyId=arn, Plaintext=b"dave")
    assert error_of(exc) == denied(DAVE, "kms:Encrypt", arn, NO_IDENTITY_ALLOW)


def test_cross_account_use_needs_the_key_policy(world: World) -> None:
    key = world.root.create_key()["KeyMetadata"]  # the default policy names A's root only
    with pytest.raises(ClientError) as exc:
        world.carol.encrypt(KeyId=key["Arn"], Plaintext=b"carol")
    assert error_of(exc) == unseen(CAROL, "kms:Encrypt")
    with pytest.raises(ClientError) as exc:
        world.b_root.describe_key(KeyId=key["Arn"])
    assert error_of(exc) == unseen(B_ROOT, "kms:DescribeKey")


def test_operations_aws_does_not_allow_cross_account_are_denied(world: World) -> None:
    key = _key(world, allow(B_ROOT, ["kms:DescribeKey", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"]))
    arn = key["Arn"]
    assert world.carol.describe_key(KeyId=arn)["KeyMetadata"]["Arn"] == arn  # both policies are in force
    with pytest.raises(ClientError) as exc:
        world.carol.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert error_of(exc) == unseen(CAROL, "kms:ScheduleKeyDeletion")
    with pytest.raises(ClientError) as exc:
        world.b_root.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert error_of(exc) == unseen(B_ROOT, "kms:ScheduleKeyDeletion")
    with pytest.raises(ClientError) as exc:
        world.carol.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy(allow(CAROL, "kms:*")))
    assert error_of(exc) == unseen(CAROL, "kms:PutKeyPolicy")
    assert world.root.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert json.loads(world.root.get_key_policy(KeyId=arn)["Policy"])["Statement"][0] == ADMIN


def test_another_accounts_key_is_denied_in_words_that_do_not_tell_whether_it_exists(world: World) -> None:
    """AWS's current text for a caller of another account: "... on this resource because the resource does not
    exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies
    access" (docs/aws-semantics.md A.8): the same for a key that denies, one whose policy does not name the
    caller's account, and one that does not exist, so none is told from the others."""
    denying = _key(world, allow(B_ROOT, "kms:*"), {**allow(B_ROOT, "kms:Encrypt"), "Effect": "Deny"})
    silent = _key(world)
    missing = f"arn:aws:kms:{REGION}:{A}:key/00000000-0000-0000-0000-000000000000"
    answers = []
    for key_id in (denying["Arn"], silent["Arn"], missing, f"arn:aws:kms:{REGION}:{A}:alias/no-such-alias"):
        with pytest.raises(ClientError) as exc:
            world.carol.encrypt(KeyId=key_id, Plaintext=b"carol")
        answers.append(error_of(exc))
    assert answers == [unseen(CAROL, "kms:Encrypt")] * 4
    assert world.carol.describe_key(KeyId=denying["Arn"])["KeyMetadata"]["Arn"] == denying["Arn"]  # only Encrypt
    with pytest.raises(ClientError) as exc:  # the caller's own account has no such key: that is not hidden
        world.carol.encrypt(KeyId=missing.replace(A, B), Plaintext=b"carol")
    assert error_of(exc) == ("NotFoundException", f"Key '{missing.replace(A, B)}' does not exist")
    with pytest.raises(ClientError) as exc:  # the caller's own explicit deny is its own account's: named as such
        world.alice.encrypt(KeyId=world.identity_denied["Arn"], Plaintext=b"a")
    assert error_of(exc) == denied(ALICE, "kms:Encrypt", world.identity_denied["Arn"], DENY_IN_IDENTITY)


def test_a_ciphertext_of_another_accounts_key_is_denied_as_the_resource_associated_with_it(world: World) -> None:
    key = world.root.create_key()["KeyMetadata"]  # the default policy names A's root only
    blob = world.root.encrypt(KeyId=key["KeyId"], Plaintext=b"a's")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        world.carol.decrypt(CiphertextBlob=blob)
    assert error_of(exc) == unseen(CAROL, "kms:Decrypt", CIPHERTEXT_RESOURCE)
    with pytest.raises(ClientError) as exc:
        world.b_root.re_encrypt(CiphertextBlob=blob, DestinationKeyId=world.b_root.create_key()["KeyMetadata"]["Arn"])
    assert error_of(exc) == unseen(B_ROOT, "kms:ReEncryptFrom", CIPHERTEXT_RESOURCE)
    with pytest.raises(ClientError) as exc:  # naming the key: the text is about the key, and names none
        world.carol.decrypt(CiphertextBlob=blob, KeyId=key["Arn"])
    assert error_of(exc) == unseen(CAROL, "kms:Decrypt")


# -- 6. Decrypt without KeyId --------------------------------------------------------------------------------------


def test_decrypt_without_key_id_is_authorized_against_the_key_in_the_ciphertext(world: World) -> None:
    key1 = world.root.create_key()["KeyMetadata"]
    blob1 = world.root.encrypt(KeyId=key1["KeyId"], Plaintext=b"one")["CiphertextBlob"]
    blob2 = world.root.encrypt(KeyId=world.key2["KeyId"], Plaintext=b"two")["CiphertextBlob"]
    opened = world.alice.decrypt(CiphertextBlob=blob2)
    assert (opened["Plaintext"], opened["KeyId"]) == (b"two", world.key2["Arn"])
    with pytest.raises(ClientError) as exc:
        world.alice.decrypt(CiphertextBlob=blob1)
    assert error_of(exc) == denied(ALICE, "kms:Decrypt", key1["Arn"], NO_IDENTITY_ALLOW)


# -- 7. policy validation and the lockout check --------------------------------------------------------------------


def test_policy_documents_are_validated(world: World) -> None:
    root = world.root
    target = root.create_key()["KeyMetadata"]
    before = root.get_key_policy(KeyId=target["KeyId"])["Policy"]
    count = len(root.list_keys(Limit=1000)["Keys"])
    no_principal = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    bad_operator = allow(A_ROOT, "kms:*", Condition={"StringEqualz": {"kms:CallerAccount": A}})
    for document, message in (
        ('{"Version": "2012-10-17", "Statement": [', "Syntax errors in policy."),
        (policy(no_principal), "Policy contains a statement with no principal."),
        (policy(bad_operator), "Syntax errors in policy."),
        (policy(allow("someone", "kms:*")), "Policy contains a statement with one or more invalid principals."),
    ):
        with pytest.raises(ClientError) as exc:
            root.create_key(Policy=document)
        assert error_of(exc) == ("MalformedPolicyDocumentException", message), document
        with pytest.raises(ClientError) as exc:
            root.put_key_policy(KeyId=target["KeyId"], PolicyName="default", Policy=document)
        assert error_of(exc) == ("MalformedPolicyDocumentException", message), document
    assert len(root.list_keys(Limit=1000)["Keys"]) == count
    assert root.get_key_policy(KeyId=target["KeyId"])["Policy"] == before


def test_the_lockout_safety_check(world: World) -> None:
    root = world.root
    locking = policy(allow(BOB, "kms:*"))
    lockout = (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    count = len(root.list_keys(Limit=1000)["Keys"])
    with pytest.raises(ClientError) as exc:
        root.create_key(Policy=locking)
    assert error_of(exc) == lockout
    assert len(root.list_keys(Limit=1000)["Keys"]) == count
    key = root.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locking)
    assert error_of(exc) == lockout
    assert "kms:*" in root.get_key_policy(KeyId=key["KeyId"])["Policy"]  # unchanged: root still manages it
    # A policy that leaves the caller PutKeyPolicy passes the check.
    root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy(ADMIN, allow(BOB, "kms:Encrypt")))
    assert world.bob.encrypt(KeyId=key["KeyId"], Plaintext=b"b")["KeyId"] == key["Arn"]
    # Bypassing the check: the key is created and the root is locked out of it from then on.
    bypassed = root.create_key(Policy=locking, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    assert world.bob.encrypt(KeyId=bypassed["KeyId"], Plaintext=b"b")["KeyId"] == bypassed["Arn"]
    with pytest.raises(ClientError) as exc:
        root.put_key_policy(KeyId=bypassed["KeyId"], PolicyName="default", Policy=policy(allow(A_ROOT, "kms:*")))
    assert error_of(exc) == denied(A_ROOT, "kms:PutKeyPolicy", bypassed["Arn"], NO_RESOURCE_ALLOW)
    root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locking, BypassPolicyLockoutSafetyCheck=True)
    with pytest.raises(ClientError) as exc:
        root.describe_key(KeyId=key["KeyId"])
    assert error_of(exc) == denied(A_ROOT, "kms:DescribeKey", key["Arn"], NO_RESOURCE_ALLOW)


# -- 8 and 9. identity policies through `trent admin` --------------------------------------------------------------


def test_an_identity_policy_change_applies_to_the_very_next_request(world: World) -> None:
    key = world.root.create_key()["KeyMetadata"]

    def attempt() -> str:
        try:
            world.alice.generate_data_key(KeyId=key["Arn"], NumberOfBytes=16)
        except ClientError as exc:
            error = exc.response["Error"]
            assert (error["Code"], error["Message"]) == denied(
                ALICE, "kms:GenerateDataKey", key["Arn"], NO_IDENTITY_ALLOW
            )
            return "denied"
        return "allowed"

    wider = json.loads(world.alice_policy)
    wider["Statement"].append({"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key["Arn"]})
    try:
        assert [attempt() for _ in range(4)] == ["denied"] * 4
        world.put_alice_policy(json.dumps(wider))
        assert [attempt() for _ in range(4)] == ["allowed"] * 4
    finally:
        world.put_alice_policy(world.alice_policy)
    assert [attempt() for _ in range(4)] == ["denied"] * 4


def test_admin_refuses_invalid_identity_policies_and_shows_what_was_put(world: World, tmp_path: Path) -> None:
    for document, reason in (
        ('{"Statement": [', "Syntax errors in policy."),
        (policy(allow(ALICE, "kms:*")), "Policy document should not specify a principal."),
        (policy({"Effect": "Allow", "Action": "kms:*"}), "Policy statement must contain resources."),
    ):
        done = admin(
            world.data_dir,
            "put-user-policy",
            "--account-id",
            A,
            "--user",
            "alice",
            "--policy-document",
            document,
            check=False,
        )
        assert done.returncode == 1, done
        assert done.stderr == f"Error: the policy document is not valid: {reason}\n"
    shown = admin(world.data_dir, "get-user-policy", "--account-id", A, "--user", "alice")
    assert shown.stdout == world.alice_policy + "\n"  # the refused documents changed nothing
    assert world.alice.encrypt(KeyId=world.key2["KeyId"], Plaintext=b"still")["KeyId"] == world.key2["Arn"]
    missing = admin(world.data_dir, "get-user-policy", "--account-id", B, "--user", "dave", check=False)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "user dave has no identity policy\n")
    nobody = admin(
        world.data_dir,
        "put-user-policy",
        "--account-id",
        A,
        "--user",
        "zed",
        "--policy-document",
        world.alice_policy,
        check=False,
    )
    assert nobody.returncode == 1
    assert nobody.stderr == f"Error: user arn:aws:iam::{A}:user/zed does not exist (trent admin create-user)\n"
    # From a file, as typed in it (whitespace and all), and shown back verbatim.
    pretty = json.dumps(json.loads(world.alice_policy), indent=4)
    path = tmp_path / "alice.json"
    path.write_text(pretty)
    world.put_alice_policy(f"@{path}")
    try:
        assert admin(world.data_dir, "get-user-policy", "--account-id", A, "--user", "alice").stdout == pretty + "\n"
    finally:
        world.put_alice_policy(world.alice_policy)
    assert admin(world.data_dir, "get-user-policy", "--account-id", A, "--user", "alice").stdout == (
        world.alice_policy + "\n"
    )


# -- 6. revocation: access keys deactivated or deleted, users and accounts deleted ------------------------------------

INVALID_TOKEN = ("UnrecognizedClientException", "The security token included in the request is invalid.")


def _fresh_clients(world: World, key: tuple[str, str], n: int = 8) -> list[Any]:
    """n clients, each on its own connection: the kernel spreads them over the server's workers."""
    return [kms_client(world.server.endpoint, access_key=key[0], secret=key[1]) for _ in range(n)]


def _all_refused(clients: list[Any]) -> None:
    for client in clients:
        with pytest.raises(ClientError) as exc:
            client.list_keys()
        assert error_of(exc) == INVALID_TOKEN


def _audited(world: World, event_name: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--data-dir", str(world.data_dir), "--event-name", event_name],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_an_inactive_or_deleted_access_key_is_refused_on_the_next_request_on_every_worker(world: World) -> None:
    admin(world.data_dir, "create-user", "--account-id", A, "erin")
    admin(
        world.data_dir,
        "put-user-policy",
        "--account-id",
        A,
        "--user",
        "erin",
        "--policy-document",
        policy({"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}),
    )
    key = ("AKIAREVOKEERIN000001", "revoke-erin-secret-0001")
    admin(world.data_dir, "create-access-key", "--account-id", A, "--user", "erin", "--access-key-id", key[0],
          "--secret-access-key", key[1])  # fmt: skip
    kept = kms_client(world.server.endpoint, access_key=key[0], secret=key[1])
    for client in [kept, *_fresh_clients(world, key)]:  # every worker has read (and remembers) the key
        assert client.list_keys()["Truncated"] is False

    admin(world.data_dir, "update-access-key", key[0], "--status", "Inactive")  # the data directory's account: A
    _all_refused([kept, *_fresh_clients(world, key)])  # the kept connection too: its next request
    listed = admin(world.data_dir, "list-access-keys", "--account-id", A).stdout
    assert f"{key[0]}\t{A}\t{ALICE.replace('alice', 'erin')}\tinactive" in listed
    admin(world.data_dir, "update-access-key", key[0], "--status", "Active", "--user", "erin")
    assert all(c.list_keys()["Truncated"] is False for c in [kept, *_fresh_clients(world, key)])

    conflict = admin(world.data_dir, "delete-user", "erin", check=False)
    assert (conflict.returncode, conflict.stderr) == (
        1,
        "Error: DeleteConflict: Cannot delete entity, must delete access keys first.\n",
    )
    admin(world.data_dir, "delete-access-key", key[0])
    _all_refused([kept, *_fresh_clients(world, key)])
    again = admin(world.data_dir, "delete-access-key", key[0], check=False)
    assert again.stderr == f"Error: The Access Key with id {key[0]} cannot be found (in account {A}).\n"
    conflict = admin(world.data_dir, "delete-user", "erin", check=False)
    assert conflict.stderr == "Error: DeleteConflict: Cannot delete entity, must delete policies first.\n"
    admin(world.data_dir, "delete-user-policy", "--user", "erin")
    admin(world.data_dir, "delete-user", "erin")
    assert "user/erin" not in admin(world.data_dir, "list-users").stdout
    gone = admin(world.data_dir, "delete-user", "erin", check=False)
    assert gone.stderr == f"Error: The user with name erin cannot be found (in account {A}).\n"

    events = {name: _audited(world, name) for name in ("UpdateAccessKey", "DeleteAccessKey", "DeleteUser")}
    assert [e["requestParameters"]["status"] for e in events["UpdateAccessKey"]] == ["Inactive", "Active"]
    deleted = events["DeleteAccessKey"][0]
    assert deleted["eventSource"] == "iam.amazonaws.com" and deleted["recipientAccountId"] == A
    assert deleted["requestParameters"] == {"accessKeyId": key[0], "userName": "erin"}
    assert deleted["userIdentity"]["arn"] == A_ROOT and deleted["userAgent"] == "trent-admin"
    assert events["DeleteUser"][0]["requestParameters"] == {"userName": "erin"}
    assert all(key[1] not in json.dumps(e) for found in events.values() for e in found)
    verified = subprocess.run(
        [*trent_command(), "audit", "verify", "--data-dir", str(world.data_dir)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_access_key_of_another_account_or_user_is_not_found(world: World) -> None:
    other_account = admin(world.data_dir, "update-access-key", B_ROOT_KEY[0], "--status", "Inactive", check=False)
    assert other_account.stderr == f"Error: The Access Key with id {B_ROOT_KEY[0]} cannot be found (in account {A}).\n"
    other_user = admin(
        world.data_dir, "delete-access-key", "--account-id", B, "--user", "carol", B_ROOT_KEY[0], check=False
    )
    assert other_user.returncode == 1 and "cannot be found" in other_user.stderr
    assert world.b_root.list_keys()["Truncated"] is False  # neither touched it


def test_an_account_is_deleted_only_when_empty_and_not_the_data_directory_s(world: World) -> None:
    held = admin(world.data_dir, "delete-account", B, check=False)
    assert held.returncode == 1
    assert held.stderr.startswith(f"Error: DeleteConflict: Cannot delete account {B}, it still has ")
    assert "2 user(s), 3 access key(s)." in held.stderr  # carol and dave; B's root, carol's and dave's keys
    own = admin(world.data_dir, "delete-account", A, check=False)
    assert own.stderr == f"Error: account {A} is the data directory's own account; it cannot be deleted\n"
    admin(world.data_dir, "create-account", "999988887777", "--access-key-id", "AKIADOOMEDACCOUNT001",
          "--secret-access-key", "doomed-account-secret-1")  # fmt: skip
    doomed = kms_client(world.server.endpoint, access_key="AKIADOOMEDACCOUNT001", secret="doomed-account-secret-1")
    doomed.create_key()
    assert "1 key(s)" in admin(world.data_dir, "delete-account", "999988887777", check=False).stderr
    admin(world.data_dir, "delete-access-key", "--account-id", "999988887777", "AKIADOOMEDACCOUNT001")
    assert (
        "1 key(s) (schedule their deletion"
        in admin(world.data_dir, "delete-account", "999988887777", check=False).stderr
    )
    assert "999988887777" in admin(world.data_dir, "list-accounts").stdout
    _all_refused(_fresh_clients(world, ("AKIADOOMEDACCOUNT001", "doomed-account-secret-1"), 2))
    missing = admin(world.data_dir, "delete-account", "999988887776", check=False)
    assert (
        missing.stderr
        == "Error: account 999988887776 does not exist (trent admin create-account 999988887776 makes it)\n"
    )
    admin(world.data_dir, "create-account", "999988887770", "--no-access-key")
    assert admin(world.data_dir, "delete-account", "999988887770").stdout == "deleted account 999988887770\n"
    assert "999988887770" not in admin(world.data_dir, "list-accounts").stdout
    after = admin(world.data_dir, "create-access-key", "--account-id", "999988887770", check=False)
    assert after.returncode == 1 and "account 999988887770 does not exist" in after.stderr
    assert [e["requestParameters"] for e in _audited(world, "DeleteAccount")] == [{"accountId": "999988887770"}]
