"""GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the default key policy AWS writes.

Policies are stored and returned verbatim. Enforcing them is authz's job (a later layer of work).
"""

from __future__ import annotations

import json

from trent.kms.errors import LimitExceededException, MalformedPolicyDocumentException, NotFoundException
from trent.kms.operations import Operation
from trent.kms.principals import root_arn
from trent.kms.results import Empty, GetKeyPolicyResult, ListKeyPoliciesResult
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import resolve_key

POLICY_NAME = "default"
MAX_POLICY_BYTES = 32 * 1024  # "Key policy document size: 32 KB (32,768 bytes)" (AWS KMS quotas)


def default_policy(account: str) -> str:
    """The default key policy, byte for byte as AWS's GetKeyPolicy returns it for a CreateKey without Policy."""
    return (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "{root_arn(account)}"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )


def checked_policy(policy: str) -> str:
    if len(policy.encode("utf-8")) > MAX_POLICY_BYTES:
        raise LimitExceededException("Policy exceeds the maximum size of 32768 bytes.")
    try:
        document = json.loads(policy)
    except ValueError:
        raise MalformedPolicyDocumentException("The policy is not valid JSON.") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise MalformedPolicyDocumentException("The policy must be a JSON object with a Statement.")
    return policy


def _check_name(policy_name: str) -> None:
    if policy_name != POLICY_NAME:
        raise NotFoundException(f"No such policy exists: {policy_name}")


def get_key_policy(
    deps: Deps, ctx: RequestContext, *, key_id: str, policy_name: str = POLICY_NAME
) -> GetKeyPolicyResult:
    _check_name(policy_name)
    key = resolve_key(deps.store, ctx, key_id, Operation.GetKeyPolicy, aliases=False)
    policy = deps.store.get_policy(key.key_id)
    return GetKeyPolicyResult(policy or default_policy(key.account), POLICY_NAME)


def put_key_policy(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    policy: str,
    policy_name: str = POLICY_NAME,
    bypass_policy_lockout_safety_check: bool = False,
) -> Empty:
    _check_name(policy_name)
    text = checked_policy(policy)
    with deps.store.transaction() as tx:
        key = resolve_key(tx, ctx, key_id, Operation.PutKeyPolicy, aliases=False)
        tx.put_policy(key.key_id, text)
        tx.update_key(key.evolve(policy_revision=key.policy_revision + 1), key.revision)
    return Empty()


def list_key_policies(
    deps: Deps, ctx: RequestContext, *, key_id: str, limit: int = 100, marker: str | None = None
) -> ListKeyPoliciesResult:
    resolve_key(deps.store, ctx, key_id, Operation.ListKeyPolicies, aliases=False)
    return ListKeyPoliciesResult((POLICY_NAME,), False)
