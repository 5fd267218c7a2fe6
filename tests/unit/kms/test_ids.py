"""parse_key_identifier: the one parser for a KeyId parameter (docs/aws-semantics.md A.3)."""

from __future__ import annotations

import pytest

from trent.kms.errors import NotFoundException
from trent.kms.ids import (
    AccountId,
    AliasName,
    KeyId,
    KeyRef,
    Region,
    alias_arn,
    is_key_id,
    key_arn,
    parse_key_identifier,
)

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MRK_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
REGION = "us-west-2"
ACCOUNT = "111122223333"


def test_key_id() -> None:
    ref = parse_key_identifier(KEY_ID)
    assert ref == KeyRef(key_id=KeyId(KEY_ID))
    assert not ref.is_alias
    assert not ref.is_arn


def test_multi_region_key_id() -> None:
    assert parse_key_identifier(MRK_ID) == KeyRef(key_id=KeyId(MRK_ID))


def test_key_arn() -> None:
    ref = parse_key_identifier(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}")
    assert ref == KeyRef(key_id=KeyId(KEY_ID), region=Region(REGION), account=AccountId(ACCOUNT))
    assert ref.is_arn
    assert not ref.is_alias


def test_key_arn_in_another_partition() -> None:
    ref = parse_key_identifier(f"arn:aws-us-gov:kms:us-gov-west-1:{ACCOUNT}:key/{KEY_ID}")
    assert ref == KeyRef(key_id=KeyId(KEY_ID), region=Region("us-gov-west-1"), account=AccountId(ACCOUNT))


def test_alias_name() -> None:
    ref = parse_key_identifier("alias/ExampleAlias")
    assert ref == KeyRef(alias_name=AliasName("alias/ExampleAlias"))
    assert ref.is_alias
    assert not ref.is_arn


def test_alias_arn() -> None:
    ref = parse_key_identifier(f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/ExampleAlias")
    assert ref == KeyRef(alias_name=AliasName("alias/ExampleAlias"), region=Region(REGION), account=AccountId(ACCOUNT))
    assert ref.is_alias
    assert ref.is_arn


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "fake-key-id",
        # A UUID without its dashes is not a key id (recorded from AWS, docs/aws-semantics.md A.3).
        "134f2428cec14b25a1ae9048164dba47",
        "mrk-fake-key-id",
        KEY_ID.upper(),
        KEY_ID + "0",
        " " + KEY_ID,
        "",
    ],
)
def test_not_a_key_identifier(value: str) -> None:
    with pytest.raises(NotFoundException) as raised:
        parse_key_identifier(value)
    assert raised.value.message == f"Invalid keyId '{value}'"


def test_garbage_message_is_exact() -> None:
    with pytest.raises(NotFoundException) as raised:
        parse_key_identifier("x")
    assert raised.value.message == "Invalid keyId 'x'"
    assert raised.value.code == "NotFoundException"


def test_key_arn_with_an_invalid_key_id() -> None:
    with pytest.raises(NotFoundException) as raised:
        parse_key_identifier(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/not-a-key")
    assert raised.value.message == "Invalid keyId 'not-a-key'"


@pytest.mark.parametrize(
    "value",
    [
        f"arn:aws:s3:{REGION}:{ACCOUNT}:key/{KEY_ID}",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:grant/{KEY_ID}",
        "arn:aws:kms",
    ],
)
def test_malformed_arn(value: str) -> None:
    with pytest.raises(NotFoundException) as raised:
        parse_key_identifier(value)
    assert raised.value.message == f"Invalid arn {value}"


def test_is_key_id() -> None:
    assert is_key_id(KEY_ID)
    assert is_key_id(MRK_ID)
    assert not is_key_id("134f2428cec14b25a1ae9048164dba47")
    assert not is_key_id("alias/" + KEY_ID)


def test_arn_builders_round_trip() -> None:
    arn = key_arn(REGION, ACCOUNT, KEY_ID)
    assert arn == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
    assert parse_key_identifier(arn) == KeyRef(key_id=KeyId(KEY_ID), region=Region(REGION), account=AccountId(ACCOUNT))
    alias = alias_arn(REGION, ACCOUNT, "alias/app")
    assert alias == f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"
    assert parse_key_identifier(alias) == KeyRef(
        alias_name=AliasName("alias/app"), region=Region(REGION), account=AccountId(ACCOUNT)
    )
