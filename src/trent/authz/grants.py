"""Grant matching: grantee, operation and encryption-context constraints. Imports the stdlib and trent.kms only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trent.kms.operations import OPERATION_FACTS
from trent.kms.principals import root_arn

# The grant operations that take an encryption context. "AWS KMS applies the grant constraints only to
# cryptographic operations that support an encryption context ... Grant constraints are not applied to operations
# that do not support an encryption context, such as ... DescribeKey or RetireGrant." (KMS API, GrantConstraints)
# The grant operations of the operations OPERATION_FACTS marks encryption_context.
CONTEXT_OPERATIONS: frozenset[str] = frozenset(
    permission.grant_operation.value
    for facts in OPERATION_FACTS.values()
    if facts.encryption_context
    for permission in facts.permissions
    if permission.grant_operation is not None
)


@dataclass(frozen=True, slots=True)
class GrantView:
    """What authorization needs of a grant. `operations` holds GrantOperation values ("Encrypt")."""

    grant_id: str
    grantee_principal: str
    operations: frozenset[str]
    encryption_context_equals: Mapping[str, str] | None = None
    encryption_context_subset: Mapping[str, str] | None = None


def _pairs(context: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    # "in a grant constraint, the key in each key-value pair is not case sensitive, but the value is case sensitive."
    return frozenset((key.lower(), value) for key, value in context.items())


def constraints_hold(grant: GrantView, operation: str, encryption_context: Mapping[str, str] | None) -> bool:
    if operation not in CONTEXT_OPERATIONS:
        return True
    request = _pairs(encryption_context or {})
    if grant.encryption_context_equals is not None and _pairs(grant.encryption_context_equals) != request:
        return False
    return grant.encryption_context_subset is None or _pairs(grant.encryption_context_subset) <= request


def grant_allows(
    grant: GrantView,
    caller_arn: str,
    caller_account: str,
    operation: str,
    encryption_context: Mapping[str, str] | None,
) -> bool:
    """True when `grant` names the caller (or the caller's account) and lists `operation`, and its constraints hold
    for the request's encryption context (None: the operation took none, which counts as empty)."""
    if grant.grantee_principal not in (caller_arn, root_arn(caller_account)):
        return False
    return operation in grant.operations and constraints_hold(grant, operation, encryption_context)
