"""Aliases, tags and key policies through boto3 against a real `trent serve`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ACCOUNT, REGION, error_of
from trent.ops.policies import default_policy


def _name() -> str:
    return "alias/t-" + uuid.uuid4().hex[:12]


def test_alias_lifecycle_and_resolution(kms: Any) -> None:
    first = kms.create_key()["KeyMetadata"]
    second = kms.create_key()["KeyMetadata"]
    name = _name()
    kms.create_alias(AliasName=name, TargetKeyId=first["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"
    for key_id in (name, alias_arn, first["KeyId"], first["Arn"]):
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == first["KeyId"]
    blob = kms.encrypt(KeyId=name, Plaintext=b"via alias")["CiphertextBlob"]
    listed = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == name]
    assert listed and listed[0]["AliasArn"] == alias_arn and listed[0]["TargetKeyId"] == first["KeyId"]
    assert kms.list_aliases(KeyId=first["KeyId"])["Aliases"][0]["AliasName"] == name
    kms.update_alias(AliasName=name, TargetKeyId=second["Arn"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == second["KeyId"]
    assert kms.list_aliases(KeyId=first["KeyId"])["Aliases"] == []
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"via alias"  # the blob names its key, not the alias
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=name)
    assert error_of(exc) == ("NotFoundException", f"Alias {alias_arn} is not found.")


def test_alias_errors(kms: Any, raw_kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = _name()
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"
    cases = [
        (
            lambda: kms.create_alias(AliasName=name, TargetKeyId=key_id),
            "AlreadyExistsException",
            f"An alias with the name {alias_arn} already exists",
        ),
        (
            lambda: kms.create_alias(AliasName="no-prefix", TargetKeyId=key_id),
            "ValidationException",
            'Alias must start with the prefix "alias/". Please see '
            "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ),
        (lambda: kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id), "NotAuthorizedException", ""),
        (
            lambda: kms.create_alias(AliasName="alias/a:b", TargetKeyId=key_id),
            "ValidationException",
            "alias/a:b contains invalid characters for an alias",
        ),
        (
            lambda: kms.create_alias(AliasName=_name(), TargetKeyId=name),
            "InvalidArnException",
            "Key Aliases are not supported for this operation.",
        ),
        (
            lambda: kms.delete_alias(AliasName="alias/missing-" + key_id),
            "NotFoundException",
            f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/missing-{key_id} is not found.",
        ),
        (
            lambda: kms.update_alias(AliasName="alias/missing-" + key_id, TargetKeyId=key_id),
            "NotFoundException",
            f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/missing-{key_id} is not found.",
        ),
    ]
    for call, code, message in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (code, message)
    with pytest.raises(ClientError) as exc:
        raw_kms.create_alias(AliasName="alias/bad.char", TargetKeyId=key_id)
    code, message = error_of(exc)
    assert (
        code == "ValidationException" and "at 'aliasName' failed to satisfy constraint: Member must satisfy" in message
    )


def test_update_alias_needs_a_key_of_the_same_kind(kms: Any) -> None:
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    name = _name()
    kms.create_alias(AliasName=name, TargetKeyId=symmetric)
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName=name, TargetKeyId=signing)
    assert error_of(exc)[0] == "ValidationException"


def test_list_aliases_pages(server: Any) -> None:
    kms = server.client(region="sa-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    names = sorted(_name() for _ in range(5))
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    seen: list[str] = []
    marker: dict[str, str] = {}
    while True:
        page = kms.list_aliases(KeyId=key_id, Limit=2, **marker)
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            break
        marker = {"Marker": page["NextMarker"]}
    assert seen == names


def test_tags(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "b", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "b", "TagValue": "3"}])  # overwrite
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [
        {"TagKey": "a", "TagValue": "2"},
        {"TagKey": "b", "TagValue": "3"},
    ]
    kms.untag_resource(KeyId=key_id, TagKeys=["a", "never-there"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "b", "TagValue": "3"}]
    page = kms.list_resource_tags(KeyId=key_id, Limit=1)
    assert page["Truncated"] is False


def test_tag_rules_recorded_from_aws(kms: Any, raw_kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    cases = [
        ([{"TagKey": "aws:x", "TagValue": "v"}], "Tags beginning with aws: are reserved"),
        ([{"TagKey": "AWS:x", "TagValue": "v"}], "Tags beginning with aws: are reserved"),
        ([{"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}], "Duplicate tag keys"),
        ([{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)], "Too many tags"),
    ]
    for tags, message in cases:
        with pytest.raises(ClientError) as exc:
            kms.tag_resource(KeyId=key_id, Tags=tags)
        assert error_of(exc) == ("TagException", message)
    with pytest.raises(ClientError) as exc:
        kms.create_key(Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)])
    assert error_of(exc) == ("TagException", "Too many tags")
    with pytest.raises(ClientError) as exc:
        raw_kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a" * 129, "TagValue": "v"}])
    assert error_of(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{'a' * 129}' at 'tags.1.member.tagKey' failed to satisfy constraint: "
        "Member must have length less than or equal to 128",
    )


def test_key_policies(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    got = kms.get_key_policy(KeyId=key_id)
    assert got["Policy"] == default_policy(ACCOUNT) and got["PolicyName"] == "default"
    assert '"AWS" : "arn:aws:iam::111122223333:root"' in got["Policy"]
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == got["Policy"]
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
    new = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"}]\n}'
    with pytest.raises(ClientError) as exc:  # it would lock the caller out of the key policy
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=new)
    assert error_of(exc) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    mine = '{ "Statement" : [ { "Effect":"Allow", "Principal":{"AWS":"111122223333"}, "Action":"kms:*" } ] }'
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=mine)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == mine  # verbatim
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=new, BypassPolicyLockoutSafetyCheck=True)
    kms.encrypt(KeyId=key_id, Plaintext=b"still allowed")
    with pytest.raises(ClientError) as exc:  # the new policy is in force from the very next request
        kms.get_key_policy(KeyId=key_id)
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert error_of(exc) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:GetKeyPolicy on resource: {arn} "
        "because no resource-based policy allows the kms:GetKeyPolicy action",
    )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for bad, code in (
        ("not json", "MalformedPolicyDocumentException"),
        ("{" + " " * 33000 + "}", "LimitExceededException"),
    ):
        with pytest.raises(ClientError) as exc:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=bad)
        assert error_of(exc)[0] == code
    with pytest.raises(ClientError) as exc:
        kms.get_key_policy(KeyId=key_id, PolicyName="other")
    assert error_of(exc)[0] == "NotFoundException"
