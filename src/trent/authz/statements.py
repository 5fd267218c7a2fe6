"""Whether one policy statement applies to a request: its principal, action, resource and conditions.

Imports the stdlib and trent.kms only.
"""

from __future__ import annotations

from enum import IntEnum

from trent.authz.conditions import Facts, matches
from trent.authz.policy import Statement
from trent.authz.wildcards import glob_match
from trent.kms.principals import root_arn


class Reach(IntEnum):
    """How a statement's Principal names the caller."""

    NONE = 0
    ACCOUNT = 1  # the caller's account (root ARN or bare id): the account may delegate through its IAM policies
    CALLER = 2  # the caller's own ARN, or "*"; identity-policy statements always reach their own principal


def reach(statement: Statement, caller_arn: str, caller_account: str) -> Reach:
    account = root_arn(caller_account)
    if statement.not_principal is not None:
        # "When you use NotPrincipal, you must also specify the account ARN of the principal that you do not want to
        # deny. Otherwise, the policy might deny access to the entire account containing the principal." The caller
        # escapes the statement only when each of its identities (account, then itself) is excluded.
        excluded = set(statement.not_principal.aws)
        return Reach.NONE if "*" in excluded or {account, caller_arn} <= excluded else Reach.CALLER
    if statement.principal is None:
        return Reach.CALLER
    named = (*statement.principal.aws, *statement.principal.service)
    if "*" in named or caller_arn in named:
        return Reach.CALLER
    return Reach.ACCOUNT if account in named else Reach.NONE


def _any(patterns: tuple[str, ...], value: str, *, ignore_case: bool) -> bool:
    return any(glob_match(pattern, value, ignore_case=ignore_case) for pattern in patterns)


def applies(statement: Statement, action: str, resource: str, facts: Facts) -> bool:
    """Action/NotAction (case-insensitive), Resource/NotResource (case-sensitive; none given means the key itself)
    and every condition; the principal is judged separately by `reach`."""
    if statement.action is not None:
        action_ok = _any(statement.action, action, ignore_case=True)
    else:
        action_ok = not _any(statement.not_action or (), action, ignore_case=True)
    if statement.resource is not None:
        resource_ok = _any(statement.resource, resource, ignore_case=False)
    else:
        resource_ok = not _any(statement.not_resource or (), resource, ignore_case=False)
    return action_ok and resource_ok and all(matches(condition, facts) for condition in statement.conditions)
