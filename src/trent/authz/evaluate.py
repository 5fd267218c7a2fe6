"""The access decision for one request: key policy + IAM identity policies + grants, as AWS KMS makes it.

KMS developer guide, "KMS key access and permissions" and "Key policies in AWS KMS": "No AWS principal has any
permissions to a KMS key unless that permission is provided explicitly and never denied." "Unless the key policy
explicitly allows it, you cannot use IAM policies to allow access to a KMS key." Imports the stdlib and trent.kms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from trent.authz.conditions import Facts, FactValue
from trent.authz.grants import GrantView, grant_allows
from trent.authz.policy import Effect, Policy
from trent.authz.statements import Reach, applies, reach
from trent.kms.operations import OPERATION_FACTS

__all__ = [
    "CROSS_ACCOUNT_ACTIONS",
    "AccessRequest",
    "Caller",
    "Decision",
    "GrantView",
    "Reason",
    "authorize",
    "caller_facts",
    "denial_message",
    "unseen",
    "unseen_denial",
]

# "Cross-account permission is effective only for the following operations ... If you give a user in a different
# account permission for other operations, those permissions have no effect." (KMS developer guide, "Allowing users
# in other accounts to use a KMS key"; the "Cross-account use: Yes" operations of botocore's KMS model.) The IAM
# actions, lower-cased, of the operations OPERATION_FACTS marks cross_account (ReEncrypt: ReEncryptFrom, ReEncryptTo).
CROSS_ACCOUNT_ACTIONS: frozenset[str] = frozenset(
    permission.action.lower()
    for facts in OPERATION_FACTS.values()
    if facts.cross_account
    for permission in facts.permissions
)

# aws:PrincipalType by the shape of the caller's ARN (IAM, "AWS global condition context keys").
_PRINCIPAL_TYPES: tuple[tuple[str, str], ...] = (
    (":root", "Account"),
    (":user/", "User"),
    (":assumed-role/", "AssumedRole"),
    (":federated-user/", "FederatedUser"),
)


@dataclass(frozen=True, slots=True)
class Caller:
    arn: str
    account: str
    is_root: bool


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """`action` is the IAM action ("kms:Encrypt"); `resource` the key ARN, or "*" for operations on no key
    (CreateKey, ListKeys, ...), when `key_account` is None. `facts` are the request's condition keys."""

    action: str
    resource: str
    key_account: str | None
    facts: Facts


class Reason(StrEnum):
    ALLOWED_BY_POLICY = "allowed_by_policy"
    ALLOWED_BY_GRANT = "allowed_by_grant"
    EXPLICIT_DENY_RESOURCE = "explicit_deny_resource"
    EXPLICIT_DENY_IDENTITY = "explicit_deny_identity"
    NO_RESOURCE_ALLOW = "no_resource_allow"
    NO_IDENTITY_ALLOW = "no_identity_allow"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    grant_id: str | None = None


@dataclass(frozen=True, slots=True)
class _KeyPolicyVerdict:
    deny: bool = False
    allows_caller: bool = False  # an Allow names the caller's ARN or "*"
    allows_account: bool = False  # an Allow names the caller's account: its IAM policies may then delegate


def caller_facts(caller: Caller) -> dict[str, FactValue]:
    """The condition keys every request carries about its caller; the request's own facts take precedence."""
    facts: dict[str, FactValue] = {
        "aws:principalarn": caller.arn,
        "aws:principalaccount": caller.account,
        "kms:calleraccount": caller.account,
    }
    kind = next((kind for marker, kind in _PRINCIPAL_TYPES if marker in caller.arn), None)
    if kind is not None:
        facts["aws:principaltype"] = kind
    return facts


def _key_policy_verdict(policy: Policy, caller: Caller, request: AccessRequest, facts: Facts) -> _KeyPolicyVerdict:
    deny = allows_caller = allows_account = False
    for statement in policy.statements:
        scope = reach(statement, caller.arn, caller.account)
        if scope is Reach.NONE or not applies(statement, request.action, request.resource, facts):
            continue
        if statement.effect is Effect.DENY:
            deny = True  # a Deny naming the account covers every principal in it
        elif scope is Reach.CALLER:
            allows_caller = True
        else:
            allows_account = True
    return _KeyPolicyVerdict(deny, allows_caller, allows_account)


def _identity_verdict(policies: Sequence[Policy], request: AccessRequest, facts: Facts) -> tuple[bool, bool]:
    """(an identity policy denies, an identity policy allows)."""
    effects = {
        statement.effect
        for policy in policies
        for statement in policy.statements
        if applies(statement, request.action, request.resource, facts)
    }
    return Effect.DENY in effects, Effect.ALLOW in effects


