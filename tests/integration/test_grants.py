"""Grants end to end through boto3 against a real `trent serve`: what a grant allows and under which encryption
context constraints, listing, name idempotency, validation, retiring and revoking, cross-account grantees and
grants made on the authority of another grant.

Account A (111122223333, the server's) has users alice and bob; account B (444455556666) has users carol and
dave. No user has an identity policy: whatever they may do, a grant allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.principals import (
    A_ROOT,
    ALICE,
    BOB,
    CAROL,
    CIPHERTEXT_RESOURCE,
    DAVE,
    NO_IDENTITY_ALLOW,
    NO_RESOURCE_ALLOW,
    A,
    B,
    admin,
    denied,
    unseen,
    user_client,
)
from tests.support import TrentServer, error_of, kms_client

B_ROOT_KEY = ("AKIAGRANTSBROOT00001", "grants-b-root-secret-0001")
DRY_RUN = ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")


@dataclass(frozen=True)
class World:
    server: TrentServer
    root: Any  # account A's root
    b_root: Any
    alice: Any
    bob: Any
    carol: Any
    dave: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with TrentServer(tmp_path_factory.mktemp("grants")) as server:
        admin(
            server.data_dir, "create-account", B, "--access-key-id", B_ROOT_KEY[0], "--secret-access-key", B_ROOT_KEY[1]
        )
        alice, bob = user_client(server, A, "alice", "grants"), user_client(server, A, "bob", "grants")
        carol, dave = user_client(server, B, "carol", "grants"), user_client(server, B, "dave", "grants")
        b_root = kms_client(server.endpoint, access_key=B_ROOT_KEY[0], secret=B_ROOT_KEY[1])
        yield World(server, server.client(), b_root, alice, bob, carol, dave)


def _new_key(world: World, **create: Any) -> dict[str, Any]:
    meta: dict[str, Any] = world.root.create_key(**create)["KeyMetadata"]  # the default key policy
    return meta


def _grant_ids(world: World, key_id: str) -> list[str]:
    return [g["GrantId"] for g in world.root.list_grants(KeyId=key_id)["Grants"]]


# -- 1. what a grant allows ----------------------------------------------------------------------------------------


def test_a_grant_allows_its_operations_when_its_constraints_hold(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    made = world.root.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=BOB,
        Operations=["Encrypt", "Decrypt", "GenerateDataKey"],
        RetiringPrincipal=ALICE,
        Constraints={"EncryptionContextSubset": {"app": "x"}},
    )
    token = made["GrantToken"]
    assert len(made["GrantId"]) == 64
    context = {"app": "x", "more": "y"}
    blob = world.bob.encrypt(KeyId=arn, Plaintext=b"granted", EncryptionContext=context, GrantTokens=[token])
    assert blob["KeyId"] == arn
    opened = world.bob.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=context, GrantTokens=[token])
    assert opened["Plaintext"] == b"granted"
    data_key = world.bob.generate_data_key(
        KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"app": "x"}, GrantTokens=[token]
    )
    assert len(data_key["Plaintext"]) == 32
    # The grant is in force without its token too: the store is strongly consistent.
    assert world.bob.encrypt(KeyId=arn, Plaintext=b"g", EncryptionContext={"app": "x"})["KeyId"] == arn
    for other in ({}, {"app": "z"}, {"more": "y"}, {"app": "X"}):
        with pytest.raises(ClientError) as exc:
            world.bob.encrypt(KeyId=arn, Plaintext=b"granted", EncryptionContext=other, GrantTokens=[token])
        assert error_of(exc) == denied(BOB, "kms:Encrypt", arn, NO_IDENTITY_ALLOW), other
    with pytest.raises(ClientError) as exc:  # the decrypting request's context must satisfy the constraint too
        world.bob.decrypt(CiphertextBlob=world.root.encrypt(KeyId=arn, Plaintext=b"r")["CiphertextBlob"])
    assert error_of(exc) == denied(BOB, "kms:Decrypt", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.bob.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256", GrantTokens=[token])
    assert error_of(exc) == denied(BOB, "kms:Sign", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.bob.describe_key(KeyId=arn, GrantTokens=[token])
    assert error_of(exc) == denied(BOB, "kms:DescribeKey", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.bob.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert error_of(exc) == denied(BOB, "kms:ScheduleKeyDeletion", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:  # a grant for bob is not one for alice
        world.alice.encrypt(KeyId=arn, Plaintext=b"a", EncryptionContext={"app": "x"}, GrantTokens=[token])
    assert error_of(exc) == denied(ALICE, "kms:Encrypt", arn, NO_IDENTITY_ALLOW)
    assert world.root.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"


def test_encryption_context_equals_is_an_exact_match(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    world.root.create_grant(
        KeyId=arn,
        GranteePrincipal=BOB,
        Operations=["Encrypt"],
        Constraints={"EncryptionContextEquals": {"app": "x"}},
    )
    assert world.bob.encrypt(KeyId=arn, Plaintext=b"e", EncryptionContext={"app": "x"})["KeyId"] == arn
    # "In a grant constraint, the key in each key-value pair is not case sensitive, but the value is."
    assert world.bob.encrypt(KeyId=arn, Plaintext=b"e", EncryptionContext={"APP": "x"})["KeyId"] == arn
    for other in ({"app": "x", "more": "y"}, {}, {"app": "X"}, {"app": "y"}):
        with pytest.raises(ClientError) as exc:
            world.bob.encrypt(KeyId=arn, Plaintext=b"e", EncryptionContext=other)
        assert error_of(exc) == denied(BOB, "kms:Encrypt", arn, NO_IDENTITY_ALLOW), other


# -- 3. listing ----------------------------------------------------------------------------------------------------


def test_list_grants_and_list_retirable_grants(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    main = world.root.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=BOB,
        Operations=["Encrypt", "Decrypt", "GenerateDataKey"],
        RetiringPrincipal=ALICE,
        Constraints={"EncryptionContextSubset": {"app": "x"}},
        Name="main",
    )["GrantId"]
    listed = world.root.list_grants(KeyId=key["KeyId"])
    assert listed["Truncated"] is False and "NextMarker" not in listed
    (entry,) = listed["Grants"]
    assert isinstance(entry.pop("CreationDate"), datetime)
    assert sorted(entry.pop("Operations")) == ["Decrypt", "Encrypt", "GenerateDataKey"]
    assert entry == {
        "KeyId": arn,
        "GrantId": main,
        "Name": "main",
        "GranteePrincipal": BOB,
        "RetiringPrincipal": ALICE,
        "IssuingAccount": A_ROOT,
        "Constraints": {"EncryptionContextSubset": {"app": "x"}},
    }
    others = {
        world.root.create_grant(KeyId=arn, GranteePrincipal=ALICE, Operations=[op])["GrantId"]
        for op in ("Encrypt", "Decrypt")
    }
    assert [g["GrantId"] for g in world.root.list_grants(KeyId=arn, GrantId=main)["Grants"]] == [main]
    by_alice = world.root.list_grants(KeyId=arn, GranteePrincipal=ALICE)["Grants"]
    assert {g["GrantId"] for g in by_alice} == others
    assert world.root.list_grants(KeyId=arn, GranteePrincipal=CAROL)["Grants"] == []
    pages, marker = [], None
    while True:
        page = world.root.list_grants(KeyId=arn, Limit=1, **({"Marker": marker} if marker else {}))
        pages.append([g["GrantId"] for g in page["Grants"]])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert len(pages) == 3 and all(len(p) == 1 for p in pages)
    assert {p[0] for p in pages} == others | {main}
    retirable = world.root.list_retirable_grants(RetiringPrincipal=ALICE, Limit=1000)["Grants"]
    assert [(g["GrantId"], g["RetiringPrincipal"]) for g in retirable if g["KeyId"] == arn] == [(main, ALICE)]
    assert world.root.list_retirable_grants(RetiringPrincipal=BOB)["Grants"] == []  # bob retires nothing


def test_list_retirable_grants_does_not_show_another_accounts_grants(world: World) -> None:
    """ListRetirableGrants: "You must specify a principal in your AWS account." Account B must not learn the grants
    (ids, keys, grantees) whose retiring principal is a user of account A."""
    key = _new_key(world)
    secret = world.root.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=BOB, Operations=["Decrypt"], RetiringPrincipal=ALICE
    )["GrantId"]
    assert secret in [g["GrantId"] for g in world.root.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]]
    try:
        shown = world.b_root.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDeniedException"
    else:
        assert [(g["GrantId"], g["KeyId"]) for g in shown if g["GrantId"] == secret] == []


# -- 4. idempotency by name ----------------------------------------------------------------------------------------


def test_the_same_name_and_parameters_return_the_same_grant(world: World) -> None:
    key = _new_key(world)
    params: dict[str, Any] = {
        "KeyId": key["KeyId"],
        "GranteePrincipal": BOB,
        "Operations": ["Encrypt", "Decrypt"],
        "Name": "idempotent",
    }
    first = world.root.create_grant(**params)
    again = world.root.create_grant(**params)
    assert again["GrantId"] == first["GrantId"]
    assert again["GrantToken"] != first["GrantToken"]
    assert _grant_ids(world, key["KeyId"]) == [first["GrantId"]]
    renamed = world.root.create_grant(**{**params, "Name": "another"})
    assert renamed["GrantId"] != first["GrantId"]
    widened = world.root.create_grant(**{**params, "Operations": ["Encrypt", "Decrypt", "GenerateDataKey"]})
    assert widened["GrantId"] not in (first["GrantId"], renamed["GrantId"])
    assert sorted(_grant_ids(world, key["KeyId"])) == sorted([first["GrantId"], renamed["GrantId"], widened["GrantId"]])


# -- 5. validation -------------------------------------------------------------------------------------------------


def test_create_grant_validation(world: World) -> None:
    key = _new_key(world)
    base: dict[str, Any] = {"KeyId": key["KeyId"], "GranteePrincipal": BOB}
    with pytest.raises(ClientError) as exc:
        world.root.create_grant(**base, Operations=["CreateGrant"])
    assert error_of(exc) == ("ValidationException", "Grants must not contain only the CreateGrant operation.")
    with pytest.raises(ClientError) as exc:
        world.root.create_grant(**base, Operations=["Encrypt", "Sign"])
    assert error_of(exc) == (
        "ValidationException",
        "Grant operations Sign are not valid for a KMS key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT.",
    )
    world.root.create_alias(AliasName="alias/grants-validation", TargetKeyId=key["KeyId"])
    for alias in ("alias/grants-validation", f"arn:aws:kms:us-east-1:{A}:alias/grants-validation"):
        with pytest.raises(ClientError) as exc:
            world.root.create_grant(KeyId=alias, GranteePrincipal=BOB, Operations=["Encrypt"])
        assert error_of(exc) == ("InvalidArnException", "Key Aliases are not supported for this operation."), alias
    with pytest.raises(ClientError) as exc:
        world.root.encrypt(KeyId=key["KeyId"], Plaintext=b"t", GrantTokens=["not-a-grant-token"])
    assert error_of(exc) == ("InvalidGrantTokenException", "Invalid grant token")
    with pytest.raises(ClientError) as exc:
        world.root.create_grant(**base, Operations=["Encrypt"], DryRun=True)
    assert error_of(exc) == DRY_RUN
    assert _grant_ids(world, key["KeyId"]) == []  # none of the refused requests made a grant
    assert world.root.encrypt(KeyId=key["KeyId"], Plaintext=b"t")["KeyId"] == key["Arn"]


# -- 6. retiring and revoking --------------------------------------------------------------------------------------


def test_retire_grant(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    made = world.root.create_grant(
        KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt", "Decrypt"], RetiringPrincipal=ALICE
    )
    with pytest.raises(ClientError) as exc:  # the grantee, without RetireGrant in its grant
        world.bob.retire_grant(GrantToken=made["GrantToken"])
    assert error_of(exc) == denied(BOB, "kms:RetireGrant", arn, NO_RESOURCE_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.bob.retire_grant(KeyId=arn, GrantId=made["GrantId"])
    assert error_of(exc) == denied(BOB, "kms:RetireGrant", arn, NO_RESOURCE_ALLOW)
    assert world.bob.encrypt(KeyId=arn, Plaintext=b"still")["KeyId"] == arn
    world.alice.retire_grant(GrantToken=made["GrantToken"])
    assert _grant_ids(world, arn) == []
    with pytest.raises(ClientError) as exc:
        world.bob.encrypt(KeyId=arn, Plaintext=b"gone")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:  # retired once: it is gone
        world.alice.retire_grant(GrantToken=made["GrantToken"])
    assert error_of(exc) == ("NotFoundException", f"Grant ID {made['GrantId']} not found")
    # A grantee whose grant lists RetireGrant may retire it.
    own = world.root.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt", "RetireGrant"])
    world.bob.retire_grant(KeyId=arn, GrantId=own["GrantId"])
    assert _grant_ids(world, arn) == []


def test_revoke_grant(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    grant_id = world.root.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt"])["GrantId"]
    assert world.bob.encrypt(KeyId=arn, Plaintext=b"r")["KeyId"] == arn
    world.root.revoke_grant(KeyId=key["KeyId"], GrantId=grant_id)
    assert _grant_ids(world, arn) == []
    with pytest.raises(ClientError) as exc:
        world.bob.encrypt(KeyId=arn, Plaintext=b"r")
    assert error_of(exc) == denied(BOB, "kms:Encrypt", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.root.revoke_grant(KeyId=key["KeyId"], GrantId=grant_id)
    assert error_of(exc) == ("NotFoundException", f"Grant ID {grant_id} not found")
    with pytest.raises(ClientError) as exc:
        world.root.revoke_grant(KeyId=key["KeyId"], GrantId="not-a-grant-id")
    assert error_of(exc) == ("InvalidGrantIdException", "Invalid grant ID not-a-grant-id")
    other = _new_key(world)  # a grant id of another key is not found under this one
    elsewhere = world.root.create_grant(KeyId=other["KeyId"], GranteePrincipal=BOB, Operations=["Encrypt"])["GrantId"]
    with pytest.raises(ClientError) as exc:
        world.root.revoke_grant(KeyId=key["KeyId"], GrantId=elsewhere)
    assert error_of(exc) == ("NotFoundException", f"Grant ID {elsewhere} not found")
    assert _grant_ids(world, other["KeyId"]) == [elsewhere]


# -- 7. cross-account grantee --------------------------------------------------------------------------------------


def test_a_grant_to_a_user_of_another_account(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    with pytest.raises(ClientError) as exc:  # the key policy does not name account B
        world.carol.encrypt(KeyId=arn, Plaintext=b"c")
    assert error_of(exc) == unseen(CAROL, "kms:Encrypt")
    world.root.create_grant(KeyId=arn, GranteePrincipal=CAROL, Operations=["Encrypt", "DescribeKey"])
    blob = world.carol.encrypt(KeyId=arn, Plaintext=b"carol")
    assert blob["KeyId"] == arn
    assert world.carol.describe_key(KeyId=arn)["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(ClientError) as exc:  # not a granted operation
        world.carol.decrypt(CiphertextBlob=blob["CiphertextBlob"])
    assert error_of(exc) == unseen(CAROL, "kms:Decrypt", CIPHERTEXT_RESOURCE)
    with pytest.raises(ClientError) as exc:
        world.carol.generate_data_key(KeyId=arn, KeySpec="AES_256")
    assert error_of(exc) == unseen(CAROL, "kms:GenerateDataKey")
    with pytest.raises(ClientError) as exc:  # another user of B is not the grantee
        world.dave.encrypt(KeyId=arn, Plaintext=b"d")
    assert error_of(exc) == unseen(DAVE, "kms:Encrypt")
    assert world.root.decrypt(CiphertextBlob=blob["CiphertextBlob"])["Plaintext"] == b"carol"


# -- 8. grants made on the authority of a grant --------------------------------------------------------------------


def test_a_grant_with_create_grant_allows_sub_grants_of_its_operations_only(world: World) -> None:
    key = _new_key(world)
    arn = key["Arn"]
    parent = world.root.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt", "Decrypt", "CreateGrant"])
    with pytest.raises(ClientError) as exc:  # alice has nothing yet
        world.alice.encrypt(KeyId=arn, Plaintext=b"a")
    assert error_of(exc) == denied(ALICE, "kms:Encrypt", arn, NO_IDENTITY_ALLOW)
    child = world.bob.create_grant(
        KeyId=arn, GranteePrincipal=ALICE, Operations=["Encrypt"], GrantTokens=[parent["GrantToken"]]
    )
    blob = world.alice.encrypt(KeyId=arn, Plaintext=b"alice", GrantTokens=[child["GrantToken"]])
    assert blob["KeyId"] == arn
    with pytest.raises(ClientError) as exc:  # the sub-grant gave Encrypt only
        world.alice.decrypt(CiphertextBlob=blob["CiphertextBlob"])
    assert error_of(exc) == denied(ALICE, "kms:Decrypt", arn, NO_IDENTITY_ALLOW)
    with pytest.raises(ClientError) as exc:
        world.bob.create_grant(KeyId=arn, GranteePrincipal=ALICE, Operations=["Encrypt", "GenerateDataKey"])
    assert error_of(exc) == (
        "AccessDeniedException",
        "The grant operations exceed those of the grant that allows CreateGrant.",
    )
    entries = {g["GrantId"]: g for g in world.root.list_grants(KeyId=arn)["Grants"]}
    assert set(entries) == {parent["GrantId"], child["GrantId"]}
    assert (entries[child["GrantId"]]["GranteePrincipal"], entries[child["GrantId"]]["Operations"]) == (
        ALICE,
        ["Encrypt"],
    )
    with pytest.raises(ClientError) as exc:  # alice's grant has no CreateGrant
        world.alice.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt"])
    assert error_of(exc) == denied(ALICE, "kms:CreateGrant", arn, NO_IDENTITY_ALLOW)
