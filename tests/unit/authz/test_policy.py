"""authz/policy.py: policy documents into frozen values, and the MalformedPolicyDocumentException texts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trent.authz.conditions import Condition, SetQualifier
from trent.authz.policy import (
    DUPLICATE_SID,
    INVALID_PRINCIPALS,
    LEGACY,
    NO_ACTIONS,
    NO_PRINCIPAL,
    NO_RESOURCES,
    NO_VENDOR,
    ONE_COLON,
    PRINCIPAL_NOT_ALLOWED,
    SYNTAX,
    Effect,
    Policy,
    PolicyError,
    PolicyKind,
    Principals,
    Statement,
    parse_policy,
)

ACCOUNT = "111122223333"

# The default key policy KMS gives a key created through the API.
DEFAULT_KEY_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-default-1",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}


def doc(*statements: dict[str, Any], **top: Any) -> str:
    return json.dumps({"Version": "2012-10-17", **top, "Statement": list(statements)})


def key_stmt(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", **fields}


def iam_stmt(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*", **fields}


def test_default_key_policy() -> None:
    assert parse_policy(json.dumps(DEFAULT_KEY_POLICY), kind="key") == Policy(
        version="2012-10-17",
        statements=(
            Statement(
                sid="Enable IAM User Permissions",
                effect=Effect.ALLOW,
                principal=Principals(aws=(f"arn:aws:iam::{ACCOUNT}:root",)),
                not_principal=None,
                action=("kms:*",),
                not_action=None,
                resource=("*",),
                not_resource=None,
                conditions=(),
            ),
        ),
    )


def test_single_statement_object_lists_and_defaults() -> None:
    text = json.dumps(
        {
            "Statement": {
                "Effect": "Deny",
                "Principal": {
                    "AWS": [ACCOUNT, "*", f"arn:aws:iam::{ACCOUNT}:role/path/to/admin"],
                    "Service": "ec2.amazonaws.com",
                },
                "NotAction": ["kms:Decrypt", "kms:Describe*"],
                "NotResource": "arn:aws:kms:*:*:key/*",
            }
        }
    )
    policy = parse_policy(text, kind="key")
    assert policy.version == "2008-10-17"  # the default when Version is omitted
    (statement,) = policy.statements
    assert statement.sid == ""
    assert statement.principal == Principals(
        aws=(f"arn:aws:iam::{ACCOUNT}:root", "*", f"arn:aws:iam::{ACCOUNT}:role/path/to/admin"),
        service=("ec2.amazonaws.com",),
    )
    assert (statement.action, statement.not_action) == (None, ("kms:Decrypt", "kms:Describe*"))
    assert (statement.resource, statement.not_resource) == (None, ("arn:aws:kms:*:*:key/*",))


def test_key_policy_statement_may_omit_resource() -> None:
    (statement,) = parse_policy(doc(key_stmt()), kind="key").statements
    assert (statement.resource, statement.not_resource) == (None, None)


def test_principal_star_and_not_principal_on_deny() -> None:
    policy = parse_policy(
        doc(key_stmt(Principal="*"), without(key_stmt(Effect="Deny", NotPrincipal={"AWS": ACCOUNT}), "Principal")),
        kind="key",
    )
    assert policy.statements[0].principal == Principals(aws=("*",))
    assert policy.statements[1].principal is None
    assert policy.statements[1].not_principal == Principals(aws=(f"arn:aws:iam::{ACCOUNT}:root",))


def test_assumed_role_principal_is_accepted() -> None:
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/session-1"
    (statement,) = parse_policy(doc(key_stmt(Principal={"AWS": arn})), kind="key").statements
    assert statement.principal == Principals(aws=(arn,))


def test_conditions_lower_case_keys_and_stringify_scalars() -> None:
    condition = {
        "StringEquals": {"kms:EncryptionContext:Department": "IT", "kms:CallerAccount": [ACCOUNT, 444455556666]},
        "ForAllValues:StringLikeIfExists": {"kms:EncryptionContextKeys": ["Dep*"]},
        "Bool": {"kms:GrantIsForAWSResource": True},
        "NumericLessThan": {"kms:ExpirationModel": 1.5},
        "Null": {"aws:SourceIp": "false"},
    }
    (statement,) = parse_policy(doc(iam_stmt(Condition=condition)), kind="identity").statements
    assert statement.conditions == (
        Condition("StringEquals", "kms:encryptioncontext:department", ("IT",)),
        Condition("StringEquals", "kms:calleraccount", (ACCOUNT, "444455556666")),
        Condition("StringLike", "kms:encryptioncontextkeys", ("Dep*",), True, SetQualifier.FOR_ALL_VALUES),
        Condition("Bool", "kms:grantisforawsresource", ("true",)),
        Condition("NumericLessThan", "kms:expirationmodel", ("1.5",)),
        Condition("Null", "aws:sourceip", ("false",)),
    )


def without(statement: dict[str, Any], *elements: str) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if k not in elements}


# (kind, document text, message)
ERRORS: list[tuple[PolicyKind, str, str]] = [
    # JSON and document shape.
    ("key", "not json", SYNTAX),
    ("key", "[]", SYNTAX),
    ("key", "[" * 100_000, SYNTAX),
    (
        "key",
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Principal": NaN}]}',
        SYNTAX,
    ),
    ("key", json.dumps({"Version": "2012-10-17"}), SYNTAX),
    ("key", json.dumps({"Version": "2012-10-17", "Statement": []}), SYNTAX),
    ("key", json.dumps({"Version": "2012-10-17", "Statement": "x"}), SYNTAX),
    ("key", json.dumps({"Version": "2012-10-17", "Statement": ["x"]}), SYNTAX),
    ("key", doc(key_stmt(), Unknown=1), SYNTAX),
    ("key", doc(key_stmt(), Id=5), SYNTAX),
    ("key", json.dumps({"Version": "2020-01-01", "Statement": [key_stmt()]}), SYNTAX),
    ("key", doc(key_stmt(Extra="x")), SYNTAX),
    ("key", doc(key_stmt(Sid=1)), SYNTAX),
    # Effect.
    ("key", doc(without(key_stmt(), "Effect")), SYNTAX),
    ("key", doc(key_stmt(Effect="Permit")), SYNTAX),
    ("key", doc(key_stmt(Effect="allow")), LEGACY),
    # Action / NotAction: exactly one, vendor-prefixed.
    ("key", doc(without(key_stmt(), "Action")), NO_ACTIONS),
    ("key", doc(key_stmt(Action=[])), NO_ACTIONS),
    ("key", doc(key_stmt(NotAction="kms:Decrypt")), SYNTAX),
    ("key", doc(key_stmt(Action=["kms:Encrypt", 5])), SYNTAX),
    ("key", doc(key_stmt(Action={"kms": "Encrypt"})), SYNTAX),
    ("key", doc(key_stmt(Action="Encrypt")), NO_VENDOR),
    ("key", doc(key_stmt(Action="kms:Encrypt:Now")), ONE_COLON),
    ("key", doc(key_stmt(Action="km$:Encrypt")), "Vendor km$ is not valid"),
    # Resource / NotResource.
    ("identity", doc(without(iam_stmt(), "Resource")), NO_RESOURCES),
    ("identity", doc(iam_stmt(Resource=[])), NO_RESOURCES),
    ("key", doc(key_stmt(Resource=[])), NO_RESOURCES),
    ("key", doc(key_stmt(Resource="*", NotResource="*")), SYNTAX),
    ("identity", doc(iam_stmt(Resource="my-key")), 'Resource my-key must be in ARN format or "*".'),
    ("identity", doc(iam_stmt(Resource="arn:aws:kms")), 'Resource arn:aws:kms must be in ARN format or "*".'),
    # Principals: required in key policies, forbidden in identity policies, and well-formed.
    ("identity", doc(iam_stmt(Principal="*")), PRINCIPAL_NOT_ALLOWED),
    ("identity", doc(iam_stmt(NotPrincipal="*")), PRINCIPAL_NOT_ALLOWED),
    ("key", doc(without(key_stmt(), "Principal")), NO_PRINCIPAL),
    ("key", doc(key_stmt(NotPrincipal={"AWS": ACCOUNT})), INVALID_PRINCIPALS),
    ("key", doc(without(key_stmt(NotPrincipal={"AWS": ACCOUNT}), "Principal")), INVALID_PRINCIPALS),  # with Allow
    ("key", doc(key_stmt(Principal="arn:aws:iam::111122223333:root")), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": []})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": "alice"})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": "12345"})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": "arn:aws:iam::111122223333:user/*"})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": "arn:aws:iam::1111:user/alice"})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": "arn:aws:s3:::bucket"})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"AWS": [ACCOUNT, 5]})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"Federated": "cognito-identity.amazonaws.com"})), INVALID_PRINCIPALS),
    ("key", doc(key_stmt(Principal={"Service": "Not A Service"})), INVALID_PRINCIPALS),
    # Conditions: known operators only, scalar values, valid dates.
    ("key", doc(key_stmt(Condition={"StringEqualz": {"kms:CallerAccount": ACCOUNT}})), SYNTAX),
    ("key", doc(key_stmt(Condition={"NullIfExists": {"aws:SourceIp": "true"}})), SYNTAX),
    ("key", doc(key_stmt(Condition={"StringEquals": "x"})), SYNTAX),
    ("key", doc(key_stmt(Condition=["StringEquals"])), SYNTAX),
    ("key", doc(key_stmt(Condition={"StringEquals": {"kms:CallerAccount": None}})), SYNTAX),
    ("key", doc(key_stmt(Condition={"StringEquals": {"kms:CallerAccount": {"a": "b"}}})), SYNTAX),
    ("key", doc(key_stmt(Condition={"StringEquals": {"kms:CallerAccount": [["a"]]}})), SYNTAX),
    ("key", doc(key_stmt(Condition={"DateLessThan": {"aws:CurrentTime": "tomorrow"}})), LEGACY),
    ("key", doc(key_stmt(Condition={"StringEquals": {"": "x"}})), LEGACY),
    # Sids must be unique in IAM policies.
    ("identity", doc(iam_stmt(Sid="A"), iam_stmt(Sid="A")), DUPLICATE_SID),
]


@pytest.mark.parametrize(
    ("kind", "text", "message"), ERRORS, ids=[f"{n}-{case[2][:30]}" for n, case in enumerate(ERRORS)]
)
def test_malformed(kind: PolicyKind, text: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, kind=kind)
    assert str(raised.value) == message


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


def test_key_policy_sids_may_repeat_and_be_empty() -> None:
    policy = parse_policy(doc(key_stmt(Sid="A"), key_stmt(Sid="A"), key_stmt(Sid="")), kind="key")
    assert [s.sid for s in policy.statements] == ["A", "A", ""]
