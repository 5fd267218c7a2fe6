"""decode_request: JSON document → snake_case parameters, with AWS's Coral validation messages (docs/aws-semantics.md A.2).

Expected texts are the ones recorded from AWS where one exists; the others follow the same Coral form.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from trent.kms.errors import SerializationException, ValidationException
from trent.protocol.awsjson.validate import decode_request

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
CORAL = re.compile(r"^\d+ validation errors? detected: ")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def validation_message(operation: str, document: Any) -> str:
    with pytest.raises(ValidationException) as raised:
        decode_request(operation, document)
    assert raised.value.code == "ValidationException"
    assert CORAL.match(raised.value.message), raised.value.message
    return raised.value.message


def serialization_error(operation: str, document: Any) -> SerializationException:
    with pytest.raises(SerializationException) as raised:
        decode_request(operation, document)
    return raised.value


# --- constraint messages recorded from AWS -------------------------------------------------------------------


def test_plaintext_over_4096_bytes_hides_the_value() -> None:
    message = validation_message("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"a" * 4097)})
    assert message == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )


def test_plaintext_of_exactly_4096_bytes_is_accepted() -> None:
    params = decode_request("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"a" * 4096)})
    assert params["plaintext"] == b"a" * 4096


def test_number_of_bytes_zero() -> None:
    assert validation_message("GenerateRandom", {"NumberOfBytes": 0}) == (
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_number_of_bytes_1025() -> None:
    assert validation_message("GenerateRandom", {"NumberOfBytes": 1025}) == (
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value less than or equal to 1024"
    )


@pytest.mark.parametrize("count", [1, 1024])
def test_number_of_bytes_bounds_are_inclusive(count: int) -> None:
    assert decode_request("GenerateRandom", {"NumberOfBytes": count}) == {"number_of_bytes": count}


def test_key_spec_outside_the_enum() -> None:
    message = validation_message("CreateKey", {"KeySpec": "HMAC_random"})
    prefix = (
        "1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    )
    assert message.startswith(prefix)
    assert message.endswith("]")
    listed = set(message[len(prefix) : -1].split(", "))
    assert {"SYMMETRIC_DEFAULT", "RSA_2048", "HMAC_256", "ECC_NIST_P256", "ML_DSA_44"} <= listed


def test_key_agreement_algorithm_outside_the_enum() -> None:
    document = {"KeyId": KEY_ID, "KeyAgreementAlgorithm": "INVALID", "PublicKey": b64(b"k")}
    assert validation_message("DeriveSharedSecret", document) == (
        "1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ECDH]"
    )


def test_tag_key_over_128_characters() -> None:
    key = "a" * 129
    message = validation_message("CreateKey", {"Tags": [{"TagKey": key, "TagValue": "v"}]})
    assert message == (
        f"1 validation error detected: Value '{key}' at 'tags.1.member.tagKey' failed to satisfy constraint: "
        "Member must have length less than or equal to 128"
    )


def test_tag_value_over_256_characters_in_the_second_tag() -> None:
    value = "v" * 257
    tags = [{"TagKey": "ok", "TagValue": "v"}, {"TagKey": "k", "TagValue": value}]
    assert validation_message("CreateKey", {"Tags": tags}) == (
        f"1 validation error detected: Value '{value}' at 'tags.2.member.tagValue' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )


def test_length_counts_utf16_code_units_like_java() -> None:
    # 64 astral characters are 128 UTF-16 code units: exactly at the limit. One more BMP character is over.
    at_limit = "\U0001f511" * 64
    assert decode_request("CreateKey", {"Tags": [{"TagKey": at_limit, "TagValue": ""}]})["tags"][0]["tag_key"] == (
        at_limit
    )
    message = validation_message("CreateKey", {"Tags": [{"TagKey": at_limit + "a", "TagValue": ""}]})
    assert "at 'tags.1.member.tagKey'" in message
    assert message.endswith("Member must have length less than or equal to 128")


# --- required members, several errors ------------------------------------------------------------------------


def test_required_key_id_missing() -> None:
    assert validation_message("Encrypt", {"Plaintext": b64(b"x")}) == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


def test_explicit_null_counts_as_missing() -> None:
    message = validation_message("Encrypt", {"KeyId": None, "Plaintext": b64(b"x")})
    assert message.endswith("Value null at 'keyId' failed to satisfy constraint: Member must not be null")


def test_two_errors_at_once() -> None:
    assert validation_message("Encrypt", {}) == (
        "2 validation errors detected: "
        "Value null at 'keyId' failed to satisfy constraint: Member must not be null; "
        "Value null at 'plaintext' failed to satisfy constraint: Member must not be null"
    )


def test_errors_of_different_members_are_joined() -> None:
    message = validation_message("Encrypt", {"KeyId": "", "Plaintext": b64(b"a" * 4097)})
    assert message == (
        "2 validation errors detected: "
        "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1; "
        "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"
    )


def test_pattern_violation() -> None:
    message = validation_message("CreateAlias", {"AliasName": "alias/bad name", "TargetKeyId": KEY_ID})
    assert message.startswith(
        "1 validation error detected: Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    )


def test_enum_list_member_outside_the_enum() -> None:
    document = {"KeyId": KEY_ID, "GranteePrincipal": "arn:aws:iam::111122223333:root", "Operations": ["Bogus"]}
    message = validation_message("CreateGrant", document)
    assert message.startswith("1 validation error detected: Value '[Bogus]' at 'operations' failed to satisfy")
    assert "Member must satisfy enum value set: [" in message


# --- SerializationException: the request cannot be read --------------------------------------------------


@pytest.mark.parametrize("value", ["not base64!", "YQ", "YQ=", "Y", "YQ==YQ=="])
def test_invalid_base64_blob(value: str) -> None:
    error = serialization_error("Encrypt", {"KeyId": KEY_ID, "Plaintext": value})
    assert error.code == "SerializationException"


def test_list_where_a_string_is_expected() -> None:
    error = serialization_error("Encrypt", {"KeyId": [KEY_ID], "Plaintext": b64(b"x")})
    assert error.message == "Start of list found where not expected"


def test_object_where_a_string_is_expected() -> None:
    error = serialization_error("DescribeKey", {"KeyId": {"Id": KEY_ID}})
    assert error.message.startswith("Start of structure or map found where not expected")


@pytest.mark.parametrize(
    ("operation", "document"),
    [
        ("GenerateRandom", {"NumberOfBytes": "32"}),
        ("GenerateRandom", {"NumberOfBytes": True}),
        ("GenerateRandom", {"NumberOfBytes": 1.5}),
        ("Encrypt", {"KeyId": 7, "Plaintext": "eA=="}),
        ("Encrypt", {"KeyId": KEY_ID, "Plaintext": 7}),
        ("Encrypt", {"KeyId": KEY_ID, "Plaintext": "eA==", "DryRun": "true"}),
        ("Encrypt", {"KeyId": KEY_ID, "Plaintext": "eA==", "EncryptionContext": ["a"]}),
        ("Encrypt", {"KeyId": KEY_ID, "Plaintext": "eA==", "EncryptionContext": {"a": 1}}),
        ("Encrypt", {"KeyId": KEY_ID, "Plaintext": "eA==", "GrantTokens": "token"}),
        ("CreateKey", {"Tags": ["TagKey"]}),
    ],
    ids=[
        "string-for-integer",
        "bool-for-integer",
        "fraction-for-integer",
        "number-for-string",
        "number-for-blob",
        "string-for-boolean",
        "list-for-map",
        "number-for-map-value",
        "string-for-list",
        "string-for-structure",
    ],
)
def test_wrong_json_type(operation: str, document: dict[str, Any]) -> None:
    assert serialization_error(operation, document).code == "SerializationException"


@pytest.mark.parametrize("document", [[], ["KeyId"], "KeyId", 42, None, True])
def test_body_that_is_not_an_object(document: Any) -> None:
    assert serialization_error("DescribeKey", document).code == "SerializationException"


def test_wrong_type_wins_over_a_missing_member() -> None:
    # The request cannot be read at all, so it is not validated.
    serialization_error("Encrypt", {"Plaintext": ["x"]})


# --- what a valid request decodes to ----------------------------------------------------------------------


def test_unknown_members_are_ignored() -> None:
    params = decode_request("DescribeKey", {"KeyId": KEY_ID, "SomeFutureMember": {"Nested": [1, 2]}})
    assert params == {"key_id": KEY_ID}


def test_blobs_are_decoded_to_bytes_and_names_are_snake_case() -> None:
    plaintext = bytes(range(256))
    params = decode_request(
        "Encrypt",
        {
            "KeyId": KEY_ID,
            "Plaintext": b64(plaintext),
            "EncryptionContext": {"purpose": "test"},
            "GrantTokens": ["t1", "t2"],
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DryRun": False,
        },
    )
    assert params == {
        "key_id": KEY_ID,
        "plaintext": plaintext,
        "encryption_context": {"purpose": "test"},
        "grant_tokens": ("t1", "t2"),
        "encryption_algorithm": "SYMMETRIC_DEFAULT",
        "dry_run": False,
    }
    assert isinstance(params["plaintext"], bytes)


def test_absent_optional_members_are_absent() -> None:
    assert decode_request("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"x")}) == {
        "key_id": KEY_ID,
        "plaintext": b"x",
    }


def test_structures_in_lists_become_snake_case_dicts() -> None:
    params = decode_request("CreateKey", {"Tags": [{"TagKey": "k", "TagValue": "v"}], "Description": "d"})
    assert params == {"tags": ({"tag_key": "k", "tag_value": "v"},), "description": "d"}


def test_integral_float_is_an_integer() -> None:
    params = decode_request("GenerateRandom", {"NumberOfBytes": 32.0})
    assert params == {"number_of_bytes": 32}
    assert type(params["number_of_bytes"]) is int


def test_timestamp_is_epoch_seconds() -> None:
    document = {
        "KeyId": KEY_ID,
        "ImportToken": b64(b"t"),
        "EncryptedKeyMaterial": b64(b"m"),
        "ValidTo": 1735689600,
        "ExpirationModel": "KEY_MATERIAL_EXPIRES",
    }
    params = decode_request("ImportKeyMaterial", document)
    assert params["valid_to"] == datetime(2025, 1, 1, tzinfo=UTC)


def test_operation_without_required_members_accepts_an_empty_object() -> None:
    assert decode_request("ListKeys", {}) == {}


# --- hostile input: bounded depth and bounded messages (docs/decisions/0007-hostile-input.md) -------------------


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_member_of_a_list_that_fails_a_constraint_is_a_serialization_error() -> None:
    # 11 grant tokens (max 10), one of them 600 lists deep: the wrong type is found before the list's length
    # is checked, as Coral deserializes before it validates; nothing is printed, nothing recurses.
    tokens = ["token"] * 10 + [nested(600)]
    error = serialization_error("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"x"), "GrantTokens": tokens})
    assert error.message == "Start of list found where not expected"


def test_deeply_nested_unknown_member_of_a_printed_value_is_cut() -> None:
    # Unknown members are ignored, but a violation prints the value as sent: it is printed 8 levels deep.
    tags = [{"TagKey": "k" * 129, "TagValue": "v", "Extra": nested(600)}]
    message = validation_message("CreateKey", {"Tags": tags})
    assert "at 'tags.1.member.tagKey' failed to satisfy constraint" in message
    assert len(message) < 2048


def test_a_long_value_is_printed_cut_with_a_marker() -> None:
    policy = "\x01" * 900_000  # outside the pattern and over the 131072 limit
    message = validation_message("PutKeyPolicy", {"KeyId": KEY_ID, "Policy": policy})
    assert message.startswith("2 validation errors detected: Value '" + "\x01" * 1021 + "...' at 'policy' ")
    assert "Member must have length less than or equal to 131072" in message
    assert len(message) < 4096


def test_a_short_value_is_printed_whole() -> None:
    message = validation_message("CreateKey", {"Tags": [{"TagKey": "k" * 1024, "TagValue": "v"}]})
    assert f"Value '{'k' * 1024}' at 'tags.1.member.tagKey'" in message


def test_at_most_ten_violations_are_listed_and_all_are_counted() -> None:
    tags = [{"TagKey": "", "TagValue": "v"} for _ in range(5000)]
    message = validation_message("CreateKey", {"Tags": tags})
    assert message.startswith("5000 validation errors detected: ")
    assert message.count("failed to satisfy constraint") == 10
    assert "tags.10.member.tagKey" in message and "tags.11.member" not in message