def authorize(
    caller: Caller,
    request: AccessRequest,
    key_policy: Policy | None,
    identity_policies: Sequence[Policy],
    grants: Sequence[GrantView] = (),
    *,
    operation: str = "",
    encryption_context: Mapping[str, str] | None = None,
) -> Decision:
    """Decide one request. `operation` is the GrantOperation a grant must list ("" for none: grants are not
    consulted); `encryption_context` is the request's, for grant constraints (None: the operation takes none)."""
    facts = {**caller_facts(caller), **{key.lower(): value for key, value in request.facts.items()}}
    key = _key_policy_verdict(key_policy, caller, request, facts) if key_policy is not None else _KeyPolicyVerdict()
    identity_denies, identity_allows = _identity_verdict(identity_policies, request, facts)
    if key.deny:
        return Decision(False, Reason.EXPLICIT_DENY_RESOURCE)
    if identity_denies:
        return Decision(False, Reason.EXPLICIT_DENY_IDENTITY)
    # The root user holds every permission of its own account; anyone else needs an identity policy.
    vouched = caller.is_root or identity_allows
    if key_policy is None and request.resource == "*":
        return Decision(vouched, Reason.ALLOWED_BY_POLICY if vouched else Reason.NO_IDENTITY_ALLOW)
    foreign = request.key_account is not None and caller.account != request.key_account
    effective = not foreign or request.action.lower() in CROSS_ACCOUNT_ACTIONS
    # Same account: a key policy naming the caller suffices. Cross-account access "requires permission in the key
    # policy of the KMS key and in an IAM policy in the external user's account." A key policy naming the account
    # lets the account's IAM policies decide ("the key policy must include the statement that enables IAM policies").
    if effective and ((key.allows_caller and (vouched or not foreign)) or (key.allows_account and vouched)):
        return Decision(True, Reason.ALLOWED_BY_POLICY)
    if operation:
        for grant in grants:
            # A grant to the caller's account, like a key policy naming the account, delegates to that account's
            # IAM policies: its users need an identity policy allowing the action; its root does not.
            named_directly = grant.grantee_principal == caller.arn
            if (named_directly or vouched) and grant_allows(
                grant, caller.arn, caller.account, operation, encryption_context
            ):
                return Decision(True, Reason.ALLOWED_BY_GRANT, grant.grant_id)
    named = effective and (key.allows_caller or key.allows_account)
    return Decision(False, Reason.NO_IDENTITY_ALLOW if named else Reason.NO_RESOURCE_ALLOW)


_DENIALS: Mapping[Reason, str] = {
    Reason.NO_RESOURCE_ALLOW: "because no resource-based policy allows the {action} action",
    Reason.NO_IDENTITY_ALLOW: "because no identity-based policy allows the {action} action",
    Reason.EXPLICIT_DENY_RESOURCE: "with an explicit deny in a resource-based policy",
    Reason.EXPLICIT_DENY_IDENTITY: "with an explicit deny in an identity-based policy",
}
# What AWS says to a caller of another account whom the key's own account does not let in (its key policy allows
# neither the caller nor its account, or denies it), and of another account's key that does not exist: it names
# no key and does not say which it was, so whether the key exists is not revealed (docs/aws-semantics.md A.8).
UNSEEN_REASON = (
    "because the resource does not exist in this Region, no resource-based policies allow access, "
    "or a resource-based policy explicitly denies access"
)
THIS_RESOURCE = "this resource"
CIPHERTEXT_RESOURCE = "the resource associated with this ciphertext"  # Decrypt/ReEncrypt by the ciphertext's key
_UNSEEN_REASONS = frozenset({Reason.NO_RESOURCE_ALLOW, Reason.EXPLICIT_DENY_RESOURCE})


def unseen(decision: Decision, *, foreign: bool) -> bool:
    """Whether AWS words this denial without naming the key (UNSEEN_REASON); `foreign`: the key is another
    account's."""
    return foreign and not decision.allowed and decision.reason in _UNSEEN_REASONS


def unseen_denial(caller_arn: str, action: str, subject: str = THIS_RESOURCE) -> str:
    """AWS's AccessDeniedException text that reveals nothing of the resource (UNSEEN_REASON)."""
    return f"User: {caller_arn} is not authorized to perform: {action} on {subject} {UNSEEN_REASON}"


def denial_message(decision: Decision, caller_arn: str, action: str, resource: str, *, foreign: bool = False) -> str:
    """AWS's AccessDeniedException text for a denied decision; `foreign`: the key is another account's, whose
    key policy (resource-based) the caller did not get past, so the text is unseen_denial's."""
    if decision.allowed:
        raise ValueError("an allowed decision has no denial message")
    if unseen(decision, foreign=foreign):
        return unseen_denial(caller_arn, action)
    because = _DENIALS[decision.reason].format(action=action)
    return f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} {because}"
