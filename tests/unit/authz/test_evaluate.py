"""authz/evaluate.py: the access decision, rule by rule, each with an allowed and a denied case.

Sources: KMS developer guide ("KMS key access and permissions", "Default key policy", "Allowing users in other
accounts to use a KMS key", "AWS KMS condition keys"), IAM user guide ("Policy evaluation logic", "NotPrincipal").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from trent.authz.conditions import FactValue, encryption_context_facts
from trent.authz.evaluate import (
    CIPHERTEXT_RESOURCE,
    AccessRequest,
    Caller,
    Decision,
    GrantView,
    Reason,
    authorize,
    caller_facts,
    denial_message,
    unseen,
    unseen_denial,
)
from trent.authz.policy import Policy, parse_policy

ACCOUNT = "111122223333"
OTHER = "444455556666"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ACCOUNT_ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"

ROOT = Caller(ACCOUNT_ROOT, ACCOUNT, is_root=True)
ALICE = Caller(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, is_root=False)
BOB = Caller(f"arn:aws:iam::{ACCOUNT}:user/bob", ACCOUNT, is_root=False)
CAROL = Caller(f"arn:aws:iam::{OTHER}:user/carol", OTHER, is_root=False)
FOREIGN_ROOT = Caller(OTHER_ROOT, OTHER, is_root=True)

ALLOWED = Decision(True, Reason.ALLOWED_BY_POLICY)
NO_RESOURCE_ALLOW = Decision(False, Reason.NO_RESOURCE_ALLOW)
NO_IDENTITY_ALLOW = Decision(False, Reason.NO_IDENTITY_ALLOW)
DENY_RESOURCE = Decision(False, Reason.EXPLICIT_DENY_RESOURCE)
DENY_IDENTITY = Decision(False, Reason.EXPLICIT_DENY_IDENTITY)


def key_policy(*statements: dict[str, Any]) -> Policy:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), kind="key")


def identity(*statements: dict[str, Any]) -> Policy:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), kind="identity")


def principal(who: str | list[str]) -> Any:
    return "*" if who == "*" else {"AWS": who}


def allow(who: str | list[str], action: str | list[str] = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal(who), "Action": action, "Resource": "*", **extra}


def deny(who: str | list[str], action: str | list[str] = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal(who), "Action": action, "Resource": "*", **extra}


def iam_allow(action: str | list[str] = "kms:Encrypt", resource: str | list[str] = KEY_ARN, **extra: Any) -> Any:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def iam_deny(action: str | list[str] = "kms:Encrypt", resource: str | list[str] = KEY_ARN, **extra: Any) -> Any:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# The default key policy: "Allows access to the AWS account and enables IAM policies".
DEFAULT = key_policy(allow(ACCOUNT_ROOT))
IAM_ENCRYPT = identity(iam_allow())


@dataclass(frozen=True)
class Case:
    caller: Caller
    key_policy: Policy | None = DEFAULT
    iam: tuple[Policy, ...] = ()
    action: str = "kms:Encrypt"
    resource: str = KEY_ARN
    facts: Mapping[str, FactValue] = field(default_factory=dict)
    grants: tuple[GrantView, ...] = ()
    operation: str = ""
    context: Mapping[str, str] | None = None

    def decide(self) -> Decision:
        key_account = None if self.resource == "*" else self.resource.split(":")[4]
        request = AccessRequest(self.action, self.resource, key_account, self.facts)
        return authorize(
            self.caller,
            request,
            self.key_policy,
            self.iam,
            self.grants,
            operation=self.operation,
            encryption_context=self.context,
        )


def grant(grantee: str, *operations: str, **constraints: Mapping[str, str]) -> GrantView:
    return GrantView(
        "grant-1",
        grantee,
        frozenset(operations),
        constraints.get("equals"),
        constraints.get("subset"),
    )


DEFAULT_KEY_POLICY = [
    pytest.param(Case(ROOT), ALLOWED, id="account root is allowed"),
    pytest.param(Case(ALICE, iam=(IAM_ENCRYPT,)), ALLOWED, id="user allowed by an identity policy"),
    pytest.param(Case(ALICE), NO_IDENTITY_ALLOW, id="user without an identity policy"),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow("kms:Decrypt")),)), NO_IDENTITY_ALLOW, id="IAM allows another action"
    ),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow(resource=OTHER_KEY_ARN)),)), NO_IDENTITY_ALLOW, id="IAM: other key"
    ),
    pytest.param(Case(ALICE, iam=(identity(iam_allow(resource="*")),)), ALLOWED, id="IAM allows every resource"),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(BOB.arn)), iam=(IAM_ENCRYPT,)),
        NO_RESOURCE_ALLOW,
        id="IAM alone cannot allow when the key policy does not enable it",
    ),
    pytest.param(Case(ROOT, key_policy=key_policy(allow(BOB.arn))), NO_RESOURCE_ALLOW, id="root locked out"),
    pytest.param(Case(ROOT, key_policy=key_policy(allow(ACCOUNT))), ALLOWED, id="bare account id is the root ARN"),
]

DIRECT_PRINCIPAL = [
    pytest.param(Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "kms:Encrypt"))), ALLOWED, id="named user, no IAM"),
    pytest.param(Case(BOB, key_policy=key_policy(allow(ALICE.arn, "kms:Encrypt"))), NO_RESOURCE_ALLOW, id="other user"),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "kms:Decrypt"))), NO_RESOURCE_ALLOW, id="named, other action"
    ),
    pytest.param(Case(ALICE, key_policy=key_policy(allow("*"))), ALLOWED, id="principal * in the key's account"),
    pytest.param(Case(ALICE, key_policy=key_policy(allow([BOB.arn, ALICE.arn]))), ALLOWED, id="named in a list"),
]

EXPLICIT_DENY = [
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ACCOUNT_ROOT), deny(ALICE.arn, "kms:Encrypt")), iam=(IAM_ENCRYPT,)),
        DENY_RESOURCE,
        id="key policy deny beats IAM allow",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn), deny(ALICE.arn, "kms:Encrypt"))),
        DENY_RESOURCE,
        id="key policy deny beats key policy allow",
    ),
    pytest.param(
        Case(ROOT, key_policy=key_policy(allow(ACCOUNT_ROOT), deny("*", "kms:Encrypt"))),
        DENY_RESOURCE,
        id="key policy deny binds the root user",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=key_policy(deny(ALICE.arn, "kms:Encrypt")),
            grants=(grant(ALICE.arn, "Encrypt"),),
            operation="Encrypt",
        ),
        DENY_RESOURCE,
        id="key policy deny beats a grant",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ACCOUNT_ROOT), deny(ACCOUNT_ROOT, "kms:Encrypt")), iam=(IAM_ENCRYPT,)),
        DENY_RESOURCE,
        id="deny naming the account covers its users",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ACCOUNT_ROOT), deny(BOB.arn)), iam=(IAM_ENCRYPT,)),
        ALLOWED,
        id="deny naming someone else",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ACCOUNT_ROOT), deny(ALICE.arn, "kms:Decrypt")), iam=(IAM_ENCRYPT,)),
        ALLOWED,
        id="deny of another action",
    ),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow("kms:*"), iam_deny("kms:Encrypt")),)),
        DENY_IDENTITY,
        id="identity deny beats identity allow",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn)), iam=(identity(iam_deny()),)),
        DENY_IDENTITY,
        id="identity deny beats a key policy naming the user",
    ),
    pytest.param(
        Case(ALICE, iam=(IAM_ENCRYPT, identity(iam_deny(resource=OTHER_KEY_ARN)))),
        ALLOWED,
        id="identity deny of another key",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=None,
            iam=(identity(iam_deny()),),
            grants=(grant(ALICE.arn, "Encrypt"),),
            operation="Encrypt",
        ),
        DENY_IDENTITY,
        id="identity deny beats a grant",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(deny(ALICE.arn)), iam=(identity(iam_deny()),)),
        DENY_RESOURCE,
        id="both deny: the resource policy is reported",
    ),
]

CROSS_ACCOUNT = [
    pytest.param(
        Case(CAROL, key_policy=key_policy(allow(ACCOUNT_ROOT), allow(OTHER_ROOT)), iam=(IAM_ENCRYPT,)),
        ALLOWED,
        id="key policy allows the account and its IAM allows the user",
    ),
    pytest.param(
        Case(CAROL, key_policy=key_policy(allow(OTHER))),
        NO_IDENTITY_ALLOW,
        id="key policy allows, no IAM in the account",
    ),
    pytest.param(Case(CAROL, iam=(IAM_ENCRYPT,)), NO_RESOURCE_ALLOW, id="IAM allows, the key policy does not"),
    pytest.param(
        Case(CAROL, key_policy=key_policy(allow(CAROL.arn))), NO_IDENTITY_ALLOW, id="key policy names the user, no IAM"
    ),
    pytest.param(
        Case(CAROL, key_policy=key_policy(allow(CAROL.arn)), iam=(IAM_ENCRYPT,)), ALLOWED, id="names the user, with IAM"
    ),
    pytest.param(Case(CAROL, key_policy=key_policy(allow("*"))), NO_IDENTITY_ALLOW, id="principal *, no IAM"),
    pytest.param(
        Case(CAROL, key_policy=key_policy(allow("*")), iam=(IAM_ENCRYPT,)), ALLOWED, id="principal *, with IAM"
    ),
    pytest.param(Case(FOREIGN_ROOT, key_policy=key_policy(allow(OTHER))), ALLOWED, id="the other account's root"),
    pytest.param(Case(FOREIGN_ROOT), NO_RESOURCE_ALLOW, id="the other account's root, not in the key policy"),
    pytest.param(
        Case(
            CAROL,
            key_policy=key_policy(allow(OTHER)),
            iam=(identity(iam_allow("kms:*")),),
            action="kms:ScheduleKeyDeletion",
        ),
        NO_RESOURCE_ALLOW,
        id="not a cross-account operation",
    ),
    pytest.param(
        Case(
            CAROL,
            key_policy=key_policy(allow(OTHER)),
            iam=(identity(iam_allow("kms:ReEncrypt*")),),
            action="kms:ReEncryptFrom",
        ),
        ALLOWED,
        id="a cross-account operation",
    ),
]

NO_KEY = [
    pytest.param(Case(ROOT, key_policy=None, action="kms:CreateKey", resource="*"), ALLOWED, id="root creates keys"),
    pytest.param(
        Case(
            ALICE,
            key_policy=None,
            action="kms:CreateKey",
            resource="*",
            iam=(identity(iam_allow("kms:CreateKey", "*")),),
        ),
        ALLOWED,
        id="IAM allows CreateKey",
    ),
    pytest.param(Case(ALICE, key_policy=None, action="kms:CreateKey", resource="*"), NO_IDENTITY_ALLOW, id="no IAM"),
    pytest.param(
        Case(ALICE, key_policy=None, action="kms:ListKeys", resource="*", iam=(identity(iam_allow("kms:ListKeys")),)),
        NO_IDENTITY_ALLOW,
        id="a key ARN does not match resource *",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=None,
            action="kms:CreateKey",
            resource="*",
            iam=(identity(iam_allow("kms:*", "*"), iam_deny("kms:CreateKey", "*")),),
        ),
        DENY_IDENTITY,
        id="IAM denies CreateKey",
    ),
    pytest.param(Case(ROOT, key_policy=None), NO_RESOURCE_ALLOW, id="a key without its key policy"),
]

GRANTS = [
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(BOB.arn)), grants=(grant(ALICE.arn, "Encrypt"),), operation="Encrypt"),
        Decision(True, Reason.ALLOWED_BY_GRANT, "grant-1"),
        id="grant lists the operation",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(BOB.arn)), grants=(grant(ALICE.arn, "Decrypt"),), operation="Encrypt"),
        NO_RESOURCE_ALLOW,
        id="grant does not list the operation",
    ),
    pytest.param(
        Case(ALICE, grants=(grant(BOB.arn, "Encrypt"),), operation="Encrypt"),
        NO_IDENTITY_ALLOW,
        id="grant for another principal",
    ),
    pytest.param(
        Case(ALICE, grants=(grant(ACCOUNT_ROOT, "Encrypt"),), operation="Encrypt"),
        NO_IDENTITY_ALLOW,
        id="grant to the caller's account: a user still needs an identity policy",
    ),
    pytest.param(
        Case(
            ROOT, key_policy=key_policy(allow(BOB.arn)), grants=(grant(ACCOUNT_ROOT, "Encrypt"),), operation="Encrypt"
        ),
        Decision(True, Reason.ALLOWED_BY_GRANT, "grant-1"),
        id="grant to the account: its root is allowed",
    ),
    pytest.param(
        Case(ALICE, grants=(grant(ALICE.arn, "Encrypt"),)),
        NO_IDENTITY_ALLOW,
        id="no operation given: grants not consulted",
    ),
    pytest.param(
        Case(CAROL, grants=(grant(CAROL.arn, "Encrypt"),), operation="Encrypt"),
        Decision(True, Reason.ALLOWED_BY_GRANT, "grant-1"),
        id="cross-account grant needs no IAM",
    ),
    pytest.param(
        Case(
            ALICE,
            grants=(grant(ALICE.arn, "Encrypt", equals={"Dept": "IT"}),),
            operation="Encrypt",
            context={"Dept": "IT"},
        ),
        Decision(True, Reason.ALLOWED_BY_GRANT, "grant-1"),
        id="equals constraint holds",
    ),
    pytest.param(
        Case(ALICE, grants=(grant(ALICE.arn, "Encrypt", equals={"Dept": "IT"}),), operation="Encrypt", context={}),
        NO_IDENTITY_ALLOW,
        id="equals constraint fails",
    ),
    pytest.param(
        Case(
            ALICE,
            grants=(grant(ALICE.arn, "Decrypt", subset={"Dept": "IT"}),),
            action="kms:Decrypt",
            operation="Decrypt",
            context={"Dept": "IT", "Project": "X"},
        ),
        Decision(True, Reason.ALLOWED_BY_GRANT, "grant-1"),
        id="subset constraint holds",
    ),
    pytest.param(
        Case(
            ALICE,
            grants=(grant(ALICE.arn, "Decrypt", subset={"Dept": "IT"}),),
            action="kms:Decrypt",
            operation="Decrypt",
            context={"Project": "X"},
        ),
        NO_IDENTITY_ALLOW,
        id="subset constraint fails",
    ),
    pytest.param(
        Case(ALICE, iam=(IAM_ENCRYPT,), grants=(grant(ALICE.arn, "Encrypt"),), operation="Encrypt"),
        ALLOWED,
        id="a policy allow is reported before a grant",
    ),
    pytest.param(
        Case(
            ALICE,
            grants=(
                GrantView("g-a", BOB.arn, frozenset({"Encrypt"})),
                GrantView("g-b", ALICE.arn, frozenset({"Encrypt"})),
            ),
            operation="Encrypt",
        ),
        Decision(True, Reason.ALLOWED_BY_GRANT, "g-b"),
        id="the matching grant is named",
    ),
]

# NotAction: everything except scheduling deletion.
ALL_BUT_DELETION = key_policy(
    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ROOT}, "NotAction": "kms:ScheduleKeyDeletion"}
)
NEGATIONS = [
    pytest.param(
        Case(ROOT, key_policy=ALL_BUT_DELETION),
        ALLOWED,
        id="NotAction: another action is allowed",
    ),
    pytest.param(
        Case(
            ROOT,
            key_policy=ALL_BUT_DELETION,
            action="kms:ScheduleKeyDeletion",
        ),
        NO_RESOURCE_ALLOW,
        id="NotAction: the excluded action is not",
    ),
    pytest.param(
        Case(ALICE, iam=(identity({"Effect": "Allow", "Action": "kms:*", "NotResource": OTHER_KEY_ARN}),)),
        ALLOWED,
        id="NotResource: another key is allowed",
    ),
    pytest.param(
        Case(ALICE, iam=(identity({"Effect": "Allow", "Action": "kms:*", "NotResource": KEY_ARN}),)),
        NO_IDENTITY_ALLOW,
        id="NotResource: the excluded key is not",
    ),
    pytest.param(
        Case(
            ALICE, iam=(identity(iam_allow("kms:*"), {"Effect": "Deny", "NotAction": "kms:Decrypt", "Resource": "*"}),)
        ),
        DENY_IDENTITY,
        id="Deny NotAction: everything but Decrypt is denied",
    ),
    pytest.param(
        Case(
            ALICE,
            action="kms:Decrypt",
            iam=(identity(iam_allow("kms:*"), {"Effect": "Deny", "NotAction": "kms:Decrypt", "Resource": "*"}),),
        ),
        ALLOWED,
        id="Deny NotAction: Decrypt is not denied",
    ),
]

# "Deny everyone but alice": NotPrincipal must list the account too, or the account (and so alice) is denied.
ONLY_ALICE = {"Effect": "Deny", "NotPrincipal": {"AWS": [ALICE.arn, ACCOUNT_ROOT]}, "Action": "kms:Encrypt"}
ONLY_ALICE_NO_ACCOUNT = {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "kms:Encrypt"}
NOT_PRINCIPAL = [
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ACCOUNT_ROOT), ONLY_ALICE), iam=(IAM_ENCRYPT,)),
        ALLOWED,
        id="NotPrincipal: the excluded user",
    ),
    pytest.param(
        Case(BOB, key_policy=key_policy(allow(ACCOUNT_ROOT), ONLY_ALICE), iam=(IAM_ENCRYPT,)),
        DENY_RESOURCE,
        id="NotPrincipal: anyone else",
    ),
    pytest.param(
        Case(ROOT, key_policy=key_policy(allow(ACCOUNT_ROOT), ONLY_ALICE)),
        ALLOWED,
        id="NotPrincipal: the listed account's root",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ACCOUNT_ROOT), ONLY_ALICE_NO_ACCOUNT), iam=(IAM_ENCRYPT,)),
        DENY_RESOURCE,
        id="NotPrincipal without the account denies the user too",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=key_policy(
                allow(ACCOUNT_ROOT), {"Effect": "Deny", "NotPrincipal": {"AWS": "*"}, "Action": "kms:*"}
            ),
            iam=(IAM_ENCRYPT,),
        ),
        ALLOWED,
        id="NotPrincipal * excludes everyone",
    ),
]

WILDCARDS = [
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "kms:Generate*"))), NO_RESOURCE_ALLOW, id="kms:Gen*"
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "kms:Generate*")), action="kms:GenerateDataKey"),
        ALLOWED,
        id="kms:Gen* matches GenerateDataKey",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "KMS:encrypt"))), ALLOWED, id="actions ignore case"
    ),
    pytest.param(Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "*"))), ALLOWED, id="action *"),
    pytest.param(Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "kms:?ncrypt"))), ALLOWED, id="action ?"),
    pytest.param(Case(ALICE, key_policy=key_policy(allow(ALICE.arn, "kms:?crypt"))), NO_RESOURCE_ALLOW, id="? is one"),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow(resource=f"arn:aws:kms:*:{ACCOUNT}:key/*")),)),
        ALLOWED,
        id="resource pattern",
    ),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow(resource=f"arn:aws:kms:*:{OTHER}:key/*")),)),
        NO_IDENTITY_ALLOW,
        id="resource pattern of another account",
    ),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow(resource=KEY_ARN.replace("key/", "KEY/"))),)),
        NO_IDENTITY_ALLOW,
        id="resources are case-sensitive",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn) | {"Resource": KEY_ARN})),
        ALLOWED,
        id="key policy naming its own key",
    ),
    pytest.param(
        Case(ALICE, key_policy=key_policy(allow(ALICE.arn) | {"Resource": OTHER_KEY_ARN})),
        NO_RESOURCE_ALLOW,
        id="key policy naming another key",
    ),
]


def context_condition(operator: str, values: Any) -> dict[str, Any]:
    return {operator: {"kms:EncryptionContext:Department": values}}


def keys_condition(operator: str, values: Any) -> dict[str, Any]:
    return {operator: {"kms:EncryptionContextKeys": values}}


def with_condition(condition: dict[str, Any], who: str = ALICE.arn) -> Policy:
    return key_policy(allow(who, Condition=condition))


NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

KMS_CONDITIONS = [
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(context_condition("StringEquals", "IT")),
            facts=encryption_context_facts({"Department": "IT"}),
        ),
        ALLOWED,
        id="kms:EncryptionContext:<k> matches",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(context_condition("StringEquals", "IT")),
            facts=encryption_context_facts({"department": "IT"}),
        ),
        ALLOWED,
        id="kms:EncryptionContext:<k> key case is ignored",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(context_condition("StringEquals", "IT")),
            facts=encryption_context_facts({"Department": "it"}),
        ),
        NO_RESOURCE_ALLOW,
        id="kms:EncryptionContext:<k> value case is kept",
    ),
    pytest.param(
        Case(ALICE, key_policy=with_condition(context_condition("StringEquals", "IT"))),
        NO_RESOURCE_ALLOW,
        id="kms:EncryptionContext:<k> absent",
    ),
    pytest.param(
        Case(ALICE, key_policy=with_condition(context_condition("StringEqualsIfExists", "IT"))),
        ALLOWED,
        id="kms:EncryptionContext:<k> IfExists, absent",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(keys_condition("ForAllValues:StringEquals", ["Department", "Project"])),
            facts=encryption_context_facts({"Department": "IT"}),
        ),
        ALLOWED,
        id="kms:EncryptionContextKeys ForAllValues: a subset",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(keys_condition("ForAllValues:StringEquals", ["Department"])),
            facts=encryption_context_facts({"Department": "IT", "Owner": "x"}),
        ),
        NO_RESOURCE_ALLOW,
        id="kms:EncryptionContextKeys ForAllValues: an extra key",
    ),
    pytest.param(
        Case(ALICE, key_policy=with_condition(keys_condition("ForAllValues:StringEquals", ["Department"]))),
        ALLOWED,
        id="kms:EncryptionContextKeys ForAllValues: no context is vacuously true",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(
                keys_condition("ForAllValues:StringEquals", ["Department"])
                | {"Null": {"kms:EncryptionContextKeys": "false"}}
            ),
        ),
        NO_RESOURCE_ALLOW,
        id="kms:EncryptionContextKeys ForAllValues with Null false: context required",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(keys_condition("ForAnyValue:StringEquals", ["Department"])),
            facts=encryption_context_facts({"Department": "IT", "Owner": "x"}),
        ),
        ALLOWED,
        id="kms:EncryptionContextKeys ForAnyValue: one key",
    ),
    pytest.param(
        Case(ALICE, key_policy=with_condition(keys_condition("ForAnyValue:StringEquals", ["Department"]))),
        NO_RESOURCE_ALLOW,
        id="kms:EncryptionContextKeys ForAnyValue: no context",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition(keys_condition("ForAnyValue:StringEquals", ["department"])),
            facts=encryption_context_facts({"Department": "IT"}),
        ),
        NO_RESOURCE_ALLOW,
        id="kms:EncryptionContextKeys members keep their case",
    ),
    # The AWS-managed key pattern: principal *, restricted to callers of the key's account.
    pytest.param(
        Case(ALICE, key_policy=with_condition({"StringEquals": {"kms:CallerAccount": ACCOUNT}}, who="*")),
        ALLOWED,
        id="kms:CallerAccount: the key's account",
    ),
    pytest.param(
        Case(
            CAROL,
            key_policy=with_condition({"StringEquals": {"kms:CallerAccount": ACCOUNT}}, who="*"),
            iam=(IAM_ENCRYPT,),
        ),
        NO_RESOURCE_ALLOW,
        id="kms:CallerAccount: another account",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=key_policy(
                allow(ALICE.arn),
                deny("*", Condition={"StringNotEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}),
            ),
            facts={"kms:encryptionalgorithm": "SYMMETRIC_DEFAULT"},
        ),
        ALLOWED,
        id="kms:EncryptionAlgorithm: the allowed algorithm",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=key_policy(
                allow(ALICE.arn),
                deny("*", Condition={"StringNotEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}),
            ),
            facts={"kms:encryptionalgorithm": "RSAES_OAEP_SHA_256"},
        ),
        DENY_RESOURCE,
        id="kms:EncryptionAlgorithm: another algorithm is denied",
    ),
    pytest.param(
        Case(
            ALICE,
            iam=(identity(iam_allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),),
            facts={"aws:SourceIp": "203.0.113.7"},
        ),
        ALLOWED,
        id="aws:SourceIp in range (fact keys are case-insensitive)",
    ),
    pytest.param(
        Case(
            ALICE,
            iam=(identity(iam_allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),),
            facts={"aws:sourceip": "198.51.100.7"},
        ),
        NO_IDENTITY_ALLOW,
        id="aws:SourceIp out of range",
    ),
    pytest.param(
        Case(ALICE, iam=(identity(iam_allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),)),
        NO_IDENTITY_ALLOW,
        id="aws:SourceIp absent",
    ),
    pytest.param(
        Case(
            ALICE,
            iam=(IAM_ENCRYPT, identity(iam_deny(Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))),
            facts={"aws:sourceip": "192.0.2.1"},
        ),
        DENY_IDENTITY,
        id="aws:SourceIp: deny from outside the network",
    ),
    pytest.param(
        Case(
            ALICE,
            iam=(identity(iam_allow(Condition={"DateLessThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}})),),
            facts={"aws:currenttime": NOW},
        ),
        ALLOWED,
        id="aws:CurrentTime before the expiry",
    ),
    pytest.param(
        Case(
            ALICE,
            iam=(identity(iam_allow(Condition={"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}})),),
            facts={"aws:currenttime": NOW},
        ),
        NO_IDENTITY_ALLOW,
        id="aws:CurrentTime after the expiry",
    ),
    pytest.param(
        Case(
            ALICE, key_policy=with_condition({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/a*"}}, "*")
        ),
        ALLOWED,
        id="aws:PrincipalArn matches",
    ),
    pytest.param(
        Case(BOB, key_policy=with_condition({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/a*"}}, "*")),
        NO_RESOURCE_ALLOW,
        id="aws:PrincipalArn does not match",
    ),
    pytest.param(
        Case(
            ALICE,
            key_policy=with_condition({"StringEquals": {"kms:CallerAccount": ACCOUNT}}, who="*"),
            facts={"kms:CallerAccount": OTHER},
        ),
        NO_RESOURCE_ALLOW,
        id="request facts override the caller's",
    ),
    pytest.param(
        Case(ALICE, key_policy=with_condition({"StringEquals": {"aws:PrincipalType": "User"}}, who="*")),
        ALLOWED,
        id="aws:PrincipalType of a user",
    ),
]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        *DEFAULT_KEY_POLICY,
        *DIRECT_PRINCIPAL,
        *EXPLICIT_DENY,
        *CROSS_ACCOUNT,
        *NO_KEY,
        *GRANTS,
        *NEGATIONS,
        *NOT_PRINCIPAL,
        *WILDCARDS,
        *KMS_CONDITIONS,
    ],
)
def test_authorize(case: Case, expected: Decision) -> None:
    assert case.decide() == expected


def test_caller_facts() -> None:
    assert caller_facts(ALICE) == {
        "aws:principalarn": ALICE.arn,
        "aws:principalaccount": ACCOUNT,
        "kms:calleraccount": ACCOUNT,
        "aws:principaltype": "User",
    }
    assert caller_facts(ROOT)["aws:principaltype"] == "Account"
    role = Caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/s1", ACCOUNT, is_root=False)
    assert caller_facts(role)["aws:principaltype"] == "AssumedRole"


@pytest.mark.parametrize(
    ("reason", "because"),
    [
        (Reason.NO_RESOURCE_ALLOW, "because no resource-based policy allows the kms:Encrypt action"),
        (Reason.NO_IDENTITY_ALLOW, "because no identity-based policy allows the kms:Encrypt action"),
        (Reason.EXPLICIT_DENY_RESOURCE, "with an explicit deny in a resource-based policy"),
        (Reason.EXPLICIT_DENY_IDENTITY, "with an explicit deny in an identity-based policy"),
    ],
)
def test_denial_message(reason: Reason, because: str) -> None:
    assert denial_message(Decision(False, reason), ALICE.arn, "kms:Encrypt", KEY_ARN) == (
        f"User: {ALICE.arn} is not authorized to perform: kms:Encrypt on resource: {KEY_ARN} {because}"
    )


UNSEEN_TEXT = (
    "because the resource does not exist in this Region, no resource-based policies allow access, "
    "or a resource-based policy explicitly denies access"
)


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (Reason.NO_RESOURCE_ALLOW, f"on this resource {UNSEEN_TEXT}"),
        (Reason.EXPLICIT_DENY_RESOURCE, f"on this resource {UNSEEN_TEXT}"),
        (
            Reason.NO_IDENTITY_ALLOW,
            f"on resource: {KEY_ARN} because no identity-based policy allows the kms:Encrypt action",
        ),
        (Reason.EXPLICIT_DENY_IDENTITY, f"on resource: {KEY_ARN} with an explicit deny in an identity-based policy"),
    ],
)
def test_denial_message_for_another_accounts_key(reason: Reason, text: str) -> None:
    """The key's own account did not let the caller in: AWS names no key and does not say why (A.8); what the
    caller's own account decided (its identity policies) is told as for a key of its own."""
    decision = Decision(False, reason)
    assert denial_message(decision, ALICE.arn, "kms:Encrypt", KEY_ARN, foreign=True) == (
        f"User: {ALICE.arn} is not authorized to perform: kms:Encrypt {text}"
    )
    assert unseen(decision, foreign=True) is text.startswith("on this resource")
    assert unseen(decision, foreign=False) is False


def test_unseen_denial_names_its_subject() -> None:
    assert unseen_denial(ALICE.arn, "kms:Decrypt", CIPHERTEXT_RESOURCE) == (
        f"User: {ALICE.arn} is not authorized to perform: kms:Decrypt on the resource associated with this "
        f"ciphertext {UNSEEN_TEXT}"
    )


@pytest.mark.parametrize("reason", [Reason.ALLOWED_BY_POLICY, Reason.ALLOWED_BY_GRANT])
def test_allowed_decisions_have_no_denial_message(reason: Reason) -> None:
    with pytest.raises(ValueError, match="allowed"):
        denial_message(Decision(True, reason), ALICE.arn, "kms:Encrypt", KEY_ARN)
